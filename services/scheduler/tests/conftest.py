"""Factories for the scheduler's tests: campaign events built with the contracts."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Any

import pytest

from contracts import CampaignCreated, CampaignDefinition, Schedule, deterministic_id

WORKSPACE = uuid.UUID("00000000-0000-4000-8000-00000000c0de")

MakeCreated = Callable[..., CampaignCreated]


def _created(campaign_id: uuid.UUID | None = None, **schedule: Any) -> CampaignCreated:
    campaign_id = campaign_id or uuid.uuid4()
    definition = CampaignDefinition(
        campaign_id=campaign_id,
        audience_id=uuid.uuid4(),
        name="Spring sale",
        description="Three weeks of tips that end in the spring sale.",
        model="openai/gpt-4o-mini",
        schedule=Schedule.model_validate(schedule),
    )
    return CampaignCreated.create(
        definition,
        workspace_id=WORKSPACE,
        event_id=deterministic_id("campaign.created", campaign_id),
    )


@pytest.fixture
def make_created() -> MakeCreated:
    """`make_created(campaign_id=None, **schedule_fields)`: a valid campaign.created event."""
    return _created
