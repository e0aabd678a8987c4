"""Exactly once with several scheduler processes, and across a SIGKILL mid-emission.

Schedules are inserted in bulk straight into the database, already due; everything after that
goes through real `python -m scheduler run` processes and JetStream. JetStream drops a
republished Nats-Msg-Id within its duplicate window, so the stream alone could hide a double
emission: the tests also count what each process claimed and what reached the outbox.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import sqlalchemy as sa
from nats.aio.client import Client
from sqlalchemy.ext.asyncio import AsyncEngine

from contracts import EmailDue, Schedule, deterministic_id
from scheduler import db
from servicekit.db import create_engine, outbox
from servicekit.settings import async_url

Service = Any  # conftest.py's Service, which tests cannot import
StartScheduler = Callable[..., Awaitable[Service]]
CollectDue = Callable[..., Awaitable[list[EmailDue]]]

WORKSPACE = uuid.UUID("00000000-0000-4000-8000-00000000c0de")


@pytest.fixture
async def database(
    clean_streams: None, migrated_database: Callable[[str], Awaitable[str]]
) -> AsyncIterator[tuple[str, AsyncEngine]]:
    url = await migrated_database("scheduler")
    engine = create_engine(async_url(url), pool_size=2)
    yield url, engine
    await engine.dispose()


async def insert_due(engine: AsyncEngine, count: int) -> list[uuid.UUID]:
    """`count` daily campaigns of 3 emails that started a second ago: email 1 is due now."""
    start = datetime.now(UTC).replace(microsecond=0) - timedelta(seconds=1)
    schedule = Schedule(schedule_type="daily", start_at=start, start_immediately=True,
                        total_emails=3).model_dump(mode="json")
    ids = [uuid.uuid4() for _ in range(count)]
    async with engine.begin() as conn:
        await conn.execute(sa.insert(db.schedules), [
            {"campaign_id": c, "workspace_id": WORKSPACE, "correlation_id": c,
             "schedule": schedule, "state": "active", "total_emails": 3, "next_sequence": 1,
             "next_slot": 0, "next_send_at": start, "due_at": start}
            for c in ids
        ])
    return ids


async def check_emitted_once(
    engine: AsyncEngine, dues: list[EmailDue], campaigns: list[uuid.UUID], nats: Client
) -> None:
    expected = {deterministic_id("email.due", c, 1) for c in campaigns}
    counts = Counter(d.event_id for d in dues)
    assert set(counts) == expected
    assert [i for i, n in counts.items() if n > 1] == []
    assert len(dues) == len(campaigns)
    assert (await nats.jetstream().stream_info("SCHEDULE")).state.messages == len(campaigns)
    async with engine.connect() as conn:
        rows = (await conn.execute(
            sa.select(outbox.c.event_id, outbox.c.published_at)
            .where(outbox.c.subject == "email.due")
        )).all()
        sequences = (await conn.execute(
            sa.select(db.schedules.c.next_sequence, sa.func.count())
            .group_by(db.schedules.c.next_sequence)
        )).all()
    assert sorted(r.event_id for r in rows) == sorted(expected)
    assert all(r.published_at is not None for r in rows)
    assert sequences == [(2, len(campaigns))]


async def test_two_processes_emit_each_of_1000_due_emails_exactly_once(
    database: tuple[str, AsyncEngine], start_scheduler: StartScheduler,
    collect_due: CollectDue, nats_client: Client,
) -> None:
    url, engine = database
    # Small batches, so that both processes take turns at the same due rows.
    replicas = [await start_scheduler(url, batch_size="50") for _ in range(2)]
    campaigns = await insert_due(engine, 1000)

    dues = await collect_due(nats_client.jetstream(), len(campaigns), within=40)

    await check_emitted_once(engine, dues, campaigns, nats_client)
    # Each schedule was claimed by one process only: a double claim would count twice here,
    # even where the outbox and the stream dedupe the event it emitted.
    claimed = [await r.metric("scheduler_due_handled_total") for r in replicas]
    assert sum(claimed) == len(campaigns)
    assert all(n > 0 for n in claimed), f"one process did all the work: {claimed}"


async def test_a_scheduler_killed_while_emitting_emits_everything_once_after_restart(
    database: tuple[str, AsyncEngine], start_scheduler: StartScheduler,
    collect_due: CollectDue, nats_client: Client,
) -> None:
    url, engine = database
    first = await start_scheduler(url, batch_size="100")
    campaigns = await insert_due(engine, 2000)

    deadline = time.monotonic() + 30
    while await outbox_rows(engine) < 300:
        assert time.monotonic() < deadline, first.output()
        await asyncio.sleep(0.01)
    first.process.kill()  # SIGKILL: no shutdown, transactions and publishes cut short
    await first.process.wait()
    async with engine.connect() as conn:
        still_due = (await conn.scalar(
            sa.select(sa.func.count()).where(db.schedules.c.next_sequence == 1)))
    assert still_due, "killed too late: nothing was left to emit"

    await start_scheduler(url, batch_size="100")
    dues = await collect_due(nats_client.jetstream(), len(campaigns), within=40)

    await check_emitted_once(engine, dues, campaigns, nats_client)


async def outbox_rows(engine: AsyncEngine) -> int:
    async with engine.connect() as conn:
        count = await conn.scalar(
            sa.select(sa.func.count()).select_from(outbox).where(outbox.c.subject == "email.due"))
    return int(count or 0)
