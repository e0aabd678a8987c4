"""Bad LLM days: long Retry-After, the circuit breaker, per-model rate limits, the degradation
policy when every model fails, and no event lost on the way (through real JetStream)."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable
from datetime import datetime, timedelta

import pytest
import sqlalchemy as sa
from nats.aio.client import Client
from sqlalchemy.ext.asyncio import AsyncEngine

from content_generator import db
from content_generator.domain import CircuitBreaker
from content_generator.providers import OpenRouterProvider
from contracts import CampaignCreated, ContentFailed, ContentGenerated, EmailDue
from contracts.streams import TOPOLOGY
from servicekit.broker import ensure_consumer
from servicekit.consumer import Consumer, RetryLater
from servicekit.db import outbox
from testkit.fake_openrouter import Empty, Error, FakeOpenRouter, Hang, Malformed

MakeCampaign = Callable[..., CampaignCreated]
MakeDue = Callable[..., EmailDue]
PRIMARY, FALLBACK = "openai/gpt-4o-mini", "anthropic/claude-3.5-haiku"


class Clock:
    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


async def test_a_retry_after_too_long_to_wait_in_the_handler_becomes_the_redelivery_delay(
    service, openrouter: FakeOpenRouter, make_campaign: MakeCampaign, make_due: MakeDue
) -> None:
    campaign = make_campaign(fallback_models=[])
    due = make_due(campaign, 1)
    service = service.using(clock=lambda: due.payload.send_at - timedelta(days=1))
    await service.handle(campaign)
    openrouter.script(Error(429, retry_after=40))  # the tests' provider waits 5 s at most

    with pytest.raises(RetryLater) as caught:
        await service.handle(due)

    [only] = openrouter.chat_requests()  # not asked again while the server said wait
    assert only.status == 429
    assert caught.value.delay >= 40


@pytest.mark.parametrize("policy", ["fail", "delay", "offline_template"])
async def test_at_the_send_time_the_degradation_policy_decides(
    service, openrouter: FakeOpenRouter, make_campaign: MakeCampaign, make_due: MakeDue,
    policy: str,
) -> None:
    campaign = make_campaign(fallback_models=[])
    due = make_due(campaign, 1)
    clock = Clock(due.payload.send_at - timedelta(minutes=10))
    service = service.using(clock=clock, degradation=policy)
    await service.handle(campaign)
    openrouter.script(*[Error(503)] * 6)

    with pytest.raises(RetryLater) as caught:  # before the send time: try again, and in time
        await service.handle(due)
    assert 0 < caught.value.delay <= 600

    clock.now = due.payload.send_at + timedelta(seconds=1)
    if policy == "delay":
        with pytest.raises(RetryLater):  # the mail will go out late
            await service.handle(due)
        assert await service.published() == []
        return
    await service.handle(due)
    [event] = await service.published()
    if policy == "fail":
        assert isinstance(event, ContentFailed)
        assert event.payload.reason == "unavailable"
        [failure] = await service.rows(db.content_failures)
        assert failure.reason == "unavailable"
    else:
        assert isinstance(event, ContentGenerated)
        assert event.payload.provider == "offline"
        assert "offline" in event.payload.body_text.lower()


async def test_delay_still_ends_visibly_when_the_tries_run_out(
    service, openrouter: FakeOpenRouter, make_campaign: MakeCampaign, make_due: MakeDue,
    make_provider: Callable[..., OpenRouterProvider],
) -> None:
    campaign = make_campaign(fallback_models=[])
    due = make_due(campaign, 1)
    service = service.using(make_provider(breaker=CircuitBreaker(100)),
                            clock=lambda: due.payload.send_at + timedelta(hours=1),
                            degradation="delay", max_outages=3)
    await service.handle(campaign)
    openrouter.script(*[Error(503)] * 9)

    for _ in range(2):
        with pytest.raises(RetryLater):
            await service.handle(due)
    await service.handle(due)  # the third outage: no try left before the broker parks it

    [event] = await service.published()
    assert isinstance(event, ContentFailed)
    assert event.payload.reason == "unavailable"
    assert len(openrouter.chat_requests()) == 9  # three attempts per delivery


async def test_the_circuit_opens_on_a_failing_model_and_the_fallback_answers_alone(
    service, openrouter: FakeOpenRouter, make_campaign: MakeCampaign, make_due: MakeDue,
    make_provider: Callable[..., OpenRouterProvider],
) -> None:
    clock = Clock(datetime(2026, 3, 1, 12, 0).astimezone())
    provider = make_provider(breaker=CircuitBreaker(2, timedelta(seconds=30)), clock=clock)
    service = service.using(provider)
    campaign = make_campaign()
    await service.handle(campaign)
    # The primary fails twice: OpenRouter falls back to the second model, which answers.
    openrouter.script(Error(503), Error(503), model=PRIMARY)
    await service.handle(make_due(campaign, 1), make_due(campaign, 2), make_due(campaign, 3))

    first, second, third = openrouter.chat_requests()
    assert first.body["models"] == second.body["models"] == [PRIMARY, FALLBACK]
    assert first.model == second.model == FALLBACK
    # The primary's circuit is open: no time is lost on it.
    assert third.body["model"] == FALLBACK
    assert "models" not in third.body
    assert third.attempted_models == (FALLBACK,)

    clock.now += timedelta(seconds=31)  # cool-down over: one trial call to the primary
    await service.handle(make_due(campaign, 4), make_due(campaign, 5))
    trial, after = openrouter.chat_requests()[3:]
    assert trial.body["models"] == [PRIMARY, FALLBACK]
    assert trial.model == PRIMARY
    assert after.body["models"] == [PRIMARY, FALLBACK]  # closed again


async def test_with_every_circuit_open_no_request_is_made_and_the_email_waits(
    service, openrouter: FakeOpenRouter, make_campaign: MakeCampaign, make_due: MakeDue,
    make_provider: Callable[..., OpenRouterProvider],
) -> None:
    campaign = make_campaign(fallback_models=[])
    due = make_due(campaign, 1)
    clock = Clock(due.payload.send_at - timedelta(days=1))
    provider = make_provider(breaker=CircuitBreaker(3, timedelta(seconds=60)), clock=clock)
    service = service.using(provider, clock=clock)
    await service.handle(campaign)
    openrouter.script(*[Error(502)] * 3)
    with pytest.raises(RetryLater):
        await service.handle(due)
    assert len(openrouter.chat_requests()) == 3

    with pytest.raises(RetryLater) as caught:
        await service.handle(due)
    assert len(openrouter.chat_requests()) == 3  # the open circuit kept us away
    assert caught.value.delay >= 59  # until the circuit lets a trial call through


async def test_calls_to_one_model_keep_to_its_rate_limit(
    service, openrouter: FakeOpenRouter, make_campaign: MakeCampaign, make_due: MakeDue,
    make_provider: Callable[..., OpenRouterProvider],
) -> None:
    service = service.using(make_provider(calls_per_second=4.0))
    campaign = make_campaign()
    await service.handle(campaign)
    await asyncio.gather(*(service.handle(make_due(campaign, k)) for k in range(1, 13)))

    arrivals = sorted(r.received_at for r in openrouter.chat_requests())
    assert len(arrivals) == 12
    # A second's burst of 4, then one every 0.25 s: the twelfth 2 s after the first. The
    # margin is for the first calls' connections, which the server sees late on a busy host.
    assert arrivals[-1] - arrivals[0] >= 1.5


async def test_no_more_calls_are_in_flight_than_allowed(
    service, openrouter: FakeOpenRouter, make_campaign: MakeCampaign, make_due: MakeDue,
    make_provider: Callable[..., OpenRouterProvider],
) -> None:
    openrouter.latency = 0.3
    service = service.using(make_provider(max_in_flight=3))
    campaign = make_campaign()
    await service.handle(campaign)
    await asyncio.gather(*(service.handle(make_due(campaign, k)) for k in range(1, 10)))

    requests = openrouter.chat_requests()
    assert len(requests) == 9
    at_once = max(sum(1 for other in requests
                      if other.received_at <= r.received_at < (other.responded_at or 0))
                  for r in requests)
    # Nine emails at once, three calls at a time: three waves of 0.3 s.
    assert at_once == 3
    span = max(r.responded_at or 0 for r in requests) - min(r.received_at for r in requests)
    assert span >= 0.85


@pytest.mark.usefixtures("clean_streams")
async def test_through_jetstream_every_email_due_ends_generated_or_failed(
    engine: AsyncEngine, nats_client: Client, service, openrouter: FakeOpenRouter,
    make_campaign: MakeCampaign, make_due: MakeDue,
    make_provider: Callable[..., OpenRouterProvider],
) -> None:
    js = nats_client.jetstream()
    specs = {s.stream: s for s in TOPOLOGY.consumers_of("content-generator")}
    for spec in specs.values():
        await ensure_consumer(js, spec)
    service = service.using(make_provider(timeout=0.5, breaker=CircuitBreaker(100)),
                            outage_backoff=(0.5,))
    campaign = make_campaign(fallback_models=[])
    await service.handle(campaign)
    dues = [make_due(campaign, k) for k in range(1, 7)]
    # One of each transient fault, and one permanent one (a refused key for one email).
    openrouter.script(Error(429, retry_after=1), Error(502), Hang(5), Empty(), Malformed(),
                      Error(408), Error(401))
    for due in dues:
        await js.publish(due.subject, due.model_dump_json().encode(),
                         headers={"Nats-Msg-Id": due.dedupe_key()})

    consumer = Consumer(specs["SCHEDULE"], js, engine, service.handlers, concurrency=3)
    task = asyncio.create_task(consumer.run())
    try:
        async with asyncio.timeout(20):
            while len(await service.published()) < 6:  # noqa: ASYNC110 - polls the database
                await asyncio.sleep(0.1)
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task

    events = await service.published()
    assert sorted(e.payload.sequence for e in events) == list(range(1, 7))
    assert [e.payload.reason for e in events if isinstance(e, ContentFailed)] == ["bad_key"]
    assert sum(isinstance(e, ContentGenerated) for e in events) == 5
    async with engine.connect() as conn:
        parked = (await conn.execute(sa.text("SELECT count(*) FROM parked_events"))).scalar()
        in_outbox = (await conn.execute(sa.select(sa.func.count()).select_from(outbox))).scalar()
    assert parked == 0
    assert in_outbox == 6


async def test_a_later_success_clears_the_emails_failure_and_outage_count(
    service, openrouter: FakeOpenRouter, make_campaign: MakeCampaign, make_due: MakeDue
) -> None:
    campaign = make_campaign(fallback_models=[])
    due = make_due(campaign, 1)
    service = service.using(clock=lambda: due.payload.send_at, degradation="fail")
    await service.handle(campaign)
    openrouter.script(*[Error(503)] * 3)
    await service.handle(due)
    assert len(await service.rows(db.content_failures)) == 1
    assert len(await service.rows(db.outages)) == 1

    await service.handle(make_due(campaign, 1))  # re-sent by an operator, say
    assert [type(e) for e in await service.published()] == [ContentFailed, ContentGenerated]
    assert await service.rows(db.content_failures) == []
    assert await service.rows(db.outages) == []
