"""Delivery rules: campaign states, what an SMTP reply means, when to try again. Pure, no I/O.

A delivery is one (campaign, sequence, recipient). Its states:

    pending ──claim──► sending ──250──► sent
       ▲                  │ ├──5xx, invalid message──► failed
       └──4xx, no reply───┘ ├──suppressed address────► suppressed
                            └──campaign cancelled, member removed──► cancelled

A 4xx or a lost connection sends it back to `pending` with a later `due_at` (RETRY_STEPS) until
the retry policy's maximum age, then it fails. A delivery left in `sending` past its lease (the
process died between claim and outcome; a live one renews its leases) is claimed again and sent
with the same Message-ID: the duplicate window of an at-least-once sender, which ends with the
commit of the outcome.

A recipient of an email under an A/B test outside every variant's slice is created `held`
instead, and becomes `pending` with the winner when it is decided (`mailer.ab_tests`);
cancelling the campaign cancels it.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from email.headerregistry import Address
from email.policy import default as default_policy
from typing import Literal

from contracts.events import SUPPRESSED_REASON
from rules import lifecycle
from rules.headers import is_header_safe

CampaignState = lifecycle.Status
LifecycleEvent = Literal["paused", "resumed", "cancelled", "completed"]
SuppressionReason = Literal["unsubscribed", "bounced", "complained", "failed"]
SmtpStage = Literal["connect", "mail", "rcpt", "data"]

# RFC 3463: class.subject.detail at the start of the reply text.
_ENHANCED_CODE = re.compile(r"^([245])\.(\d{1,3})\.(\d{1,3})(?=\s|$)")
# X.1.7 and X.1.8 are about our sender address, not the recipient's.
_SENDER_ADDRESS_DETAILS = frozenset({7, 8})


class InvalidMessage(ValueError):  # noqa: N818 - a verdict on the message, not an I/O error
    """The message cannot be built safely from this campaign and recipient data."""


def header_safe(name: str, value: str) -> str:
    """`value` unchanged, or InvalidMessage when it could smuggle another header in: the API
    refuses such values already (`rules.headers`), and this is the same rule at the last step."""
    if not is_header_safe(value):
        raise InvalidMessage(f"{name}: line breaks are not allowed in a header value")
    return value


class CrlfMessage(bytes):
    """A message in which every line ends in CRLF, the last one included, as the renderer
    builds it (its tests hold it to that): the transport sends it without looking for bare CR
    or LF, which it turns into CRLF in any other bytes."""

    __slots__ = ()


@dataclass(frozen=True)
class Sender:
    name: str
    address: str
    reply_to: str | None = None

    @property
    def domain(self) -> str:
        return self.address.rpartition("@")[2]


def parse_mailbox(value: str) -> Sender:
    """'Name <local@domain>' or a bare address, as one Sender; ValueError otherwise."""
    header_safe("mailbox", value)
    parsed = default_policy.header_factory("From", value)
    addresses: tuple[Address, ...] = getattr(parsed, "addresses", ())
    if parsed.defects or len(addresses) != 1 or not addresses[0].domain:
        raise ValueError(f"{value!r} is not one 'Name <address@domain>'")
    return Sender(name=addresses[0].display_name, address=addresses[0].addr_spec)


@dataclass(frozen=True)
class Recipient:
    email: str
    name: str = ""
    fields: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Content:
    subject: str
    preheader: str
    body_html: str
    body_text: str


# --- campaigns ------------------------------------------------------------------------------

_CHANGE: dict[LifecycleEvent, lifecycle.Change] = {
    "paused": "pause", "resumed": "resume", "cancelled": "cancel", "completed": "complete",
}


def campaign_transition(current: str, event: LifecycleEvent) -> CampaignState | None:
    """The campaign's next state after a lifecycle event, as `rules.lifecycle` says, or None
    when the event changes nothing (e.g. a repeat). Completed means no more sequence numbers;
    deliveries already made still go out."""
    return lifecycle.follow(current, _CHANGE[event])


# --- before sending -------------------------------------------------------------------------


@dataclass(frozen=True)
class Skip:
    state: Literal["cancelled", "suppressed"]
    reason: str


def precheck(*, campaign_state: str, member_active: bool, suppressed: bool) -> Skip | None:
    """Why a claimed delivery must not be sent now, or None to send it."""
    if campaign_state == "cancelled":
        return Skip("cancelled", "campaign cancelled")
    if not member_active:
        return Skip("cancelled", "no longer a subscribed contact")
    if suppressed:
        # The reason email.failed carries; its kind, named by the sender, is what counts it.
        return Skip("suppressed", SUPPRESSED_REASON)
    return None


# --- after sending --------------------------------------------------------------------------


@dataclass(frozen=True)
class SmtpReply:
    """What the server answered for one message; code None means no answer at all."""

    code: int | None
    text: str
    stage: SmtpStage
    # The connection was lost after the message data went out: it may have been delivered.
    uncertain: bool = False


@dataclass(frozen=True)
class Accepted:
    reply: str


@dataclass(frozen=True)
class Deferred:
    code: int | None
    enhanced_code: str | None
    reason: str


@dataclass(frozen=True)
class Rejected:
    code: int
    enhanced_code: str | None
    reason: str
    suppress: bool  # the address itself is bad: never send to it again


Outcome = Accepted | Deferred | Rejected


def enhanced_code(text: str) -> str | None:
    match = _ENHANCED_CODE.match(text.strip())
    return ".".join(match.groups()) if match else None


def classify(reply: SmtpReply) -> Outcome:
    """2xx accepted, 5xx rejected, everything else (4xx, no reply, nonsense) deferred.

    The basic code decides; the enhanced code only says whether the address itself is bad
    (X.1.x at RCPT or DATA), which puts it on the suppression list.
    """
    text = reply.text.strip()
    enhanced = enhanced_code(text)
    described = f"{reply.code} {text}" if reply.code is not None else text
    if reply.code is not None and 200 <= reply.code < 300:
        return Accepted(described)
    if reply.code is not None and 500 <= reply.code < 600:
        return Rejected(reply.code, enhanced, described, suppress=_bad_address(reply, enhanced))
    if reply.code is None and reply.uncertain:
        described = f"outcome unknown, may have been delivered: {text}"
    return Deferred(reply.code, enhanced, described)


def _bad_address(reply: SmtpReply, enhanced: str | None) -> bool:
    if enhanced is None or reply.stage not in ("rcpt", "data"):
        return False
    klass, subject, detail = (int(p) for p in enhanced.split("."))
    return klass == 5 and subject == 1 and detail not in _SENDER_ADDRESS_DETAILS


# Waits after the 1st, 2nd, ... failed attempt; the last one repeats. Greylisting (451 4.7.1)
# usually lets the second attempt through; longer outages are covered by the hourly steps.
RETRY_STEPS: tuple[timedelta, ...] = (
    timedelta(minutes=1), timedelta(minutes=5), timedelta(minutes=15), timedelta(hours=1),
    timedelta(hours=4),
)


@dataclass(frozen=True)
class RetryPolicy:
    steps: tuple[timedelta, ...] = RETRY_STEPS
    # Counted from the first attempt; RFC 5321 suggests giving up after 4-5 days.
    max_age: timedelta = timedelta(days=3)

    def next_attempt(
        self, *, attempts: int, first_attempt_at: datetime, now: datetime
    ) -> datetime | None:
        """When to try again after `attempts` failed tries, or None to give up."""
        wait = self.steps[min(max(attempts, 1), len(self.steps)) - 1]
        at = now + wait
        return at if at - first_attempt_at <= self.max_age else None
