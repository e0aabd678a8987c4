"""An orderly stop of a consumer (servicekit.shutdown): it fetches no more, a handler under way
finishes, commits and acks within the grace, and one that outlasts the grace is cancelled and
its event handed back at once, never left to wait out its ack wait."""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import Awaitable, Callable

import pytest
import sqlalchemy as sa
from nats.js import JetStreamContext
from sqlalchemy.ext.asyncio import AsyncEngine

from contracts import CampaignPaused
from contracts.streams import ConsumerSpec
from servicekit.broker import ensure_consumer
from servicekit.consumer import Consumer, Handlers
from servicekit.db import UnitOfWork, inbox
from servicekit.shutdown import Shutdown

MakeEvent = Callable[..., CampaignPaused]
Eventually = Callable[..., Awaitable[float]]

# Far longer than the tests wait: an event left to its ack wait would time them out.
LONG_ACK_WAIT = 120


@pytest.fixture
async def spec(js: JetStreamContext, consumer_spec: ConsumerSpec) -> ConsumerSpec:
    long = dataclasses.replace(consumer_spec, ack_wait_seconds=LONG_ACK_WAIT)
    await ensure_consumer(js, long)
    return long


class Gate:
    """A handler that waits, the first `holds` times, until the test opens the gate."""

    def __init__(self, holds: int = 1) -> None:
        self.entered = asyncio.Event()
        self.opened = asyncio.Event()
        self.calls = 0
        self._holds = holds

    async def __call__(self, event: CampaignPaused, uow: UnitOfWork) -> None:
        self.calls += 1
        if self.calls <= self._holds:
            self.entered.set()
            await self.opened.wait()


def consumer(spec: ConsumerSpec, js: JetStreamContext, engine: AsyncEngine, handler: Gate,
             concurrency: int) -> Consumer:
    handlers = Handlers()
    handlers.on(CampaignPaused)(handler)
    return Consumer(spec, js, engine, handlers, concurrency=concurrency)


async def publish(js: JetStreamContext, spec: ConsumerSpec, event: CampaignPaused) -> None:
    await js.publish(spec.filter_subjects[0].replace(">", "event"),
                     event.model_dump_json().encode())


async def handled(engine: AsyncEngine) -> int:
    async with engine.connect() as conn:
        return int(await conn.scalar(sa.select(sa.func.count()).select_from(inbox)) or 0)


def settled(
    js: JetStreamContext, spec: ConsumerSpec, messages: int
) -> Callable[[], Awaitable[bool]]:
    async def check() -> bool:
        info = await js.consumer_info(spec.stream, spec.durable)
        assert info.ack_floor is not None
        return (info.ack_floor.stream_seq, info.num_ack_pending) == (messages, 0)

    return check


async def next_consumer_settles(
    js: JetStreamContext, spec: ConsumerSpec, engine: AsyncEngine, gate: Gate,
    concurrency: int, messages: int, eventually: Eventually,
) -> float:
    """Seconds until a new consumer has handled and acked the stream's `messages`; fails
    long before their ack wait would have passed."""
    after = asyncio.create_task(consumer(spec, js, engine, gate, concurrency).run())
    try:
        return await eventually(settled(js, spec, messages), seconds=LONG_ACK_WAIT / 4,
                                what="handed back and handled by the next consumer")
    finally:
        after.cancel()
        await asyncio.gather(after, return_exceptions=True)


@pytest.mark.parametrize("concurrency", [1, 4], ids=["in order", "concurrent"])
async def test_a_handler_under_way_finishes_commits_and_acks_and_nothing_more_is_fetched(
    engine: AsyncEngine, js: JetStreamContext, spec: ConsumerSpec, make_event: MakeEvent,
    eventually: Eventually, concurrency: int,
) -> None:
    gate = Gate()
    shutdown = Shutdown(grace=30)
    running = asyncio.create_task(consumer(spec, js, engine, gate, concurrency).run(shutdown))
    await publish(js, spec, make_event(1))
    await asyncio.wait_for(gate.entered.wait(), 10)

    shutdown.request()
    await publish(js, spec, make_event(2))  # arrives after the stop began
    gate.opened.set()
    await asyncio.wait_for(running, 10)  # returns by itself, well within the grace

    assert gate.calls == 1
    assert await handled(engine) == 1
    info = await js.consumer_info(spec.stream, spec.durable)
    assert info.ack_floor is not None
    assert info.ack_floor.stream_seq == 1

    # The second was not fetched, or handed back: the next consumer handles it at once.
    took = await next_consumer_settles(js, spec, engine, gate, concurrency, 2, eventually)
    assert took < LONG_ACK_WAIT / 4
    assert gate.calls == 2
    assert await handled(engine) == 2


@pytest.mark.parametrize("concurrency", [1, 4], ids=["in order", "concurrent"])
async def test_a_handler_that_outlasts_the_grace_is_cancelled_and_its_event_goes_back_at_once(
    engine: AsyncEngine, js: JetStreamContext, spec: ConsumerSpec, make_event: MakeEvent,
    eventually: Eventually, concurrency: int,
) -> None:
    gate = Gate(holds=1)  # never opened: the first delivery would hold forever
    shutdown = Shutdown(grace=0.5)
    running = asyncio.create_task(consumer(spec, js, engine, gate, concurrency).run(shutdown))
    await publish(js, spec, make_event(1))
    await asyncio.wait_for(gate.entered.wait(), 10)

    # What the runtime does: request the stop, wait out the grace, cancel what still runs.
    shutdown.request()
    _, late = await asyncio.wait([running], timeout=shutdown.remaining())
    assert late == {running}
    running.cancel()
    await asyncio.gather(running, return_exceptions=True)
    assert await handled(engine) == 0  # its unit of work was rolled back

    # The next consumer gets it at once, not after the ack wait.
    took = await next_consumer_settles(js, spec, engine, gate, concurrency, 1, eventually)
    assert took < LONG_ACK_WAIT / 4
    assert gate.calls == 2
    assert await handled(engine) == 1
