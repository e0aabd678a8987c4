"""Content rules: the campaign brief this service keeps, the structure each email takes and
which campaigns still get content. Pure, no I/O."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Literal, get_args
from zoneinfo import ZoneInfo

from content_generator.journey import JourneyEmail, journey_emails
from contracts import AbTest, CampaignDefinition
from rules import lifecycle

CampaignState = lifecycle.Status

# Why a campaign's email could not be written; a subset of ContentFailedPayload.reason.
FailureReason = Literal[
    "bad_request", "bad_key", "out_of_credits", "moderation", "unavailable", "invalid_output",
    "budget_exceeded",
]

# What happens to an email when every model keeps failing (see `after_outage`).
DegradationPolicy = Literal["delay", "fail", "offline_template"]

Structure = Literal["educational", "promotional", "personal_story", "professional_direct"]
STRUCTURES: tuple[Structure, ...] = get_args(Structure)

# Costs are credits, fractions of a cent per call, kept to this precision.
COST_QUANTUM = Decimal("1e-10")

_WEEKDAYS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")

# The lifecycle event that moves a campaign into each state.
_CHANGE_INTO: dict[CampaignState, lifecycle.Change] = {
    "paused": "pause", "active": "resume", "completed": "complete", "cancelled": "cancel",
}


@dataclass(frozen=True)
class CampaignBrief:
    """This service's copy of a campaign: what it needs to write the emails."""

    campaign_id: uuid.UUID
    name: str
    description: str
    brand_voice: str
    audience_description: str
    model: str
    fallback_models: tuple[str, ...]
    timezone: str
    state: CampaignState = "active"
    # Which emails are written in variants for an A/B test; None: none.
    ab_test: AbTest | None = None
    # A journey's email steps by content number (`content_generator.journey`); None: a
    # campaign. Those of earlier versions stay: a step may still be written for them.
    journey: tuple[JourneyEmail, ...] | None = None

    def journey_email(self, sequence: int) -> JourneyEmail | None:
        return next((e for e in self.journey or () if e.sequence == sequence), None)

    @classmethod
    def from_definition(cls, definition: CampaignDefinition) -> CampaignBrief:
        return cls(
            campaign_id=definition.campaign_id,
            name=definition.name,
            description=definition.description,
            brand_voice=definition.brand_voice,
            audience_description=definition.audience_description,
            model=definition.model,
            fallback_models=tuple(definition.fallback_models),
            timezone=definition.schedule.timezone,
            ab_test=definition.ab_test,
            journey=journey_emails(definition.journey)
            if definition.kind == "journey" and definition.journey is not None else None,
        )


@dataclass(frozen=True)
class EmailContent:
    """One validated, sanitised email."""

    subject: str
    preheader: str
    body_html: str
    body_text: str


@dataclass(frozen=True)
class PreviousEmail:
    """What the prompt recalls of an earlier email of the campaign, so it is not repeated."""

    sequence: int
    subject: str
    first_line: str


def transition(current: CampaignState, target: CampaignState) -> CampaignState:
    """The state after the lifecycle event that leads to `target`, as `rules.lifecycle`
    says; events that do not apply leave it unchanged."""
    return lifecycle.follow(current, _CHANGE_INTO[target]) or current


# Only cancelled campaigns get no more content. A paused campaign's email fell due before the
# pause (the mailer decides whether it goes), and `campaign.completed` can overtake the last
# `email.due`: the two travel on different streams.
NO_CONTENT: frozenset[CampaignState] = frozenset({"cancelled"})


def wants_content(state: CampaignState) -> bool:
    return state not in NO_CONTENT


def structure_for(sequence: int) -> Structure:
    """Structures rotate with the position in the sequence, so consecutive emails differ."""
    return STRUCTURES[(sequence - 1) % len(STRUCTURES)]


def local_weekday(moment: datetime, timezone: str) -> str:
    """The weekday, in English, of an aware `moment` in the campaign's time zone."""
    return _WEEKDAYS[moment.astimezone(ZoneInfo(timezone)).weekday()]


def _is_salutation(line: str) -> bool:
    return line.endswith(",") and len(line.split()) <= 6


def first_line(text: str, limit: int = 160) -> str:
    """The opening line of a plain-text body, after any salutation ("Hi {{first_name}},"),
    shortened at a word boundary."""
    lines = [s.strip() for s in text.splitlines() if s.strip()]
    opening = [s for s in lines if not _is_salutation(s)] or lines
    line = opening[0] if opening else ""
    if len(line) <= limit:
        return line
    return line[:limit].rsplit(" ", 1)[0].rstrip(" ,;:") + "…"


@dataclass(frozen=True)
class SimilarEmail:
    """An earlier email of the campaign close in meaning to what is being written."""

    sequence: int
    subject: str
    first_line: str
    similarity: float


def too_similar(similar: SimilarEmail | None, threshold: float) -> bool:
    return similar is not None and similar.similarity >= threshold


def month_start(moment: datetime) -> datetime:
    """The first instant (UTC) of `moment`'s calendar month: budgets are per UTC month."""
    utc = moment.astimezone(ZoneInfo("UTC"))
    return utc.replace(day=1, hour=0, minute=0, second=0, microsecond=0)


def over_budget(spent: Decimal, budget: Decimal | None) -> bool:
    """No budget means no limit; reaching it stops generation (the next call would exceed it)."""
    return budget is not None and spent >= budget


@dataclass(frozen=True)
class OutageDecision:
    """What to do with an email no model could write this time."""

    action: Literal["retry", "fail", "offline"]
    delay: float = 0.0  # seconds before the next try, for "retry"


def after_outage(
    *,
    now: datetime,
    send_at: datetime,
    failures: int,
    max_failures: int,
    policy: DegradationPolicy,
    backoff: float,
    retry_after: float | None = None,
) -> OutageDecision:
    """Keep retrying until the send time, spreading the tries left over the time left; then
    apply the policy. `failures` counts this one; at `max_failures` no try is left (the broker
    would park the event), so the policy applies whatever the time: `delay` then fails too."""
    final = OutageDecision("offline") if policy == "offline_template" else OutageDecision("fail")
    left = max_failures - failures
    if left <= 0:
        return final
    wait = max(backoff, retry_after or 0.0)
    until_send = (send_at - now).total_seconds()
    if until_send > 0:
        # Spread what is left up to the send time, but never past it: at the send time the
        # policy decides.
        return OutageDecision("retry", min(max(wait, until_send / left), until_send))
    if policy == "delay":
        return OutageDecision("retry", wait)
    return final


@dataclass
class CircuitBreaker:
    """Per model: opens after `threshold` consecutive failures; after `cooldown` one trial call
    is let through (half-open): success closes it, failure opens it again. Time is passed in."""

    threshold: int = 5
    cooldown: timedelta = timedelta(seconds=30)
    _failures: dict[str, int] = field(default_factory=dict)
    _opened_at: dict[str, datetime] = field(default_factory=dict)
    _trial: set[str] = field(default_factory=set)

    def allows(self, model: str, now: datetime) -> bool:
        opened = self._opened_at.get(model)
        if opened is None:
            return True
        if now - opened < self.cooldown or model in self._trial:
            return False
        self._trial.add(model)  # half-open: this call is the trial
        return True

    def is_open(self, model: str, now: datetime) -> bool:
        opened = self._opened_at.get(model)
        return opened is not None and now - opened < self.cooldown

    def reopens_in(self, models: tuple[str, ...], now: datetime) -> float:
        """Seconds until the first of `models` lets a trial call through."""
        waits = [(self._opened_at[m] + self.cooldown - now).total_seconds()
                 for m in models if m in self._opened_at]
        return max(0.0, min(waits, default=0.0))

    def succeeded(self, model: str) -> None:
        self._failures.pop(model, None)
        self._opened_at.pop(model, None)
        self._trial.discard(model)

    def settle(self, model: str) -> None:
        """Ends a trial that neither succeeded nor failed (another model answered first)."""
        self._trial.discard(model)

    def failed(self, model: str, now: datetime) -> None:
        count = self._failures.get(model, 0) + 1
        self._failures[model] = count
        if count >= self.threshold or model in self._trial:
            self._opened_at[model] = now
            self._trial.discard(model)
