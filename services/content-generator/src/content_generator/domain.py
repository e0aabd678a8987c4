"""Content rules: the campaign brief this service keeps, the structure each email takes and
which campaigns still get content. Pure, no I/O."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Literal, get_args
from zoneinfo import ZoneInfo

from contracts import CampaignDefinition

CampaignState = Literal["active", "paused", "cancelled", "completed"]

# Why a campaign's email could not be written; a subset of ContentFailedPayload.reason.
FailureReason = Literal[
    "bad_request", "bad_key", "out_of_credits", "moderation", "unavailable", "invalid_output",
]

Structure = Literal["educational", "promotional", "personal_story", "professional_direct"]
STRUCTURES: tuple[Structure, ...] = get_args(Structure)

# Costs are credits, fractions of a cent per call, kept to this precision.
COST_QUANTUM = Decimal("1e-10")

_WEEKDAYS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")

# Lifecycle event -> the states it may move a campaign out of. A cancelled campaign stays
# cancelled whatever arrives later; a completed one can still be cancelled.
_TRANSITIONS: dict[CampaignState, frozenset[CampaignState]] = {
    "paused": frozenset({"active"}),
    "active": frozenset({"paused"}),
    "completed": frozenset({"active", "paused"}),
    "cancelled": frozenset({"active", "paused", "completed"}),
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
    """The state after a lifecycle event; events that do not apply leave it unchanged."""
    return target if current in _TRANSITIONS[target] else current


def wants_content(state: CampaignState) -> bool:
    """Only cancelled campaigns get no more content. A paused campaign's email fell due before
    the pause (the mailer decides whether it goes), and `campaign.completed` can overtake the
    last `email.due`: the two travel on different streams."""
    return state != "cancelled"


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
