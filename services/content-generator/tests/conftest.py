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
from contracts.journeys import JourneyGraph

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


def welcome_graph(**changes: Any) -> JourneyGraph:
    """A welcome journey: email 1, a wait of 2 minutes, then email 2 to those who clicked
    email 1 within a day, email 3 to the others; `changes` replace a step's fields by id."""
    steps: list[dict[str, Any]] = [
        {"type": "email", "id": "welcome", "goal": "Welcome new members to the club",
         "subject_hint": "Welcome to the club", "next": "pause", "sequence": 1},
        {"type": "wait", "id": "pause", "until": {"kind": "duration", "seconds": 120},
         "next": "clicked"},
        {"type": "branch", "id": "clicked", "then": "thanks", "else": "nudge",
         "condition": {"kind": "clicked", "step": "welcome", "within_seconds": 86_400}},
        {"type": "email", "id": "thanks", "goal": "Invite those who looked to book a tasting",
         "next": "done", "sequence": 2},
        {"type": "email", "id": "nudge", "goal": "Remind them what membership brings",
         "subject_hint": "Still thinking it over?", "next": "done", "sequence": 3},
        {"type": "exit", "id": "done"},
    ]
    for step in steps:
        step.update(changes.get(step["id"], {}))
    return JourneyGraph.model_validate({
        "trigger": {"type": "event_received", "name": "signed_up"}, "start": "welcome",
        "steps": steps})


@pytest.fixture
def make_journey() -> Callable[..., CampaignCreated]:
    """`make_journey(graph)`: a journey's campaign.created, the welcome journey by default."""

    def make(graph: JourneyGraph | None = None, **overrides: Any) -> CampaignCreated:
        return CampaignCreated.create(
            _definition(kind="journey", journey=graph or welcome_graph(), **overrides),
            workspace_id=uuid.uuid4())

    return make


@pytest.fixture
def make_graph() -> Callable[..., JourneyGraph]:
    """`make_graph(thanks={"goal": ...})`: the welcome journey's graph, steps changed by id."""
    return welcome_graph
