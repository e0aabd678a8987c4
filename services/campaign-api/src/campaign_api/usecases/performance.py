"""The email.performance publisher: each email's counts, sent to the learners at most once
per summary interval, and only when they changed.

An email is due once a count on its row changes (db.bump_email). A loop of `campaign-api run`
claims one due email at a time with SKIP LOCKED (replicas share them out, as the segment
refresher does), and in one transaction publishes its summary through the outbox and records
what it said: a crash before the commit leaves the email due, after it the summary is out
exactly once. Due emails whose counts are what the last summary said are put back to rest
without an event."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Literal

import structlog
from sqlalchemy.ext.asyncio import AsyncEngine

from campaign_api import db
from campaign_api.performance import next_as_of, summary_counts
from campaign_api.usecases._claim_loop import claim_until_stopped
from contracts import EmailPerformance, deterministic_id
from contracts.learning import EmailPerformancePayload
from servicekit.db import UnitOfWork
from servicekit.shutdown import Shutdown

log = structlog.get_logger(__name__)

Taken = Literal["published", "unchanged"]


async def publish_due_summary(engine: AsyncEngine, interval: timedelta,
                              now: datetime | None = None) -> Taken | None:
    """Take one due email: "published" its summary, or "unchanged" (its counts are what the
    last summary said; nothing published); None when no email is due (or every due one is
    being taken elsewhere)."""
    now = now or datetime.now(UTC)
    async with UnitOfWork(engine) as uow:
        due = await db.claim_due_summary(uow.conn, now, interval)
        if due is None:
            return None
        counts = summary_counts(due)
        if counts == due.summary_counts:
            await db.mark_summarised(uow.conn, due.campaign_id, due.sequence,
                                     as_of=None, counts=None)
            await uow.commit()
            return "unchanged"
        as_of = next_as_of(now, due.summary_as_of)
        event = EmailPerformance.create(
            EmailPerformancePayload(campaign_id=due.campaign_id, sequence=due.sequence,
                                    structure=due.structure or "", as_of=as_of, **counts),
            workspace_id=due.workspace_id,
            event_id=deterministic_id("email.performance", due.campaign_id, due.sequence,
                                      as_of.isoformat()))
        uow.publish(event)
        await db.mark_summarised(uow.conn, due.campaign_id, due.sequence, as_of=as_of,
                                 counts=counts)
        await uow.commit()
    return "published"


async def summary_loop(engine: AsyncEngine, shutdown: Shutdown, *, interval: float,
                       poll: float) -> None:
    """Until the service stops: publish every due summary, then look again after `poll`
    seconds. A summary being published commits before the loop returns."""
    every = timedelta(seconds=interval)
    await claim_until_stopped(lambda: publish_due_summary(engine, every), shutdown, poll=poll,
                              failed_event="performance.summary_failed")
