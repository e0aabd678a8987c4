"""Factories for the content generator's tests: campaign briefs and the events that carry them."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from content_generator.domain import CampaignBrief
from contracts import CampaignCreated, CampaignDefinition, EmailDue, Schedule
from contracts.events import EmailDuePayload

START = datetime(2026, 3, 2, 8, 0, tzinfo=UTC)  # a Monday


def _definition(**overrides: Any) -> CampaignDefinition:
    values: dict[str, Any] = {
        "campaign_id": uuid.uuid4(),
        "audience_id": uuid.uuid4(),
        "name": "Lyon Sourdough Club",
        "description": (
            "We bake sourdough every morning in Lyon. Members collect a fresh loaf each week. "
            "Membership costs 12 euros a month. Our starter is forty years old."
        ),
        "brand_voice": "Warm, plain-spoken, a little playful.",
        "audience_description": "Home cooks in Lyon who care where their bread comes from.",
        "model": "openai/gpt-4o-mini",
        "fallback_models": ["anthropic/claude-3.5-haiku"],
        "schedule": Schedule(schedule_type="weekly", weekly_days=[1, 4], total_emails=12,
                             start_at=START, timezone="Europe/Paris"),
    }
    return CampaignDefinition(**{**values, **overrides})


@pytest.fixture
def make_campaign() -> Callable[..., CampaignCreated]:
    """`make_campaign(name=..., model=...)`: a campaign.created event; fields as overrides."""

    def make(**overrides: Any) -> CampaignCreated:
        return CampaignCreated.create(_definition(**overrides), workspace_id=uuid.uuid4())

    return make


@pytest.fixture
def make_due() -> Callable[..., EmailDue]:
    """`make_due(campaign, k)`: email k of the campaign falls due, k days after the start."""

    def make(campaign: CampaignCreated, sequence: int, *, total: int | None = 12,
             send_at: datetime | None = None, event_id: uuid.UUID | None = None) -> EmailDue:
        payload = EmailDuePayload(
            campaign_id=campaign.payload.campaign_id, sequence=sequence, total=total,
            send_at=send_at or START + timedelta(days=sequence),
        )
        return EmailDue.create(payload, workspace_id=campaign.workspace_id,
                               correlation_id=campaign.correlation_id, event_id=event_id)

    return make


@pytest.fixture
def make_brief() -> Callable[..., CampaignBrief]:
    def make(**overrides: Any) -> CampaignBrief:
        return CampaignBrief.from_definition(_definition(**overrides))

    return make
