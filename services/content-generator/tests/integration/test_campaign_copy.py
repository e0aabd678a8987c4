"""The service's own copy of each campaign follows the campaign events."""

from __future__ import annotations

from collections.abc import Callable

from content_generator import db
from contracts import (
    CampaignCancelled,
    CampaignCompleted,
    CampaignCreated,
    CampaignPaused,
    CampaignResumed,
    CampaignUpdated,
)
from contracts.events import CampaignCompletedPayload, CampaignRef

MakeCampaign = Callable[..., CampaignCreated]


def _updated(created: CampaignCreated, **changes: object) -> CampaignUpdated:
    return CampaignUpdated.create(created.payload.model_copy(update=changes),
                                  workspace_id=created.workspace_id)


async def _state_after(service, created: CampaignCreated, *lifecycle: type) -> str:
    cid, ws = created.payload.campaign_id, created.workspace_id
    events = [
        cls.create(CampaignCompletedPayload(campaign_id=cid, total_emails=3), workspace_id=ws)
        if cls is CampaignCompleted
        else cls.create(CampaignRef(campaign_id=cid), workspace_id=ws)
        for cls in lifecycle
    ]
    await service.handle(*events)
    [row] = await service.rows(db.campaigns)
    return str(row.state)


async def test_created_stores_the_brief(service, make_campaign: MakeCampaign) -> None:
    created = make_campaign(name="Rye Week", fallback_models=["a/b", "c/d"])
    await service.handle(created)

    [row] = await service.rows(db.campaigns)
    assert (row.campaign_id, row.workspace_id) == (created.payload.campaign_id,
                                                   created.workspace_id)
    assert (row.name, row.model, row.fallback_models) == ("Rye Week", "openai/gpt-4o-mini",
                                                          ["a/b", "c/d"])
    assert (row.timezone, row.state) == ("Europe/Paris", "active")
    assert row.brand_voice == created.payload.brand_voice


async def test_updated_refreshes_the_brief_but_not_the_state(
    service, make_campaign: MakeCampaign
) -> None:
    created = make_campaign()
    await service.handle(created)
    assert await _state_after(service, created, CampaignPaused) == "paused"

    await service.handle(_updated(created, description="Now with rye.", model="x/y"))
    [row] = await service.rows(db.campaigns)
    assert (row.description, row.model, row.state) == ("Now with rye.", "x/y", "paused")


async def test_an_update_for_an_unseen_campaign_creates_its_copy(
    service, make_campaign: MakeCampaign
) -> None:
    created = make_campaign()
    await service.handle(_updated(created, name="Renamed"))
    [row] = await service.rows(db.campaigns)
    assert (row.name, row.state) == ("Renamed", "active")


async def test_pause_and_resume(service, make_campaign: MakeCampaign) -> None:
    created = make_campaign()
    await service.handle(created)
    assert await _state_after(service, created, CampaignPaused) == "paused"
    assert await _state_after(service, created, CampaignResumed) == "active"


async def test_a_cancelled_campaign_stays_cancelled(service, make_campaign: MakeCampaign) -> None:
    created = make_campaign()
    await service.handle(created)
    assert await _state_after(
        service, created, CampaignCancelled, CampaignResumed, CampaignPaused, CampaignCompleted
    ) == "cancelled"
    await service.handle(_updated(created, name="Back from the dead"))
    [row] = await service.rows(db.campaigns)
    assert (row.name, row.state) == ("Back from the dead", "cancelled")


async def test_a_completed_campaign_can_still_be_cancelled_but_not_resumed(
    service, make_campaign: MakeCampaign
) -> None:
    created = make_campaign()
    await service.handle(created)
    assert await _state_after(service, created, CampaignCompleted, CampaignResumed) == "completed"
    assert await _state_after(service, created, CampaignCancelled) == "cancelled"


async def test_lifecycle_events_for_an_unknown_campaign_change_nothing(
    service, make_campaign: MakeCampaign
) -> None:
    stranger = make_campaign()
    await service.handle(
        CampaignPaused.create(CampaignRef(campaign_id=stranger.payload.campaign_id),
                              workspace_id=stranger.workspace_id)
    )
    assert await service.rows(db.campaigns) == []
