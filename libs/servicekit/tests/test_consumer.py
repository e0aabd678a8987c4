"""Durable consumers: effect and inbox mark commit together, ack follows commit, failures are
retried with backoff, then parked; duplicates are skipped; invalid payloads are parked at once."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import json
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import pytest
import sqlalchemy as sa
from nats.js import JetStreamContext
from sqlalchemy.dialects.postgresql import UUID
from sqlalchemy.ext.asyncio import AsyncEngine

from contracts import CampaignPaused, CampaignResumed
from contracts.events import CampaignRef
from contracts.streams import ConsumerSpec
from servicekit.broker import ensure_consumer
from servicekit.consumer import Consumer, Handlers, RetryLater
from servicekit.db import UnitOfWork, inbox, outbox, parked_events

MakeEvent = Callable[..., CampaignPaused]
Eventually = Callable[..., Awaitable[float]]

# The consuming service's own tables.
service_tables = sa.MetaData()
effects = sa.Table(
    "effects", service_tables,
    sa.Column("event_id", UUID(as_uuid=True), nullable=False),
    sa.Column("attempt", sa.Integer, nullable=False),
)
# Checked at COMMIT, not at INSERT: lets a handler return normally and its commit still fail.
claims = sa.Table(
    "claims", service_tables,
    sa.Column("key", sa.Text, nullable=False),
    sa.UniqueConstraint("key", deferrable=True, initially="DEFERRED"),
)


@pytest.fixture
async def service_engine(engine: AsyncEngine) -> AsyncEngine:
    async with engine.begin() as conn:
        await conn.run_sync(service_tables.create_all)
    return engine


class Recorder:
    """A handler that records its deliveries and behaves as the test scripts it to."""

    def __init__(self, *behaviour: Callable[[CampaignPaused, UnitOfWork], Awaitable[None]]):
        self.behaviour = list(behaviour)
        self.calls: list[float] = []

    async def __call__(self, event: CampaignPaused, uow: UnitOfWork) -> None:
        self.calls.append(time.monotonic())
        await uow.conn.execute(effects.insert().values(event_id=event.event_id,
                                                       attempt=len(self.calls)))
        step = self.behaviour[min(len(self.calls), len(self.behaviour)) - 1]
        await step(event, uow)

    def gaps(self) -> list[float]:
        return [b - a for a, b in zip(self.calls, self.calls[1:], strict=False)]


async def succeed(event: CampaignPaused, uow: UnitOfWork) -> None:
    pass


async def fail(event: CampaignPaused, uow: UnitOfWork) -> None:
    raise ValueError("boom")


def retry_later(delay: float) -> Callable[[CampaignPaused, UnitOfWork], Awaitable[None]]:
    async def step(event: CampaignPaused, uow: UnitOfWork) -> None:
        raise RetryLater("campaign not known yet", delay=delay)

    return step


@contextlib.asynccontextmanager
async def consuming(
    spec: ConsumerSpec, js: JetStreamContext, engine: AsyncEngine, handler: Recorder,
    *, concurrency: int = 1,
) -> AsyncIterator[None]:
    handlers = Handlers()
    handlers.on(CampaignPaused)(handler)
    task = asyncio.create_task(
        Consumer(spec, js, engine, handlers, concurrency=concurrency).run()
    )
    try:
        yield
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


async def publish(js: JetStreamContext, spec: ConsumerSpec, data: bytes) -> None:
    subject = spec.filter_subjects[0].replace(">", "event")
    await js.publish(subject, data)


async def rows(engine: AsyncEngine, table: sa.Table) -> list[Any]:
    async with engine.connect() as conn:
        return list((await conn.execute(sa.select(table))).all())


def settled(
    js: JetStreamContext, spec: ConsumerSpec, messages: int
) -> Callable[[], Awaitable[bool]]:
    """Every one of the stream's `messages` is acked (or terminated): nothing pending."""

    async def check() -> bool:
        info = await js.consumer_info(spec.stream, spec.durable)
        assert info.ack_floor is not None
        return (info.ack_floor.stream_seq, info.num_ack_pending, info.num_pending) == (
            messages, 0, 0,
        )

    return check


async def test_effect_inbox_mark_and_outbox_commit_together_then_the_message_is_acked(
    service_engine: AsyncEngine, js: JetStreamContext, durable: ConsumerSpec,
    make_event: MakeEvent, eventually: Eventually,
) -> None:
    event = make_event()
    follow_up = CampaignResumed.create(CampaignRef(campaign_id=uuid.uuid4()),
                                       workspace_id=event.workspace_id)

    async def emit(event: CampaignPaused, uow: UnitOfWork) -> None:
        uow.publish(follow_up)

    handler = Recorder(emit)
    await publish(js, durable, event.model_dump_json().encode())
    async with consuming(durable, js, service_engine, handler):
        await eventually(settled(js, durable, 1), what="message acked")

    assert len(handler.calls) == 1
    assert [r.event_id for r in await rows(service_engine, effects)] == [event.event_id]
    assert [(r.consumer, r.event_id) for r in await rows(service_engine, inbox)] == [
        (durable.durable, event.event_id)
    ]
    assert [r.event_id for r in await rows(service_engine, outbox)] == [follow_up.event_id]
    info = await js.consumer_info(durable.stream, durable.durable)
    assert info.num_redelivered == 0


async def test_a_duplicate_event_is_acked_and_skipped(
    service_engine: AsyncEngine, js: JetStreamContext, durable: ConsumerSpec,
    make_event: MakeEvent, eventually: Eventually,
) -> None:
    event = make_event()
    handler = Recorder(succeed)
    # Twice on the stream (no Nats-Msg-Id): what a redelivery after a lost ack looks like.
    await publish(js, durable, event.model_dump_json().encode())
    await publish(js, durable, event.model_dump_json().encode())
    async with consuming(durable, js, service_engine, handler):
        await eventually(settled(js, durable, 2), what="both acked")

    assert len(handler.calls) == 1
    assert len(await rows(service_engine, effects)) == 1
    assert len(await rows(service_engine, inbox)) == 1
    assert await rows(service_engine, parked_events) == []


async def test_a_failing_handler_leaves_no_trace_and_is_retried_after_the_backoff(
    service_engine: AsyncEngine, js: JetStreamContext, durable: ConsumerSpec,
    make_event: MakeEvent, eventually: Eventually,
) -> None:
    event = make_event()
    handler = Recorder(fail, succeed)
    await publish(js, durable, event.model_dump_json().encode())
    async with consuming(durable, js, service_engine, handler):
        await eventually(settled(js, durable, 1), what="acked after the retry")

    assert len(handler.calls) == 2
    assert handler.gaps()[0] >= durable.backoff_seconds[0] - 0.05
    # Only the successful attempt's effect and inbox mark were committed.
    assert [r.attempt for r in await rows(service_engine, effects)] == [2]
    assert len(await rows(service_engine, inbox)) == 1
    assert await rows(service_engine, parked_events) == []


async def test_a_failed_commit_is_not_acked(
    service_engine: AsyncEngine, js: JetStreamContext, durable: ConsumerSpec,
    make_event: MakeEvent, eventually: Eventually,
) -> None:
    async def conflicting_claims(event: CampaignPaused, uow: UnitOfWork) -> None:
        await uow.conn.execute(claims.insert(), [{"key": "same"}, {"key": "same"}])

    handler = Recorder(conflicting_claims)
    await publish(js, durable, make_event().model_dump_json().encode())
    async with consuming(durable, js, service_engine, handler):
        await eventually(settled(js, durable, 1), what="parked after every commit failed")

    # The handler returned every time; only the commit failed, and the message came back.
    assert len(handler.calls) == durable.max_deliver
    [parked] = await rows(service_engine, parked_events)
    assert "UniqueViolation" in parked.reason
    assert await rows(service_engine, effects) == []
    assert await rows(service_engine, inbox) == []


async def test_after_max_deliver_attempts_the_event_is_parked_and_terminated(
    service_engine: AsyncEngine, js: JetStreamContext, durable: ConsumerSpec,
    make_event: MakeEvent, eventually: Eventually,
) -> None:
    payload = make_event().model_dump_json().encode()
    handler = Recorder(fail)
    await publish(js, durable, payload)
    async with consuming(durable, js, service_engine, handler):
        await eventually(settled(js, durable, 1), what="parked")
        # Terminated: no further delivery even after the backoff and the ack wait.
        await asyncio.sleep(durable.backoff_seconds[-1] + 0.3)

    assert len(handler.calls) == durable.max_deliver == 3
    [parked] = await rows(service_engine, parked_events)
    assert parked.consumer == durable.durable
    assert parked.subject.startswith("sktest.")
    assert parked.data == payload
    assert parked.attempts == 3
    assert "ValueError('boom')" in parked.reason
    assert parked.replayed_at is None
    assert await rows(service_engine, effects) == []
    assert await rows(service_engine, inbox) == []


async def test_invalid_payloads_are_parked_at_once(
    service_engine: AsyncEngine, js: JetStreamContext, durable: ConsumerSpec,
    make_event: MakeEvent, eventually: Eventually,
) -> None:
    valid = json.loads(make_event().model_dump_json())
    payloads = [
        b"{not json",
        json.dumps({**valid, "type": "campaign.renamed"}).encode(),
        json.dumps({**valid, "payload": {**valid["payload"], "extra": 1}}).encode(),
        json.dumps({k: v for k, v in valid.items() if k != "workspace_id"}).encode(),
    ]
    handler = Recorder(succeed)
    for payload in payloads:
        await publish(js, durable, payload)
    async with consuming(durable, js, service_engine, handler):
        await eventually(settled(js, durable, len(payloads)), what="all parked")

    assert handler.calls == []
    parked = await rows(service_engine, parked_events)
    assert sorted(p.data for p in parked) == sorted(payloads)
    assert {p.attempts for p in parked} == {1}
    assert all(p.reason.startswith("invalid event") for p in parked)
    info = await js.consumer_info(durable.stream, durable.durable)
    assert info.num_redelivered == 0


async def test_retry_later_defers_with_its_own_delay_and_does_not_park(
    service_engine: AsyncEngine, js: JetStreamContext, durable: ConsumerSpec,
    make_event: MakeEvent, eventually: Eventually,
) -> None:
    handler = Recorder(retry_later(0.8), succeed)
    await publish(js, durable, make_event().model_dump_json().encode())
    async with consuming(durable, js, service_engine, handler):
        await eventually(settled(js, durable, 1), what="handled after the deferral")

    assert len(handler.calls) == 2
    assert handler.gaps()[0] >= 0.75  # the handler's delay, not the consumer's 0.3 s backoff
    assert [r.attempt for r in await rows(service_engine, effects)] == [2]
    assert await rows(service_engine, parked_events) == []


async def test_retry_later_on_the_last_delivery_parks_instead_of_dropping(
    service_engine: AsyncEngine, js: JetStreamContext, durable: ConsumerSpec,
    make_event: MakeEvent, eventually: Eventually,
) -> None:
    handler = Recorder(retry_later(0.1))
    await publish(js, durable, make_event().model_dump_json().encode())
    async with consuming(durable, js, service_engine, handler):
        await eventually(settled(js, durable, 1), what="parked")

    assert len(handler.calls) == durable.max_deliver
    [parked] = await rows(service_engine, parked_events)
    assert parked.reason == "retry later: campaign not known yet"
    assert parked.attempts == durable.max_deliver


async def test_events_without_a_handler_are_acked_and_left_alone(
    service_engine: AsyncEngine, js: JetStreamContext, durable: ConsumerSpec,
    eventually: Eventually,
) -> None:
    other = CampaignResumed.create(CampaignRef(campaign_id=uuid.uuid4()),
                                   workspace_id=uuid.uuid4())
    handler = Recorder(succeed)
    await publish(js, durable, other.model_dump_json().encode())
    async with consuming(durable, js, service_engine, handler):
        await eventually(settled(js, durable, 1), what="acked")

    assert handler.calls == []
    assert await rows(service_engine, inbox) == []
    assert await rows(service_engine, parked_events) == []


async def test_concurrent_handling_handles_every_event_once(
    service_engine: AsyncEngine, js: JetStreamContext, consumer_spec: ConsumerSpec,
    make_event: MakeEvent, eventually: Eventually,
) -> None:
    spec = dataclasses.replace(consumer_spec, batch_size=10)
    await ensure_consumer(js, spec)
    events = [make_event(n) for n in range(25)]
    for event in events:
        await publish(js, spec, event.model_dump_json().encode())
    handler = Recorder(succeed)
    async with consuming(spec, js, service_engine, handler, concurrency=4):
        await eventually(settled(js, spec, len(events)), what="all acked")

    assert len(handler.calls) == len(events)
    assert sorted(r.event_id for r in await rows(service_engine, inbox)) == sorted(
        e.event_id for e in events
    )
