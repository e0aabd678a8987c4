"""journey.progress against a real, migrated database: a journey's counts per step published
through the outbox when they changed, not again while they stay the same or before the
interval is up, and with `as_of` always later than the last."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine

from contracts import (
    ActivityRecorded,
    CampaignCancelled,
    CampaignCreated,
    CampaignDefinition,
    JourneyProgress,
    parse_event,
)
from contracts.events import CampaignRef
from contracts.journey_events import ActivityPayload
from scheduler import handlers, journey_handlers, journey_progress, journey_timers
from servicekit.db import UnitOfWork, create_engine, outbox
from servicekit.settings import async_url

WORKSPACE = uuid.UUID("00000000-0000-4000-8000-00000000c0de")
T0 = datetime(2030, 1, 7, 9, tzinfo=UTC)
EVERY = timedelta(seconds=10)
GRAPH = {
    "trigger": {"type": "event_received", "name": "signed_up"},
    "start": "email-1",
    "steps": [
        {"type": "email", "id": "email-1", "goal": "Hello", "next": "wait-1", "sequence": 1},
        {"type": "wait", "id": "wait-1", "until": {"kind": "duration", "seconds": 120},
         "next": "email-2"},
        {"type": "email", "id": "email-2", "goal": "Tips", "next": "done", "sequence": 2},
        {"type": "exit", "id": "done"},
    ],
    "exit_on": [{"kind": "event", "name": "order.paid"}],
}


@pytest.fixture
async def engine(migrated_database: Callable[[str], Awaitable[str]]) -> AsyncIterator[AsyncEngine]:
    engine = create_engine(async_url(await migrated_database("scheduler")), pool_size=4)
    yield engine
    await engine.dispose()


async def _created(engine: AsyncEngine, campaign_id: uuid.UUID) -> None:
    definition = CampaignDefinition.model_validate({
        "campaign_id": str(campaign_id), "audience_id": str(uuid.UUID(int=2)),
        "name": "Welcome", "description": "Welcome series", "model": "m",
        "schedule": {"schedule_type": "daily", "start_at": T0.isoformat(), "total_emails": 1,
                     "timezone": "UTC"},
        "kind": "journey", "journey": GRAPH})
    async with UnitOfWork(engine) as uow:
        await handlers.on_created(CampaignCreated.create(definition, workspace_id=WORKSPACE),
                                  uow, lead=timedelta(0))
        await uow.commit()


async def _activity(engine: AsyncEngine, email: str, name: str, at: datetime) -> None:
    event = ActivityRecorded.create(ActivityPayload(
        event_id=uuid.uuid4(), email=email, name=name, occurred_at=at), workspace_id=WORKSPACE)
    async with UnitOfWork(engine) as uow:
        await journey_handlers.on_activity(event, uow, clock=lambda: at)
        await uow.commit()


async def _tick(engine: AsyncEngine, now: datetime) -> None:
    async with UnitOfWork(engine) as uow:
        await journey_timers.advance_due(uow, now=now, limit=100)
        await uow.commit()


async def _summarise(engine: AsyncEngine, now: datetime) -> list[str | None]:
    """Every journey due a look at `now` taken, as the loop does."""
    taken: list[str | None] = []
    while True:
        async with UnitOfWork(engine) as uow:
            result = await journey_progress.publish_due(uow, now=now, interval=EVERY)
            await uow.commit()
        if result is None:
            return taken
        taken.append(result)


async def _progress(engine: AsyncEngine) -> list[JourneyProgress]:
    async with engine.connect() as conn:
        rows = (await conn.execute(sa.select(outbox.c.data).order_by(outbox.c.id))).all()
    return [e for e in (parse_event(r.data) for r in rows) if isinstance(e, JourneyProgress)]


def _by_step(event: JourneyProgress) -> dict[str, tuple[int, int, dict[str, int]]]:
    return {s.step_id: (s.waiting, s.entered, dict(s.exited)) for s in event.payload.steps}


async def test_a_journeys_counts_per_step_are_published_when_they_change(
        engine: AsyncEngine) -> None:
    cid = uuid.uuid4()
    await _created(engine, cid)
    for email in ("ada@example.com", "bob@example.com", "cy@example.com"):
        await _activity(engine, email, "signed_up", T0)
    await _tick(engine, T0)
    await _activity(engine, "bob@example.com", "order.paid", T0 + timedelta(seconds=5))
    await _tick(engine, T0 + timedelta(seconds=5))
    assert await _summarise(engine, T0 + timedelta(seconds=6)) == ["published"]
    [first] = await _progress(engine)
    assert (first.payload.campaign_id, first.payload.version) == (cid, 1)
    assert _by_step(first) == {"email-1": (0, 3, {}), "wait-1": (2, 0, {"goal": 1})}

    await _tick(engine, T0 + timedelta(minutes=2))
    assert await _summarise(engine, T0 + timedelta(seconds=10)) == []  # the interval not up
    assert await _summarise(engine, T0 + timedelta(minutes=2)) == ["published"]
    second = (await _progress(engine))[-1]
    assert _by_step(second) == {"email-1": (0, 3, {}), "email-2": (0, 2, {}),
                                "wait-1": (0, 0, {"goal": 1}), "done": (0, 0, {"end": 2})}
    assert second.payload.as_of > first.payload.as_of
    assert second.event_id != first.event_id


async def test_unchanged_counts_publish_nothing_and_a_cancelled_journey_is_left_once_told(
        engine: AsyncEngine) -> None:
    cid = uuid.uuid4()
    await _created(engine, cid)
    await _activity(engine, "ada@example.com", "signed_up", T0)
    await _tick(engine, T0)
    assert await _summarise(engine, T0) == ["published"]
    assert await _summarise(engine, T0 + timedelta(minutes=1)) == ["unchanged"]
    async with UnitOfWork(engine) as uow:
        await handlers.on_cancelled(CampaignCancelled.create(
            CampaignRef(campaign_id=cid), workspace_id=WORKSPACE), uow)
        await uow.commit()
    assert await _summarise(engine, T0 + timedelta(minutes=2)) == ["published"]
    assert _by_step((await _progress(engine))[-1])["wait-1"] == (0, 0, {"cancelled": 1})
    assert await _summarise(engine, T0 + timedelta(days=1)) == []
    assert len(await _progress(engine)) == 2
