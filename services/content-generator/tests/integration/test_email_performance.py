"""email.performance: the content generator keeps each email's newest counts, whatever order
the summaries arrive in, and a replay changes nothing."""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import sqlalchemy as sa
from nats.aio.client import Client

from content_generator import db
from contracts import EmailPerformance
from contracts.learning import EmailPerformancePayload
from contracts.streams import TOPOLOGY
from servicekit.broker import ensure_consumer
from servicekit.consumer import Consumer
from servicekit.db import inbox

WORKSPACE = uuid.uuid4()
CAMPAIGN = uuid.uuid4()
AS_OF = datetime(2026, 12, 3, 9, tzinfo=UTC)


def summary(sequence: int, *, minutes: int, human_clicks: int) -> EmailPerformance:
    """Email `sequence`'s counts `minutes` after AS_OF."""
    return EmailPerformance.create(EmailPerformancePayload(
        campaign_id=CAMPAIGN, sequence=sequence, structure="story", delivered=1_000,
        bounced=3, opens=500, unique_opens=400, human_opens=250, unique_human_opens=200,
        clicks=80, unique_clicks=60, human_clicks=human_clicks,
        unique_human_clicks=human_clicks, unsubscribes=1,
        as_of=AS_OF + timedelta(minutes=minutes)), workspace_id=WORKSPACE)


async def stored(service: Any) -> dict[int, tuple[int, datetime]]:
    """(human clicks, as_of) stored per sequence."""
    return {r.sequence: (r.human_clicks, r.as_of)
            for r in await service.rows(db.email_performance)}


async def test_the_newest_summary_of_each_email_is_stored_with_its_counts(service: Any) -> None:
    first = summary(1, minutes=0, human_clicks=10)
    assert await service.handle(first, summary(2, minutes=0, human_clicks=4)) == [
        "handled", "handled"]
    [row, _] = await service.rows(db.email_performance)
    assert {name: getattr(row, name) for name in db.tables.PERFORMANCE_COUNTS} == {
        name: getattr(first.payload, name) for name in db.tables.PERFORMANCE_COUNTS}
    assert (row.workspace_id, row.structure) == (WORKSPACE, "story")
    assert await service.handle(summary(1, minutes=1, human_clicks=12)) == ["handled"]
    assert await stored(service) == {1: (12, AS_OF + timedelta(minutes=1)), 2: (4, AS_OF)}


async def test_an_older_summary_redelivered_late_leaves_the_newer_one(service: Any) -> None:
    newer, older = summary(1, minutes=5, human_clicks=20), summary(1, minutes=2, human_clicks=9)
    assert await service.handle(newer, older) == ["handled", "handled"]
    assert await stored(service) == {1: (20, AS_OF + timedelta(minutes=5))}


async def test_a_replayed_summary_is_handled_once(service: Any) -> None:
    event = summary(1, minutes=0, human_clicks=10)
    assert await service.handle(event) == ["handled"]
    assert await service.handle(summary(1, minutes=1, human_clicks=11)) == ["handled"]
    # The first again, as JetStream replays a stream to a recreated consumer.
    assert await service.handle(event) == ["duplicate"]
    assert await stored(service) == {1: (11, AS_OF + timedelta(minutes=1))}
    assert await service.published() == []


@pytest.mark.usefixtures("clean_streams")
async def test_summaries_published_on_jetstream_reach_the_table_through_the_service_consumer(
    service: Any, nats_client: Client,
) -> None:
    js = nats_client.jetstream()
    [spec] = [s for s in TOPOLOGY.consumers_of("content-generator") if s.stream == "ENGAGEMENT"]
    await ensure_consumer(js, spec)
    newer, older = summary(1, minutes=5, human_clicks=20), summary(1, minutes=2, human_clicks=9)
    for event in (newer, older):
        await js.publish(event.subject, event.model_dump_json().encode(),
                         headers={"Nats-Msg-Id": event.dedupe_key()})
    task = asyncio.create_task(Consumer(spec, js, service.engine, service.handlers).run())
    try:
        async with asyncio.timeout(15):
            while True:
                async with service.engine.connect() as conn:
                    handled = (await conn.execute(
                        sa.select(sa.func.count()).select_from(inbox)
                        .where(inbox.c.consumer == spec.durable))).scalar_one()
                if handled == 2:
                    break
                await asyncio.sleep(0.05)
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
    assert await stored(service) == {1: (20, AS_OF + timedelta(minutes=5))}
