"""The composition root, and events travelling through JetStream to the service's outbox."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable

import pytest
import sqlalchemy as sa
from nats.aio.client import Client
from sqlalchemy.ext.asyncio import AsyncEngine

from content_generator import db
from content_generator.app import build
from content_generator.embeddings import HashingEmbedder
from content_generator.providers import OfflineProvider, OpenRouterProvider
from content_generator.settings import Settings
from contracts import CampaignCreated, EmailDue, Event, deterministic_id
from contracts.streams import TOPOLOGY
from servicekit.broker import ensure_consumer
from servicekit.consumer import Consumer
from servicekit.db import outbox
from servicekit.runtime import Runtime, ServiceParts
from testkit.fake_openrouter import FakeOpenRouter

MakeCampaign = Callable[..., CampaignCreated]
MakeDue = Callable[..., EmailDue]


def _settings(engine: AsyncEngine, **env: str) -> Settings:
    url = engine.url.render_as_string(hide_password=False)
    return Settings(database_url=url, **env)


@pytest.fixture
async def parts(
    engine: AsyncEngine, nats_client: Client, openrouter: FakeOpenRouter
) -> AsyncIterator[ServiceParts]:
    settings = _settings(engine, OPENROUTER_API_KEY=openrouter.api_key,
                         OPENROUTER_BASE_URL=openrouter.base_url, max_concurrent_calls="3")
    built = await build(Runtime(settings, engine, nats_client, nats_client.jetstream()))
    yield built
    for loop in built.loops:
        loop.close()  # never started here
    for hook in built.on_stop:
        await hook()


async def test_build_writes_emails_concurrently_with_openrouter(parts: ServiceParts) -> None:
    # Three calls in flight (the provider's limit), one email more in progress.
    assert parts.concurrency == {"SCHEDULE": 4}
    assert parts.on_stop, "the HTTP client is closed on stop"
    handler = parts.handlers.prepared["email.due"]
    ports = handler.keywords["ports"]
    assert isinstance(ports.provider, OpenRouterProvider)
    assert ports.provider.max_in_flight == 3
    assert isinstance(ports.embedder, HashingEmbedder)  # no embedding model configured
    assert ports.max_outages == TOPOLOGY.consumers_of("content-generator")[1].max_deliver - 1
    assert len(parts.loops) == 1  # the preview responder
    subjects = set(TOPOLOGY.consumers_of("content-generator")[0].filter_subjects)
    assert "campaign.>" in subjects
    for event_type in ("campaign.created", "campaign.updated", "campaign.paused",
                       "campaign.resumed", "campaign.cancelled", "campaign.completed"):
        assert parts.handlers.get(event_type) is not None


async def test_without_an_api_key_the_offline_provider_writes(
    engine: AsyncEngine, nats_client: Client, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("OPENROUTER_API_KEY", raising=False)
    built = await build(Runtime(_settings(engine), engine, nats_client, nats_client.jetstream()))
    handler = built.handlers.prepared["email.due"]
    assert isinstance(handler.keywords["ports"].provider, OfflineProvider)
    for loop in built.loops:
        loop.close()
    # No HTTP client to close; only the pool of the reads around the calls.
    [close_reader] = built.on_stop
    await close_reader()


async def _publish(nats_client: Client, *events: Event) -> None:
    js = nats_client.jetstream()
    for event in events:
        await js.publish(event.subject, event.model_dump_json().encode(),
                         headers={"Nats-Msg-Id": event.dedupe_key()})


async def _wait_for(engine: AsyncEngine, query: sa.Select[tuple[int]], expected: int) -> None:
    async with asyncio.timeout(15):
        while True:
            async with engine.connect() as conn:
                if (await conn.execute(query)).scalar_one() >= expected:
                    return
            await asyncio.sleep(0.05)


@pytest.mark.usefixtures("clean_streams")
async def test_events_from_jetstream_end_as_content_in_the_outbox(
    engine: AsyncEngine, nats_client: Client, parts: ServiceParts, openrouter: FakeOpenRouter,
    make_campaign: MakeCampaign, make_due: MakeDue,
) -> None:
    js = nats_client.jetstream()
    specs = {s.stream: s for s in TOPOLOGY.consumers_of("content-generator")}
    for spec in specs.values():
        await ensure_consumer(js, spec)
    campaign = make_campaign()
    cid = campaign.payload.campaign_id
    openrouter.latency = 0.2  # long enough for the calls of one batch to overlap
    await _publish(nats_client, campaign, *(make_due(campaign, k) for k in range(1, 7)))

    def consume(stream: str) -> asyncio.Task[None]:
        consumer = Consumer(specs[stream], js, engine, parts.handlers,
                            concurrency=parts.concurrency.get(stream, 1))
        return asyncio.create_task(consumer.run())

    # Campaigns first: an email.due that overtakes its campaign is retried 5 s later.
    tasks = [consume("CAMPAIGNS")]
    try:
        await _wait_for(engine, sa.select(sa.func.count()).select_from(db.campaigns), 1)
        tasks.append(consume("SCHEDULE"))
        await _wait_for(engine, sa.select(sa.func.count()).select_from(db.generated_emails), 6)
    finally:
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task

    async with engine.connect() as conn:
        ids = set((await conn.execute(sa.select(outbox.c.event_id))).scalars())
    assert ids == {deterministic_id("content.generated", cid, k) for k in range(1, 7)}
    calls = openrouter.chat_requests()
    assert len(calls) == 6
    # Several at a time, not one by one: read from when the LLM saw each call begin and end,
    # not from a stopwatch, which a loaded machine stretches.
    in_flight = max(sum(1 for other in calls
                        if other.received_at <= call.received_at < (other.responded_at or 0))
                    for call in calls)
    assert 1 < in_flight <= parts.concurrency["SCHEDULE"]
