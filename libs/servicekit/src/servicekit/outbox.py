"""The relay: publishes outbox rows to JetStream with Nats-Msg-Id, then marks them published.

Replicas share the work by claiming rows with FOR UPDATE SKIP LOCKED; NOTIFY wakes the relay
as soon as a transaction commits an outbox row, and a short poll covers missed notifications.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import time
import uuid
from datetime import timedelta

import asyncpg
import sqlalchemy as sa
import structlog
from nats.js import JetStreamContext
from nats.js.api import PubAck
from opentelemetry.trace import SpanKind
from prometheus_client import Counter, Gauge
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.ext.asyncio import AsyncEngine

from contracts.streams import STREAMS
from servicekit.db import OUTBOX_CHANNEL, inbox, outbox
from servicekit.settings import asyncpg_dsn
from servicekit.shutdown import Shutdown
from servicekit.tracing import current_trace_headers, recorded, span_from_headers

log = structlog.get_logger(__name__)

PUBLISHED = Counter("outbox_published_total", "Events published from the outbox", ["subject"])
BACKLOG = Gauge("outbox_backlog", "Outbox rows not yet published")
OLDEST_AGE = Gauge("outbox_oldest_age_seconds", "Age of the oldest unpublished outbox row")

_DATABASE_ERRORS = (asyncpg.PostgresError, OSError, sa.exc.DBAPIError)
# Seconds between tries to LISTEN again while the database is away.
_RELISTEN = 1.0
# An inbox mark outlives every message its stream could still deliver, so that even a replay
# of a whole stream (a consumer recreated after a restore) is recognised.
_INBOX_RETENTION = timedelta(days=max(s.max_age_days for s in STREAMS) + 1)
_MARK_PUBLISHED = (
    sa.update(outbox)
    .where(outbox.c.id == sa.func.any(sa.bindparam("ids", type_=ARRAY(sa.BigInteger))))
    .values(published_at=sa.func.now())
)


class OutboxRelay:
    def __init__(
        self,
        engine: AsyncEngine,
        js: JetStreamContext,
        *,
        batch_size: int = 500,
        poll_interval: float = 1.0,
        retention: timedelta = timedelta(days=1),
        inbox_retention: timedelta = _INBOX_RETENTION,
        prune_interval: float = 600.0,
        ack_timeout: float = 10.0,
    ) -> None:
        self._engine = engine
        self._js = js
        self._batch_size = batch_size
        self._poll_interval = poll_interval
        self._retention = retention
        self._inbox_retention = inbox_retention
        self._prune_interval = prune_interval
        self._pruned_at: float | None = None
        self._ack_timeout = ack_timeout
        self._wake = asyncio.Event()

    async def run(self, until: Shutdown | None = None) -> None:
        """Publishes until `until` is requested, then publishes what is left and returns."""
        listener: asyncpg.Connection | None = None
        woken = None if until is None else asyncio.create_task(self._wake_on(until))
        try:
            while until is None or not until.requested:
                # A restarted database closes the LISTEN connection (which wakes this loop):
                # without a new one, every commit would wait for the poll.
                if listener is None or listener.is_closed():
                    listener = await self._listen()
                # Cleared before the batch, not after: a NOTIFY for a row committed while the
                # batch runs must still wake the next pass instead of waiting for the poll.
                self._wake.clear()
                try:
                    published = await self.publish_batch()
                except _DATABASE_ERRORS as exc:
                    log.warning("outbox.relay_failed", error=str(exc))
                    published = 0
                if published == self._batch_size:
                    continue
                wait = self._poll_interval if listener else min(self._poll_interval, _RELISTEN)
                try:
                    await asyncio.wait_for(self._wake.wait(), wait)
                except TimeoutError:
                    try:
                        await self._observe()
                    except _DATABASE_ERRORS as exc:  # the database may be briefly away
                        log.warning("outbox.observe_failed", error=str(exc))
            # Stopping: what the service's last work committed goes out now, not at the next
            # start.
            with contextlib.suppress(*_DATABASE_ERRORS):
                while await self.publish_batch() == self._batch_size:
                    pass
        finally:
            if woken is not None:
                woken.cancel()
            if listener is not None:
                await listener.close()

    async def _wake_on(self, until: Shutdown) -> None:
        await until.wait()
        self._wake.set()

    async def _listen(self) -> asyncpg.Connection | None:
        """A connection that LISTENs for committed outbox rows; None while the database is
        away (the loop then tries again every `_RELISTEN` seconds)."""
        dsn = asyncpg_dsn(self._engine.url.render_as_string(hide_password=False))
        try:
            conn: asyncpg.Connection = await asyncpg.connect(dsn)
        except (*_DATABASE_ERRORS, asyncpg.InterfaceError, TimeoutError) as exc:
            log.warning("outbox.listen_failed", error=str(exc))
            return None
        try:
            await conn.add_listener(OUTBOX_CHANNEL, lambda *_: self._wake.set())
        except (*_DATABASE_ERRORS, asyncpg.InterfaceError) as exc:
            log.warning("outbox.listen_failed", error=str(exc))
            conn.terminate()
            return None
        conn.add_termination_listener(lambda _: self._wake.set())
        return conn

    async def publish_batch(self) -> int:
        """Publish up to one batch; returns how many rows were published."""
        async with self._engine.begin() as conn:
            rows = (
                await conn.execute(
                    sa.select(outbox.c.id, outbox.c.event_id, outbox.c.subject, outbox.c.data,
                              outbox.c.headers)
                    .where(outbox.c.published_at.is_(None))
                    .order_by(outbox.c.id)
                    .limit(self._batch_size)
                    .with_for_update(skip_locked=True)
                )
            ).all()
            if not rows:
                return 0
            # Every publish leaves in row order on the one connection; their acks are awaited
            # together. A row whose ack fails or does not come stays for the next pass.
            acks = [await self._publish(r.subject, r.data, r.event_id, r.headers) for r in rows]
            await asyncio.wait(acks, timeout=self._ack_timeout)
            done: list[int] = []
            published: collections.Counter[str] = collections.Counter()
            for row, ack in zip(rows, acks, strict=True):
                if not ack.done():
                    ack.cancel()
                    log.warning("outbox.publish_unacknowledged", subject=row.subject)
                elif ack.exception() is not None:
                    log.warning("outbox.publish_failed", subject=row.subject,
                                error=str(ack.exception()))
                else:
                    done.append(row.id)
                    published[row.subject] += 1
            for subject, count in published.items():
                PUBLISHED.labels(subject).inc(count)
            if done:
                # One array parameter: the statement is the same for any number of rows.
                await conn.execute(_MARK_PUBLISHED, {"ids": done})
            return len(done)

    async def _publish(
        self, subject: str, data: bytes, event_id: uuid.UUID, headers: dict[str, str]
    ) -> asyncio.Future[PubAck]:
        msg_id = {"Nats-Msg-Id": str(event_id)}
        if not headers or not recorded():
            # Emitted outside any trace (a timer), or no span would be recorded: the event
            # carries the trace context it was emitted in, as it is.
            return await self._js.publish_async(subject, data, headers={**headers, **msg_id})
        # The publish joins the trace of the work that emitted the event; consumers continue
        # from this span.
        with span_from_headers(f"publish {subject}", headers, kind=SpanKind.PRODUCER,
                               attributes={"messaging.destination.name": subject,
                                           "messaging.message.id": str(event_id)}):
            return await self._js.publish_async(
                subject, data, headers={**current_trace_headers(), **msg_id}
            )

    async def _observe(self) -> None:
        """Backlog metrics, and now and then pruning of old rows; runs when idle."""
        async with self._engine.begin() as conn:
            row = (
                await conn.execute(
                    sa.select(
                        sa.func.count(),
                        sa.func.extract("epoch", sa.func.now() - sa.func.min(outbox.c.created_at)),
                    ).where(outbox.c.published_at.is_(None))
                )
            ).one()
            BACKLOG.set(row[0])
            OLDEST_AGE.set(float(row[1] or 0))
        now = time.monotonic()
        if self._pruned_at is None or now - self._pruned_at >= self._prune_interval:
            await self.prune()
            self._pruned_at = now

    async def prune(self) -> None:
        """Deletes outbox rows published, and inbox marks made, longer ago than their
        retention. Not on every idle pass: without an index on those times each is a scan."""
        async with self._engine.begin() as conn:
            await conn.execute(
                sa.delete(outbox).where(outbox.c.published_at < sa.func.now() - self._retention)
            )
            await conn.execute(
                sa.delete(inbox).where(
                    inbox.c.processed_at < sa.func.now() - self._inbox_retention
                )
            )
