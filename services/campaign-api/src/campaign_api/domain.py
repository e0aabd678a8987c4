"""Pure rules of the gateway: API keys, campaign requests, status changes, recipients.
No I/O. The rules other services share (schedules, the lifecycle, header values) are in
`rules`."""

from __future__ import annotations

import hashlib
import re
import secrets
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from dataclasses import field as dataclass_field
from datetime import datetime
from email.utils import getaddresses
from typing import Literal, TypeVar

from email_validator import SPECIAL_USE_DOMAIN_NAMES, EmailNotValidError, validate_email

from rules import cadence, lifecycle
from rules.headers import is_header_safe
from rules.lifecycle import FINISHED, TransitionRefused

T = TypeVar("T")

KEY_PREFIX = "cb_"


def new_api_key() -> str:
    return KEY_PREFIX + secrets.token_urlsafe(32)


def hash_api_key(key: str) -> str:
    """Only this hash is stored; a 256-bit random key needs no slow hash or salt."""
    return hashlib.sha256(key.encode()).hexdigest()


# --- lifecycle -----------------------------------------------------------------------------

Action = Literal["pause", "resume", "cancel", "archive"]


def next_status(action: Action, status: str) -> str | None:
    """The status after `action`; None when the campaign already is there (nothing to do).
    Archiving is the API's own: it hides a finished campaign and keeps its status."""
    if action != "archive":
        return lifecycle.request(status, action)
    if status not in FINISHED:
        raise TransitionRefused(f"status: a {status} campaign cannot be archived")
    return status


# How many upcoming send times a campaign's detail shows.
PLAN_SHOWN = 5


def plan_ahead(
    next_sequence: int | None, send_times: list[datetime], now: datetime, *, active: bool = True
) -> tuple[int | None, list[datetime]]:
    """The scheduler's last plan as of `now`: the sequence and times of the emails still to
    come. A plan covers many emails and is republished before it runs short, so while the
    campaign is active the times that have passed since are the emails sent meanwhile; while
    it is paused nothing is sent and nothing moves."""
    ahead = still_ahead(send_times, now)
    if next_sequence is not None and active:
        next_sequence += len(send_times) - len(ahead)
    return next_sequence, ahead[:PLAN_SHOWN]


def first_plan(schedule: cadence.ScheduleFields) -> tuple[int, list[datetime]]:
    """What the scheduler plans for a new campaign, by the same rules (libs/rules): how many
    emails and the first send times. Stored with the campaign, it is what the create's own
    answer and every read show until the scheduler's campaign.scheduled replaces it."""
    rule = cadence.Rule.from_schedule(schedule)
    return cadence.total_emails(rule), cadence.planned_send_times(rule, PLAN_SHOWN)


def still_ahead(send_times: list[datetime], moment: datetime) -> list[datetime]:
    """The planned times after `moment`. The scheduler drops the slots that pass while a
    campaign is paused and numbers on without a gap, so the times of the plan that were still
    ahead when it paused, and are still ahead when it resumes, are the plan it resumes with:
    what the campaign shows while paused and right after Resume, until the next plan."""
    return [t for t in send_times if t > moment]


def can_edit(status: str) -> bool:
    return lifecycle.is_running(status)


def takes_recipients(status: str, send_times: Iterable[datetime | None], now: datetime) -> bool:
    """Whether a campaign still mails someone added now: while it runs, and once completed
    while an email it wrote is still to go out. The scheduler completes a campaign when it
    hands over the last email, up to the lead time before that email's send time, and who
    receives an email is decided at its send time."""
    if can_edit(status):
        return True
    return status == "completed" and any(at is not None and at > now for at in send_times)


# --- recipients ----------------------------------------------------------------------------

MAX_FIELDS = 50
MAX_FIELD_LENGTH = 1_000
MAX_NAME_LENGTH = 200
FIELD_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,63}$")


@dataclass(frozen=True)
class Recipient:
    email: str
    name: str = ""
    fields: dict[str, str] = dataclass_field(default_factory=dict)


class InvalidRecipient(ValueError):  # noqa: N818 - reads as what it is
    pass


# Plain ASCII addresses, a strict subset of what email-validator accepts: checked by this
# expression alone, which is what keeps a 100,000-row import fast. Anything else takes the
# full validation.
_PLAIN_ADDRESS = re.compile(
    r"^(?=.{1,64}@)[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+(?:\.[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+)*"
    r"@(?=.{4,253}$)(?:[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?\.)+[A-Za-z]{2,63}$"
)


def normalise_email(raw: str) -> str:
    """One spelling per mailbox: what dedupe and suppression compare."""
    address = raw.strip()
    if _PLAIN_ADDRESS.match(address) and not _special_use(address):
        return address.lower()
    try:
        return validate_email(address, check_deliverability=False).normalized.lower()
    except EmailNotValidError as exc:
        raise InvalidRecipient(f"email: {exc}") from exc


_SPECIAL_USE = frozenset(SPECIAL_USE_DOMAIN_NAMES)


def _special_use(address: str) -> bool:
    """The domain, or a domain it is under, is special-use: each of its suffixes looked up in
    a set, not the list scanned per address."""
    labels = address.rpartition("@")[2].lower().split(".")
    return any(".".join(labels[i:]) in _SPECIAL_USE for i in range(len(labels)))


def field_name(header: str) -> str:
    """A CSV column header as a merge-field name: `First Name` -> `first_name`."""
    return re.sub(r"[^a-z0-9_]+", "_", header.strip().lower()).strip("_")


def split_address(raw: str) -> tuple[str, str]:
    """`Grace Hopper <grace@example.org>` or a bare address, as (display name, address):
    RFC 5322 as the standard library parses it, quoted names and comments included."""
    found = [(name, address) for name, address in getaddresses([raw]) if name or address]
    if len(found) != 1 or "@" not in found[0][1]:
        raise InvalidRecipient("email: one address, optionally with a name, "
                               "like Ada Lovelace <ada@example.com>")
    return found[0]


def recipient_name(name: str | None) -> str:
    """A recipient's display name, trimmed: one header-safe line of at most MAX_NAME_LENGTH."""
    clean_name = (name or "").strip()
    if len(clean_name) > MAX_NAME_LENGTH or not is_header_safe(clean_name):
        raise InvalidRecipient(f"name: at most {MAX_NAME_LENGTH} characters on one line")
    return clean_name


def recipient(email: str | None, name: str | None, fields: dict[str, str]) -> Recipient:
    if not email or not email.strip():
        raise InvalidRecipient("email: missing")
    address = normalise_email(email)
    clean_name = recipient_name(name)
    if len(fields) > MAX_FIELDS:
        raise InvalidRecipient(f"fields: at most {MAX_FIELDS}")
    for key, value in fields.items():
        if not FIELD_NAME.match(key):
            raise InvalidRecipient(f"fields.{key}: letters, digits and _ only")
        if len(value) > MAX_FIELD_LENGTH:
            raise InvalidRecipient(f"fields.{key}: at most {MAX_FIELD_LENGTH} characters")
    return Recipient(email=address, name=clean_name, fields=fields)


def bounded_batches(
    items: Iterable[T], *, max_items: int, max_bytes: int, size: Callable[[T], int]
) -> Iterator[list[T]]:
    """Consecutive batches of at most `max_items` items and about `max_bytes` in all: what
    keeps one audience event within the contract's bounds whatever the audience."""
    batch: list[T] = []
    used = 0
    for item in items:
        cost = size(item)
        if batch and (len(batch) >= max_items or used + cost > max_bytes):
            yield batch
            batch, used = [], 0
        batch.append(item)
        used += cost
    if batch:
        yield batch
