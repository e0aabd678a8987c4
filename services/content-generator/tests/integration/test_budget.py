"""Spend per email, campaign and workspace, and the workspace's monthly budget."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from decimal import Decimal

from content_generator import db
from content_generator.domain import month_start
from contracts import CampaignCreated, ContentFailed, ContentGenerated, EmailDue, WorkspaceUpdated
from contracts.events import WorkspaceSettingsPayload
from testkit.fake_openrouter import Error, FakeOpenRouter

MakeCampaign = Callable[..., CampaignCreated]
MakeDue = Callable[..., EmailDue]


def _budget(workspace_id: uuid.UUID, budget: Decimal | None) -> WorkspaceUpdated:
    return WorkspaceUpdated.create(
        WorkspaceSettingsPayload(name="Acme", monthly_llm_budget=budget),
        workspace_id=workspace_id,
    )


def _billed(openrouter: FakeOpenRouter) -> Decimal:
    return sum((Decimal(str(r.usage["cost"])).quantize(Decimal("1e-10"))
                for r in openrouter.requests if r.usage), Decimal(0))


async def test_spend_is_queryable_per_email_campaign_and_workspace(
    service, openrouter: FakeOpenRouter, make_campaign: MakeCampaign, make_due: MakeDue
) -> None:
    campaign = make_campaign(fallback_models=[])
    cid, ws = campaign.payload.campaign_id, campaign.workspace_id
    openrouter.script(Error(503))  # a failed attempt is logged, at no cost
    await service.handle(campaign, make_due(campaign, 1), make_due(campaign, 2))

    events = [e for e in await service.published() if isinstance(e, ContentGenerated)]
    async with service.engine.connect() as conn:
        first = await db.email_spend(conn, cid, 1)
        second = await db.email_spend(conn, cid, 2)
        whole = await db.campaign_spend(conn, cid)
        month = await db.workspace_spend(conn, ws, since=month_start(datetime.now(UTC)))
    assert (first.calls, second.calls) == (2, 1)
    assert [e.payload.cost for e in events] == [first.cost, second.cost]
    assert [e.payload.prompt_tokens for e in events] == [first.prompt_tokens,
                                                         second.prompt_tokens]
    assert whole.cost == month.cost == first.cost + second.cost == _billed(openrouter) > 0
    assert whole.completion_tokens == sum(
        r.usage["completion_tokens"] for r in openrouter.requests if r.usage)


async def test_a_spent_budget_stops_generation_with_a_visible_reason(
    service, openrouter: FakeOpenRouter, make_campaign: MakeCampaign, make_due: MakeDue
) -> None:
    campaign = make_campaign()
    ws = campaign.workspace_id
    await service.handle(campaign, make_due(campaign, 1))
    spent = _billed(openrouter)
    await service.handle(_budget(ws, spent))  # this month's spend has reached it
    await service.handle(make_due(campaign, 2))

    assert len(openrouter.chat_requests()) == 1
    [_, failed] = await service.published()
    assert isinstance(failed, ContentFailed)
    assert failed.payload.reason == "budget_exceeded"
    assert failed.payload.sequence == 2
    assert str(spent.normalize()) in failed.payload.message

    # A raised budget, or none, lets the next email through.
    await service.handle(_budget(ws, spent * 10), make_due(campaign, 3),
                         _budget(ws, None), make_due(campaign, 4))
    assert len(openrouter.chat_requests()) == 3


async def test_the_budget_is_per_calendar_month(
    service, openrouter: FakeOpenRouter, make_campaign: MakeCampaign, make_due: MakeDue
) -> None:
    campaign = make_campaign()
    await service.handle(campaign, make_due(campaign, 1))
    await service.handle(_budget(campaign.workspace_id, _billed(openrouter)))
    next_month = month_start(datetime.now(UTC)) + timedelta(days=32)
    await service.using(clock=lambda: next_month).handle(make_due(campaign, 2))
    assert [type(e) for e in await service.published()] == [ContentGenerated] * 2
