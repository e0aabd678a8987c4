"""The scheduler's tables and every query it runs."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import JSONB, UUID, insert
from sqlalchemy.ext.asyncio import AsyncConnection

AnyRow = sa.Row[*tuple[Any, ...]]

metadata = sa.MetaData()

schedules = sa.Table(
    "schedules",
    metadata,
    sa.Column("campaign_id", UUID(as_uuid=True), primary_key=True),
    sa.Column("workspace_id", UUID(as_uuid=True), nullable=False),
    sa.Column("correlation_id", UUID(as_uuid=True), nullable=False),
    sa.Column("schedule", JSONB, nullable=False),
    # active | paused | cancelled | completed | error (a stored schedule the rules cannot read)
    sa.Column("state", sa.Text, nullable=False),
    sa.Column("total_emails", sa.Integer, nullable=False),
    sa.Column("next_sequence", sa.Integer, nullable=False),
    sa.Column("next_slot", sa.Integer, nullable=False),
    sa.Column("next_send_at", sa.DateTime(timezone=True)),
    # The slot of the last send time the published plan (campaign.scheduled) shows; -1: none.
    sa.Column("planned_until", sa.Integer, nullable=False, server_default=sa.text("-1")),
    # next_send_at minus the lead time; NULL unless active with an email to come.
    sa.Column("due_at", sa.DateTime(timezone=True)),
    sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False,
              server_default=sa.func.now(), onupdate=sa.func.now()),
    # Why the schedule is in state `error`.
    sa.Column("error", sa.Text),
    # The trace context of campaign.created: each email.due joins the campaign's trace.
    sa.Column("trace_headers", JSONB),
    # Finding due work costs what is due, not how many campaigns exist.
    sa.Index("schedules_due", "due_at", postgresql_where=sa.text("due_at IS NOT NULL")),
)

skipped_sends = sa.Table(
    "skipped_sends",
    metadata,
    sa.Column("campaign_id", UUID(as_uuid=True), primary_key=True),
    # Slot numbers start again under an updated rule; send times never repeat.
    sa.Column("slot", sa.Integer, nullable=False),
    sa.Column("send_at", sa.DateTime(timezone=True), primary_key=True),
    sa.Column("reason", sa.Text, nullable=False),
    sa.Column("recorded_at", sa.DateTime(timezone=True), nullable=False,
              server_default=sa.func.now()),
)


@dataclass(frozen=True)
class ScheduleRow:
    campaign_id: uuid.UUID
    workspace_id: uuid.UUID
    correlation_id: uuid.UUID
    schedule: dict[str, Any]
    state: str
    total_emails: int
    next_sequence: int
    next_slot: int
    next_send_at: datetime | None
    planned_until: int = -1
    trace_headers: dict[str, str] | None = None


def _row(r: AnyRow) -> ScheduleRow:
    return ScheduleRow(
        r.campaign_id, r.workspace_id, r.correlation_id, r.schedule, r.state, r.total_emails,
        r.next_sequence, r.next_slot, r.next_send_at, r.planned_until, r.trace_headers,
    )


_COLUMNS = (
    schedules.c.campaign_id, schedules.c.workspace_id, schedules.c.correlation_id,
    schedules.c.schedule, schedules.c.state, schedules.c.total_emails,
    schedules.c.next_sequence, schedules.c.next_slot, schedules.c.next_send_at,
    schedules.c.planned_until, schedules.c.trace_headers,
)


async def insert_schedule(conn: AsyncConnection, **values: Any) -> bool:
    stmt = insert(schedules).values(**values).on_conflict_do_nothing().returning(
        schedules.c.campaign_id
    )
    return (await conn.execute(stmt)).first() is not None


async def get_for_update(conn: AsyncConnection, campaign_id: uuid.UUID) -> ScheduleRow | None:
    r = (
        await conn.execute(
            sa.select(*_COLUMNS).where(schedules.c.campaign_id == campaign_id).with_for_update()
        )
    ).first()
    return _row(r) if r else None


async def claim_due(conn: AsyncConnection, now: datetime, limit: int) -> list[ScheduleRow]:
    """Due schedules, locked; replicas skip each other's rows instead of waiting."""
    rows = await conn.execute(
        sa.select(*_COLUMNS)
        .where(schedules.c.due_at.is_not(None), schedules.c.due_at <= now)
        .order_by(schedules.c.due_at)
        .limit(limit)
        .with_for_update(skip_locked=True)
    )
    return [_row(r) for r in rows]


async def next_due(conn: AsyncConnection) -> datetime | None:
    """The earliest due time of any schedule: where the tick loop wakes next (the index's
    first entry)."""
    at: datetime | None = (await conn.execute(
        sa.select(sa.func.min(schedules.c.due_at)).where(schedules.c.due_at.is_not(None))
    )).scalar()
    return at


async def update_schedule(conn: AsyncConnection, campaign_id: uuid.UUID, **values: Any) -> None:
    await conn.execute(
        sa.update(schedules).where(schedules.c.campaign_id == campaign_id).values(**values)
    )


# The whole batch in one statement: the new values travel as arrays, one per column.
_MOVE_ON = sa.text("""
    UPDATE schedules AS s
    SET next_sequence = v.next_sequence, next_slot = v.next_slot,
        next_send_at = v.next_send_at, due_at = v.due_at, state = v.state,
        planned_until = v.planned_until, error = v.error, updated_at = now()
    FROM unnest(CAST(:campaign_id AS uuid[]), CAST(:next_sequence AS integer[]),
                CAST(:next_slot AS integer[]), CAST(:next_send_at AS timestamptz[]),
                CAST(:due_at AS timestamptz[]), CAST(:state AS text[]),
                CAST(:planned_until AS integer[]), CAST(:error AS text[]))
        AS v(campaign_id, next_sequence, next_slot, next_send_at, due_at, state,
             planned_until, error)
    WHERE s.campaign_id = v.campaign_id
""")


@dataclass(frozen=True)
class Moved:
    """Where a due schedule goes after its tick."""

    campaign_id: uuid.UUID
    next_sequence: int
    next_slot: int
    next_send_at: datetime | None
    due_at: datetime | None
    state: str
    planned_until: int
    error: str | None = None


async def move_on(conn: AsyncConnection, moves: list[Moved]) -> None:
    if moves:
        columns = {name: [getattr(m, name) for m in moves] for name in Moved.__dataclass_fields__}
        await conn.execute(_MOVE_ON, columns)


@dataclass(frozen=True)
class Skipped:
    campaign_id: uuid.UUID
    slot: int
    send_at: datetime
    reason: str


async def record_skipped(conn: AsyncConnection, skipped: list[Skipped]) -> None:
    if skipped:
        await conn.execute(insert(skipped_sends).on_conflict_do_nothing(),
                           [s.__dict__ for s in skipped])
