"""Exactly once through a SIGKILL: the scheduler killed while 10,000 enrollments advance, then
two processes restarted on the same database; every step of every enrollment reaches the
JOURNEYS stream once.

The enrollments are inserted in bulk, already due; everything after that goes through real
`python -m scheduler run` processes and JetStream. JetStream drops a republished Nats-Msg-Id
within its duplicate window, so the stream alone could hide a double emission: the outbox and
the enrollments' step log are counted too.
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
from nats.js import JetStreamContext
from sqlalchemy.ext.asyncio import AsyncEngine

from contracts import JourneyGraph, deterministic_id, parse_event
from scheduler.db import journeys as jdb
from servicekit.db import create_engine, outbox
from servicekit.settings import async_url

Service = Any  # conftest.py's Service, which tests cannot import
StartScheduler = Callable[..., Awaitable[Service]]

WORKSPACE = uuid.UUID("00000000-0000-4000-8000-00000000c0de")
ENROLLMENTS = 10_000
EMAIL_STEPS = ("email-1", "email-2")
GRAPH = JourneyGraph.model_validate({
    "trigger": {"type": "event_received", "name": "signed_up"},
    "start": "email-1",
    "steps": [
        {"type": "email", "id": "email-1", "goal": "Hello", "next": "tag", "sequence": 1},
        {"type": "action", "id": "tag", "action": "add_tag", "tag": "welcomed",
         "next": "email-2"},
        {"type": "email", "id": "email-2", "goal": "Tips", "next": "done", "sequence": 2},
        {"type": "exit", "id": "done"},
    ],
})


@pytest.fixture
async def database(
    clean_streams: None, migrated_database: Callable[[str], Awaitable[str]]
) -> AsyncIterator[tuple[str, AsyncEngine]]:
    url = await migrated_database("scheduler")
    engine = create_engine(async_url(url), pool_size=2)
    yield url, engine
    await engine.dispose()


async def insert_enrolled(engine: AsyncEngine, count: int) -> list[uuid.UUID]:
    """A journey and `count` enrollments at its start, due a second ago."""
    campaign = uuid.uuid4()
    now = datetime.now(UTC) - timedelta(seconds=1)
    ids = [uuid.uuid4() for _ in range(count)]
    async with engine.begin() as conn:
        await jdb.save_journey(
            conn, graph=GRAPH.model_dump(mode="json", by_alias=True), campaign_id=campaign,
            workspace_id=WORKSPACE, correlation_id=campaign, state="active", version=1,
            trigger_type="event", trigger_key="signed_up", zone="UTC", send_window=None)
        await conn.execute(sa.insert(jdb.enrollments), [
            {"id": e, "campaign_id": campaign, "workspace_id": WORKSPACE,
             "email": f"c{i}@example.com", "entry": 1, "version": 1, "step_id": "email-1",
             "state": "active", "due_at": now, "entered_at": now, "step_entered_at": now}
            for i, e in enumerate(ids)
        ])
    return ids


async def count_rows(engine: AsyncEngine, subject: str) -> int:
    async with engine.connect() as conn:
        n = await conn.scalar(sa.select(sa.func.count()).select_from(outbox)
                              .where(outbox.c.subject == subject))
    return int(n or 0)


async def read_stream(js: JetStreamContext, expected: int, *, within: float,
                      quiet: float = 2.0) -> list[tuple[str, uuid.UUID]]:
    """(type, event id) of every message on JOURNEYS, read until `expected` and then `quiet`
    seconds more, so that extras would be seen too."""
    sub = await js.pull_subscribe("journey.>", stream="JOURNEYS")
    found: list[tuple[str, uuid.UUID]] = []
    deadline = time.monotonic() + within
    quiet_until: float | None = None
    try:
        while time.monotonic() < (quiet_until or deadline):
            try:
                msgs = await sub.fetch(1000, timeout=0.5)
            except TimeoutError:
                msgs = []
            for msg in msgs:
                event = parse_event(msg.data)
                found.append((event.type, event.event_id))
                await msg.ack()
            # The journeys' summaries (journey.progress) share the stream: not steps.
            steps = sum(t != "journey.progress" for t, _ in found)
            if quiet_until is None and steps >= expected:
                quiet_until = time.monotonic() + quiet
    finally:
        await sub.unsubscribe()
    return found


async def test_a_scheduler_killed_while_10000_enrollments_advance_emits_every_step_once(
    database: tuple[str, AsyncEngine], start_scheduler: StartScheduler, nats_client: Client,
) -> None:
    url, engine = database
    first = await start_scheduler(url, journey_batch_size="200")
    enrolled = await insert_enrolled(engine, ENROLLMENTS)

    deadline = time.monotonic() + 60
    while await count_rows(engine, "journey.step_due") < 3_000:
        assert time.monotonic() < deadline, first.output()
        await asyncio.sleep(0.01)
    first.process.kill()  # SIGKILL: no shutdown, transactions and publishes cut short
    await first.process.wait()
    async with engine.connect() as conn:
        left = await conn.scalar(sa.select(sa.func.count()).select_from(jdb.enrollments)
                                 .where(jdb.enrollments.c.state == "active"))
    assert left, "killed too late: nothing was left to advance"

    # Two replicas from here on: claimed rows are skipped by the other, never shared.
    for _ in range(2):
        await start_scheduler(url, journey_batch_size="200")
    steps = ENROLLMENTS * 3
    everything = await read_stream(nats_client.jetstream(), steps, within=90)
    found = [(t, i) for t, i in everything if t != "journey.progress"]

    emails = {deterministic_id("journey.step_due", e, s) for e in enrolled for s in EMAIL_STEPS}
    actions = {deterministic_id("journey.action", e, "tag") for e in enrolled}
    counts = Counter(event_id for _, event_id in found)
    assert [i for i, n in counts.items() if n > 1] == []
    assert {i for t, i in found if t == "journey.step_due"} == emails
    assert {i for t, i in found if t == "journey.action"} == actions
    stored = (await nats_client.jetstream().stream_info("JOURNEYS")).state.messages
    assert stored == steps + len(everything) - len(found)
    # Nothing emitted twice behind JetStream's duplicate window either.
    assert await count_rows(engine, "journey.step_due") == len(emails)
    assert await count_rows(engine, "journey.action") == len(actions)
    async with engine.connect() as conn:
        states = (await conn.execute(sa.select(jdb.enrollments.c.state, sa.func.count())
                                     .group_by(jdb.enrollments.c.state))).all()
        logged = await conn.scalar(sa.select(sa.func.count()).select_from(jdb.enrollment_steps))
    assert states == [("done", ENROLLMENTS)]
    assert logged == steps
