"""The scheduler as it runs in production: a process fed by JetStream, emitting to JetStream."""

from __future__ import annotations

import asyncio
import signal
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
from nats.aio.client import Client
from nats.js import JetStreamContext

from contracts import CampaignCreated, EmailDue, deterministic_id

CAMPAIGNS = 20
TOTAL_EMAILS = 3


# The helpers' classes live in conftest.py, which tests cannot import.
Service = Any
StartScheduler = Callable[..., Awaitable[Service]]
CollectDue = Callable[..., Awaitable[list[EmailDue]]]


@pytest.fixture
async def scheduler(
    clean_streams: None,
    migrated_database: Callable[[str], Awaitable[str]],
    start_scheduler: StartScheduler,
) -> Service:
    return await start_scheduler(await migrated_database("scheduler"))


async def publish(js: JetStreamContext, event: CampaignCreated, msg_id: str) -> None:
    await js.publish(event.subject, event.model_dump_json().encode(),
                     headers={"Nats-Msg-Id": msg_id})


async def test_each_created_campaign_gets_exactly_one_first_email_due(
    scheduler: Service, nats_client: Client, make_created: Callable[..., CampaignCreated],
    collect_due: CollectDue,
) -> None:
    js = nats_client.jetstream()
    start = datetime.now(UTC).replace(microsecond=0)
    events = [
        make_created(schedule_type="daily", start_immediately=True, start_at=start,
                     total_emails=TOTAL_EMAILS, send_time="09:00", timezone="Europe/Berlin")
        for _ in range(CAMPAIGNS)
    ]
    for event in events:
        await publish(js, event, str(event.event_id))
        # The same event again under another message id: JetStream keeps both copies.
        await publish(js, event, f"{event.event_id}-again")

    dues = await collect_due(js, CAMPAIGNS)

    by_campaign = {d.payload.campaign_id: d for d in dues}
    assert len(dues) == len(by_campaign) == CAMPAIGNS
    for event in events:
        due = by_campaign[event.payload.campaign_id]
        assert due.event_id == deterministic_id("email.due", event.payload.campaign_id, 1)
        assert (due.payload.sequence, due.payload.total) == (1, TOTAL_EMAILS)
        assert due.payload.send_at == start
        assert due.correlation_id == event.correlation_id
    assert (await js.stream_info("SCHEDULE")).state.messages == CAMPAIGNS

    async with httpx.AsyncClient(base_url=scheduler.url) as client:
        assert (await client.get("/readyz")).status_code == 200

    stopping = time.monotonic()
    scheduler.process.send_signal(signal.SIGTERM)
    async with asyncio.timeout(10):
        returncode = await scheduler.process.wait()
    assert returncode == 0, scheduler.output()
    assert time.monotonic() - stopping < 5
