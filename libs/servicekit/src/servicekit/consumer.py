"""Durable pull consumers that hand each event to a handler inside a unit of work.

Per message: parse and validate the envelope (invalid → parked and terminated), skip it if the
inbox has seen it, run the handler, commit, and only then ack. A failing handler is retried with
the consumer's backoff; after `max_deliver` attempts the event is parked for an operator.
A handler registered with `Handlers.outside_transaction` does its slow part (a call to another
system) first, holding no connection, and returns the step written in the unit of work.

On an orderly stop (servicekit.shutdown) a consumer fetches no more; the events in hand are
handled, committed and acked within the grace, or nak'ed without delay when it ends first.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from typing import Any, TypeVar

import nats.errors
import pydantic
import structlog
from nats.aio.msg import Msg
from nats.js import JetStreamContext
from opentelemetry.trace import SpanKind, StatusCode
from prometheus_client import Counter, Histogram
from sqlalchemy.ext.asyncio import AsyncEngine

from contracts import Event, parse_event
from contracts.streams import ConsumerSpec
from servicekit.db import UnitOfWork, parked_events
from servicekit.shutdown import Shutdown
from servicekit.tracing import span_from_headers

log = structlog.get_logger(__name__)

E = TypeVar("E", bound=Event)
Handler = Callable[[Any, UnitOfWork], Awaitable[None]]
# What a handler's slow part leaves to do in the event's unit of work.
Commit = Callable[[UnitOfWork], Awaitable[None]]
Prepare = Callable[[Any], Awaitable[Commit]]

CONSUMED = Counter(
    "events_consumed_total", "Events handled, by outcome", ["consumer", "type", "outcome"]
)
HANDLE_SECONDS = Histogram("event_handle_seconds", "Time to handle one event", ["consumer", "type"])
# See Consumer._commits.
COMMITS_AT_ONCE = 4
# Seconds a fetch waits for a message. A stop waits for the fetch under way rather than
# cancelling it (the message it would still bring would then wait out its ack wait), so this
# is also how long stopping a consumer can take.
_FETCH_WAIT = 2.0


def log_context(event: Event) -> dict[str, str]:
    """What every log line written while handling the event carries; `campaign_id` when the
    payload names a campaign."""
    context = {"correlation_id": str(event.correlation_id),
               "workspace_id": str(event.workspace_id)}
    campaign_id = getattr(event.payload, "campaign_id", None)
    if campaign_id is not None:
        context["campaign_id"] = str(campaign_id)
    return context


class RetryLater(Exception):  # noqa: N818 - a decision, not a failure
    """Raised by a handler that cannot act yet (e.g. state it depends on has not arrived)."""

    def __init__(self, reason: str, delay: float = 2.0) -> None:
        super().__init__(reason)
        self.delay = delay


@dataclass
class Handlers:
    """Maps event classes to handlers: `handlers.on(EmailDue)(handle_email_due)`."""

    table: dict[str, Handler] = field(default_factory=dict)
    prepared: dict[str, Prepare] = field(default_factory=dict)

    def on(
        self, event_type: type[E]
    ) -> Callable[[Callable[[E, UnitOfWork], Awaitable[None]]], Handler]:
        def register(fn: Callable[[E, UnitOfWork], Awaitable[None]]) -> Handler:
            self.table[event_type.TYPE] = fn
            return fn

        return register

    def outside_transaction(
        self, event_type: type[E]
    ) -> Callable[[Callable[[E], Awaitable[Commit]]], Prepare]:
        """For handlers that wait on another system: `fn(event)` runs outside any unit of work
        and returns the step committed with the event's inbox mark. It may run again for an
        event already handled (the inbox is checked when committing), so it must find out for
        itself when there is nothing left to do."""
        def register(fn: Callable[[E], Awaitable[Commit]]) -> Prepare:
            self.prepared[event_type.TYPE] = fn
            return fn

        return register

    def get(self, event_type: str) -> Handler | None:
        return self.table.get(event_type)

    def steps(self, event_type: str) -> Prepare | None:
        """The event's handling as a step outside any transaction, then one inside."""
        if (prepare := self.prepared.get(event_type)) is not None:
            return prepare
        handler = self.table.get(event_type)
        if handler is None:
            return None

        async def in_transaction_only(event: Event) -> Commit:
            return lambda uow: handler(event, uow)

        return in_transaction_only


async def apply(
    engine: AsyncEngine, consumer: str, event: Event, prepare: Prepare,
    units: asyncio.Semaphore | None = None,
) -> str:
    """Handles one event: "handled", or "duplicate" when `consumer` has already handled it.
    `units` bounds the units of work open at once."""
    commit = await prepare(event)
    async with units or contextlib.nullcontext(), UnitOfWork(engine) as uow:
        if not await uow.first_delivery(consumer, event.event_id):
            return "duplicate"
        await commit(uow)
        await uow.commit()
    return "handled"


class Consumer:
    def __init__(
        self,
        spec: ConsumerSpec,
        js: JetStreamContext,
        engine: AsyncEngine,
        handlers: Handlers,
        *,
        concurrency: int = 1,
    ) -> None:
        self.spec = spec
        self._js = js
        self._engine = engine
        self._handlers = handlers
        # Above 1, events are handled concurrently, order is not kept, and the consumer
        # fetches whenever a slot frees, so one slow event never holds up the others.
        self._limit = concurrency
        self._ordered = concurrency == 1
        # Units of work open at once after a slow part done outside any transaction: they are
        # short, and when many slow parts end together, a few at a time commit in the order
        # they ended and free their slots for the next events, where all at once would share
        # the event loop and the pool and all end late (holding every slot meanwhile).
        self._commits = asyncio.Semaphore(COMMITS_AT_ONCE)

    async def run(self, shutdown: Shutdown | None = None) -> None:
        """Until `shutdown` is requested: then no more fetches, the events in hand are
        handled (or handed back, if the grace ends first), and it returns."""
        stopping = shutdown or Shutdown(0)  # without one, never requested
        sub = await self._js.pull_subscribe_bind(self.spec.durable, stream=self.spec.stream)
        try:
            if self._ordered:
                await self._run_in_order(sub, stopping)
            else:
                await self._run_concurrently(sub, stopping)
        finally:
            await _unsubscribe(sub)

    async def _run_in_order(
        self, sub: JetStreamContext.PullSubscription, stopping: Shutdown
    ) -> None:
        while not stopping.requested:
            msgs = collections.deque(await self._fetch(sub, self.spec.batch_size))
            try:
                while msgs and not stopping.requested:
                    await self._handle_safely(msgs[0])
                    msgs.popleft()
            finally:
                # Stopping, or cancelled when the grace ended: the events not yet handled go
                # back at once, to be delivered to the next consumer.
                await self._hand_back(msgs)

    async def _run_concurrently(
        self, sub: JetStreamContext.PullSubscription, stopping: Shutdown
    ) -> None:
        free = asyncio.Semaphore(self._limit)
        running: set[asyncio.Task[None]] = set()
        try:
            while True:
                await free.acquire()
                slots = 1
                while not free.locked():  # take every other free slot too
                    await free.acquire()
                    slots += 1
                if stopping.requested:
                    break
                # Never fetch more than can be worked on at once, or the rest would wait out
                # their ack wait.
                msgs = await self._fetch(sub, min(slots, self.spec.batch_size))
                if stopping.requested:  # fetched while the stop began
                    await self._hand_back(msgs)
                    break
                for _ in range(slots - len(msgs)):
                    free.release()
                for msg in msgs:
                    task = asyncio.create_task(self._handle_safely(msg))
                    running.add(task)
                    task.add_done_callback(running.discard)
                    task.add_done_callback(lambda _: free.release())
            # The events in hand are finished; cancelled when the grace ends first.
            await asyncio.gather(*running)
        finally:
            if running:
                # Before the events in hand are handed back: a fetch cut short leaves its pull
                # request waiting at the server, which would take one of them to an inbox no
                # one reads any more, to wait out its ack wait there. Without the
                # subscription's interest, the server drops that request.
                await _unsubscribe(sub)
            for task in running:
                task.cancel()
            await asyncio.gather(*running, return_exceptions=True)

    @staticmethod
    async def _hand_back(msgs: Iterable[Msg]) -> None:
        """Nak without delay: redelivered at once, not after their ack wait."""
        for msg in msgs:
            with contextlib.suppress(Exception):  # already settled, or the broker is away
                await msg.nak()

    async def _fetch(self, sub: JetStreamContext.PullSubscription, batch: int) -> list[Msg]:
        """Up to `batch` messages; none when there is nothing to fetch right now."""
        try:
            return await self._next_batch(sub, batch)
        except (TimeoutError, nats.errors.TimeoutError):
            return []
        except nats.errors.Error as exc:  # disconnected: the client reconnects by itself
            log.warning("consumer.fetch_failed", consumer=self.spec.durable, error=repr(exc))
            await asyncio.sleep(0.5)
            return []

    @staticmethod
    async def _next_batch(sub: JetStreamContext.PullSubscription, batch: int) -> list[Msg]:
        # A batch fetch that waits for messages holds the first one until the batch fills
        # or the wait ends; so wait for one, then take whatever else is already there.
        first = await sub.fetch(1, timeout=_FETCH_WAIT)
        if batch == 1:
            return first
        try:
            return first + await sub.fetch(batch - 1, timeout=0.05)
        except (TimeoutError, nats.errors.TimeoutError):
            return first

    async def _handle_safely(self, msg: Msg) -> None:
        """An ack, nak or park that fails (broker or database away) must not stop the
        consumer: the message is simply redelivered once its ack wait has passed."""
        try:
            await self.handle(msg)
        except asyncio.CancelledError:
            # The stop's grace ended while handling it (its unit of work is rolled back).
            await self._hand_back([msg])
            raise
        except Exception as exc:
            log.warning("consumer.settle_failed", consumer=self.spec.durable,
                        subject=msg.subject, error=repr(exc))

    async def handle(self, msg: Msg) -> None:
        name = self.spec.durable
        try:
            event = parse_event(msg.data)
        except (pydantic.ValidationError, ValueError) as exc:
            await self._park(msg, f"invalid event: {exc}")
            await msg.term()
            CONSUMED.labels(name, msg.subject, "invalid").inc()
            return
        handler = self._handlers.steps(event.type)
        units = self._commits if event.type in self._handlers.prepared else None
        if handler is None:
            await msg.ack()
            CONSUMED.labels(name, event.type, "ignored").inc()
            return
        with (
            structlog.contextvars.bound_contextvars(**log_context(event)),
            span_from_headers(f"consume {event.type}", msg.headers, kind=SpanKind.CONSUMER,
                              attributes={"messaging.consumer.group.name": name,
                                          "messaging.message.id": str(event.event_id)}) as span,
        ):
            outcome = await self._settle(msg, event, handler, units)
            span.set_attribute("outcome", outcome)
            if outcome in ("failed", "parked"):
                span.set_status(StatusCode.ERROR)

    async def _settle(
        self, msg: Msg, event: Event, handler: Prepare, units: asyncio.Semaphore | None
    ) -> str:
        """Handle, then ack, nak or park; returns the outcome counted."""
        name = self.spec.durable
        bound = log.bind(consumer=name, event_type=event.type, event_id=str(event.event_id))
        try:
            with HANDLE_SECONDS.labels(name, event.type).time():
                outcome = await apply(self._engine, name, event, handler, units)
        except RetryLater as exc:
            if msg.metadata.num_delivered >= self.spec.max_deliver:
                # JetStream will not deliver it again: park it rather than drop it silently.
                bound.error("event.parked", attempts=msg.metadata.num_delivered, error=str(exc))
                await self._give_up(msg, event.type, f"retry later: {exc}")
                return "parked"
            bound.info("event.retry_later", reason=str(exc))
            await msg.nak(delay=exc.delay)
            CONSUMED.labels(name, event.type, "deferred").inc()
            return "deferred"
        except Exception as exc:
            attempts = msg.metadata.num_delivered
            if attempts >= self.spec.max_deliver:
                bound.error("event.parked", attempts=attempts, error=repr(exc))
                await self._give_up(msg, event.type, repr(exc))
                return "parked"
            bound.warning("event.failed", attempts=attempts, error=repr(exc), exc_info=exc)
            await msg.nak(delay=self._backoff(attempts))
            CONSUMED.labels(name, event.type, "failed").inc()
            return "failed"
        await msg.ack()
        CONSUMED.labels(name, event.type, outcome).inc()
        return outcome

    def _backoff(self, attempts: int) -> float:
        steps = self.spec.backoff_seconds
        return steps[min(attempts, len(steps)) - 1]

    async def _give_up(self, msg: Msg, event_type: str, reason: str) -> None:
        await self._park(msg, reason)
        await msg.term()
        CONSUMED.labels(self.spec.durable, event_type, "parked").inc()

    async def _park(self, msg: Msg, reason: str) -> None:
        attempts = msg.metadata.num_delivered if msg.metadata else 0
        async with self._engine.begin() as conn:
            await conn.execute(
                parked_events.insert().values(
                    consumer=self.spec.durable, subject=msg.subject, data=msg.data,
                    reason=reason[:4000], attempts=attempts,
                )
            )


async def _unsubscribe(sub: JetStreamContext.PullSubscription) -> None:
    with contextlib.suppress(Exception):  # unsubscribed already, or the connection is gone
        await sub.unsubscribe()
