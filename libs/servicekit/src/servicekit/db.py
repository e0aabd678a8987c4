"""Engine, the messaging tables every service has (outbox, inbox, parked), and the unit of work.

A unit of work is one transaction: the service's own writes, the inbox mark of the event being
handled and the outbox rows of the events it emits commit together or not at all.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Mapping, Sequence
from types import TracebackType
from typing import Self

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import JSONB, UUID, insert
from sqlalchemy.ext.asyncio import (
    AsyncConnection,
    AsyncEngine,
    AsyncTransaction,
    create_async_engine,
)

from contracts import Event
from servicekit.tracing import current_trace_headers

OUTBOX_CHANNEL = "outbox"

metadata = sa.MetaData()

outbox = sa.Table(
    "outbox",
    metadata,
    sa.Column("id", sa.BigInteger, sa.Identity(), primary_key=True),
    sa.Column("event_id", UUID(as_uuid=True), nullable=False, unique=True),
    sa.Column("subject", sa.Text, nullable=False),
    sa.Column("data", sa.LargeBinary, nullable=False),
    sa.Column("headers", JSONB, nullable=False, server_default=sa.text("'{}'::jsonb")),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False,
              server_default=sa.func.now()),
    sa.Column("published_at", sa.DateTime(timezone=True)),
    sa.Index("outbox_unpublished", "id", postgresql_where=sa.text("published_at IS NULL")),
)

inbox = sa.Table(
    "inbox",
    metadata,
    sa.Column("consumer", sa.Text, primary_key=True),
    sa.Column("event_id", UUID(as_uuid=True), primary_key=True),
    sa.Column("processed_at", sa.DateTime(timezone=True), nullable=False,
              server_default=sa.func.now()),
)

parked_events = sa.Table(
    "parked_events",
    metadata,
    sa.Column("id", sa.BigInteger, sa.Identity(), primary_key=True),
    sa.Column("consumer", sa.Text, nullable=False),
    sa.Column("subject", sa.Text, nullable=False),
    sa.Column("data", sa.LargeBinary, nullable=False),
    sa.Column("reason", sa.Text, nullable=False),
    sa.Column("attempts", sa.Integer, nullable=False),
    sa.Column("parked_at", sa.DateTime(timezone=True), nullable=False,
              server_default=sa.func.now()),
    sa.Column("replayed_at", sa.DateTime(timezone=True)),
)


def create_engine(url: str, *, pool_size: int = 5) -> AsyncEngine:
    return create_async_engine(url, pool_size=pool_size, max_overflow=pool_size, pool_pre_ping=True)


# Every event of a commit in one statement, the columns as arrays, in the order published.
# Deterministic event ids make a re-emitted event a no-op here as well as in NATS.
_INSERT_OUTBOX = sa.text("""
    INSERT INTO outbox (event_id, subject, data, headers)
    SELECT v.event_id, v.subject, v.data, CAST(v.headers AS jsonb)
    FROM unnest(CAST(:event_id AS uuid[]), CAST(:subject AS text[]), CAST(:data AS bytea[]),
                CAST(:headers AS text[])) WITH ORDINALITY AS v(event_id, subject, data, headers, n)
    ORDER BY v.n
    ON CONFLICT (event_id) DO NOTHING
""")


def outbox_columns(events: Sequence[tuple[Event, Mapping[str, str]]]) -> dict[str, list[object]]:
    """The parameters of `_INSERT_OUTBOX`. The headers are published with each event: the trace
    context of the work that emitted it."""
    # The events of one `publish` call share one headers mapping: encoded once.
    encoded: dict[int, str] = {}
    return {
        "event_id": [e.event_id for e, _ in events],
        "subject": [e.subject for e, _ in events],
        "data": [e.model_dump_json().encode() for e, _ in events],
        "headers": [encoded.get(id(h)) or encoded.setdefault(id(h), json.dumps(dict(h)))
                    for _, h in events],
    }


class UnitOfWork:
    """`async with UnitOfWork(engine) as uow: ...; await uow.commit()`; leaving without commit
    rolls back. Events passed to `publish` are written to the outbox on commit."""

    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine
        self._events: list[tuple[Event, dict[str, str]]] = []
        self._conn: AsyncConnection | None = None
        self._tx: AsyncTransaction | None = None

    @property
    def conn(self) -> AsyncConnection:
        if self._conn is None:
            raise RuntimeError("unit of work used outside `async with`")
        return self._conn

    async def __aenter__(self) -> Self:
        self._conn = await self._engine.connect()
        self._tx = await self._conn.begin()
        self._events = []
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        try:
            if self._tx is not None and self._tx.is_active:
                await self._tx.rollback()
        finally:
            if self._conn is not None:
                await self._conn.close()
            self._conn = self._tx = None

    def publish(self, *events: Event) -> None:
        # The trace context of the span publishing them, so consumers continue its trace.
        headers = current_trace_headers()
        self._events.extend((event, headers) for event in events)

    async def first_delivery(self, consumer: str, event_id: uuid.UUID) -> bool:
        """Mark the event as handled by this consumer; False when it already was."""
        stmt = (
            insert(inbox)
            .values(consumer=consumer, event_id=event_id)
            .on_conflict_do_nothing()
            .returning(inbox.c.event_id)
        )
        return (await self.conn.execute(stmt)).first() is not None

    async def commit(self) -> None:
        if self._events:
            await self.conn.execute(_INSERT_OUTBOX, outbox_columns(self._events))
            await self.conn.execute(sa.select(sa.func.pg_notify(OUTBOX_CHANNEL, "")))
            self._events = []
        assert self._tx is not None
        await self._tx.commit()
