"""journey.progress from the scheduler kept per journey: the newest summary wins, an older one
arriving late is ignored, and campaign-api reads them on its JOURNEYS consumer."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncEngine

from campaign_api import db
from campaign_api.app import projections
from campaign_api.usecases.journey_progress import on_journey_progress
from contracts import JourneyProgress
from contracts.journey_events import JourneyProgressPayload, StepProgress
from contracts.streams import CONSUMERS
from servicekit.db import UnitOfWork

T0 = datetime(2030, 1, 7, 9, tzinfo=UTC)
WORKSPACE = uuid.uuid4()


def _progress(campaign_id: uuid.UUID, at: datetime, waiting: int) -> JourneyProgress:
    return JourneyProgress.create(JourneyProgressPayload(
        campaign_id=campaign_id, version=1, as_of=at,
        steps=[StepProgress(step_id="wait-1", waiting=waiting, exited={"goal": 1})]),
        workspace_id=WORKSPACE)


async def _apply(engine: AsyncEngine, event: JourneyProgress) -> None:
    async with UnitOfWork(engine) as uow:
        await on_journey_progress(event, uow)
        await uow.commit()


async def _waiting(engine: AsyncEngine, campaign_id: uuid.UUID) -> int:
    async with engine.connect() as conn:
        row = await db.journey_progress_of(conn, WORKSPACE, campaign_id)
    assert row is not None
    assert row.steps[0]["exited"] == {"goal": 1}
    return int(row.steps[0]["waiting"])


def test_campaign_api_consumes_journey_progress() -> None:
    assert any(c.service == "campaign-api" and c.stream == "JOURNEYS"
               and "journey.progress" in c.filter_subjects for c in CONSUMERS)
    assert projections().get(JourneyProgress.TYPE) is on_journey_progress


async def test_the_newest_summary_is_kept_and_an_older_one_arriving_late_is_ignored(
        api_engine: AsyncEngine) -> None:
    cid = uuid.uuid4()
    await _apply(api_engine, _progress(cid, T0, waiting=5))
    await _apply(api_engine, _progress(cid, T0 + timedelta(seconds=10), waiting=3))
    assert await _waiting(api_engine, cid) == 3
    await _apply(api_engine, _progress(cid, T0 + timedelta(seconds=5), waiting=9))
    assert await _waiting(api_engine, cid) == 3
    async with api_engine.connect() as conn:
        assert await db.journey_progress_of(conn, uuid.uuid4(), cid) is None  # another workspace
