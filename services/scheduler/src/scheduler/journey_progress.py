"""The journey.progress publisher: each journey's counts per step, for the dashboard's live
view and funnel, at most once per summary interval and only when they changed.

A loop claims one journey due a look at a time with SKIP LOCKED (replicas share them out),
counts its enrollments in SQL and, in the same transaction, publishes the counts through the
outbox and records them: a crash before the commit leaves the journey due, after it the
summary is out once. A cancelled journey whose counts are summarised is not looked at again."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Literal

import structlog

from contracts import JourneyProgress, deterministic_id
from contracts.journey_events import JourneyProgressPayload, StepProgress
from scheduler import journey_domain as domain
from scheduler.db import progress as db
from servicekit.db import UnitOfWork
from servicekit.runtime import Runtime

log = structlog.get_logger(__name__)

Taken = Literal["published", "unchanged"]


async def publish_due(uow: UnitOfWork, *, now: datetime, interval: timedelta) -> Taken | None:
    """Take one journey due a look: "published" its counts, or "unchanged" (what the last
    summary said); None when none is due (or every due one is being taken elsewhere)."""
    due = await db.claim_due(uow.conn, now)
    if due is None:
        return None
    steps = domain.progress_steps(*await db.aggregate(uow.conn, due.campaign_id))
    counts = {"version": due.version, "steps": steps}
    next_at = None if due.state == "cancelled" else now + interval
    if counts == due.counts:
        await db.mark(uow.conn, due.campaign_id, next_at=next_at)
        return "unchanged"
    as_of = domain.next_as_of(now, due.as_of)
    uow.publish(JourneyProgress.create(
        JourneyProgressPayload(campaign_id=due.campaign_id, version=due.version, as_of=as_of,
                               steps=[StepProgress.model_validate(s) for s in steps]),
        workspace_id=due.workspace_id, correlation_id=due.correlation_id,
        event_id=deterministic_id("journey.progress", due.campaign_id, as_of.isoformat())))
    await db.mark(uow.conn, due.campaign_id, next_at=next_at, counts=counts, as_of=as_of)
    return "published"


async def progress_loop(runtime: Runtime, *, interval: float, poll: float,
                        clock: Callable[[], datetime] = lambda: datetime.now(UTC)) -> None:
    """Until the service stops: every due journey summarised, one per transaction, then a
    look again after `poll` seconds."""
    every = timedelta(seconds=interval)
    while not runtime.shutdown.requested:
        try:
            async with runtime.uow() as uow:
                taken = await publish_due(uow, now=clock(), interval=every)
                await uow.commit()
        except Exception as exc:  # the database may be briefly away; keep going
            log.warning("scheduler.journey_progress_failed", error=repr(exc))
            taken = None
        if taken is None:
            await runtime.shutdown.sleep(poll)
