"""The journeys' tables and their queries: set-based, a batch of enrollments per statement,
so a million of them cost statements per batch, not round trips per row."""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import JSONB, UUID, insert
from sqlalchemy.ext.asyncio import AsyncConnection

from scheduler.db import facts, metadata

_TZ = sa.DateTime(timezone=True)
LIVE = ("waiting", "active")

journeys = sa.Table(
    "journeys", metadata,
    sa.Column("campaign_id", UUID(as_uuid=True), primary_key=True),
    sa.Column("workspace_id", UUID(as_uuid=True), nullable=False),
    sa.Column("correlation_id", UUID(as_uuid=True), nullable=False),
    # active | paused | cancelled (the campaign's lifecycle)
    sa.Column("state", sa.Text, nullable=False),
    sa.Column("version", sa.Integer, nullable=False),
    sa.Column("trigger_type", sa.Text, nullable=False),
    # The list, segment or form id, the event name or the date field the trigger names.
    sa.Column("trigger_key", sa.Text),
    sa.Column("zone", sa.Text, nullable=False),
    sa.Column("send_window", JSONB),
    sa.Column("updated_at", _TZ, nullable=False, server_default=sa.func.now()),
    sa.Index("journeys_trigger", "workspace_id", "trigger_type", "trigger_key"),
)
journey_versions = sa.Table(
    "journey_versions", metadata,
    sa.Column("campaign_id", UUID(as_uuid=True), primary_key=True),
    sa.Column("version", sa.Integer, primary_key=True),
    sa.Column("graph", JSONB, nullable=False),
)
journey_contents = sa.Table(
    "journey_contents", metadata,
    sa.Column("campaign_id", UUID(as_uuid=True), primary_key=True),
    sa.Column("sequence", sa.Integer, primary_key=True),
    sa.Column("step_id", sa.Text, nullable=False),
    sa.Column("requested_at", _TZ, nullable=False, server_default=sa.func.now()),
)
enrollments = sa.Table(
    "enrollments", metadata,
    sa.Column("id", UUID(as_uuid=True), primary_key=True),
    sa.Column("campaign_id", UUID(as_uuid=True), nullable=False),
    sa.Column("workspace_id", UUID(as_uuid=True), nullable=False),
    sa.Column("email", sa.Text, nullable=False),
    sa.Column("entry", sa.Integer, nullable=False),
    sa.Column("version", sa.Integer, nullable=False),
    sa.Column("step_id", sa.Text, nullable=False),
    sa.Column("state", sa.Text, nullable=False),
    sa.Column("due_at", _TZ),
    sa.Column("entered_at", _TZ, nullable=False),
    sa.Column("step_entered_at", _TZ, nullable=False),
    sa.Column("ended_at", _TZ),
    sa.Column("exit_reason", sa.Text),
    sa.UniqueConstraint("campaign_id", "email", "entry", name="enrollments_entry"),
    sa.Index("enrollments_due", "due_at",
             postgresql_where=sa.text("state IN ('waiting', 'active')")),
    sa.Index("enrollments_contact", "workspace_id", "email"),
)
enrollment_steps = sa.Table(
    "enrollment_steps", metadata,
    sa.Column("enrollment_id", UUID(as_uuid=True), primary_key=True),
    sa.Column("step_id", sa.Text, primary_key=True),
    sa.Column("kind", sa.Text, nullable=False),
    sa.Column("at", _TZ, nullable=False),
)


# --- journeys -------------------------------------------------------------------------------


async def save_journey(conn: AsyncConnection, *, graph: dict[str, Any], **values: Any) -> None:
    """The journey's current version (and its graph, kept per version for the enrollments
    that follow it)."""
    stmt = insert(journeys).values(**values)
    await conn.execute(stmt.on_conflict_do_update(
        index_elements=[journeys.c.campaign_id],
        set_={**{k: stmt.excluded[k] for k in values if k != "campaign_id"},
              "updated_at": sa.func.now()},
    ))
    await conn.execute(insert(journey_versions).values(
        campaign_id=values["campaign_id"], version=values["version"], graph=graph,
    ).on_conflict_do_update(index_elements=[journey_versions.c.campaign_id,
                                            journey_versions.c.version],
                            set_={"graph": graph}))


async def get_journey(conn: AsyncConnection, campaign_id: uuid.UUID) -> Any:
    return (await conn.execute(sa.select(journeys).where(
        journeys.c.campaign_id == campaign_id).with_for_update())).first()


async def set_state(conn: AsyncConnection, campaign_id: uuid.UUID, state: str) -> None:
    await conn.execute(sa.update(journeys).where(journeys.c.campaign_id == campaign_id)
                       .values(state=state, updated_at=sa.func.now()))


async def triggered(conn: AsyncConnection, workspace_id: uuid.UUID, trigger_type: str,
                    keys: Sequence[str | None]) -> list[Any]:
    """The workspace's active journeys started by a trigger of this type and one of `keys`."""
    key = journeys.c.trigger_key
    wanted = [k for k in keys if k is not None]
    match: sa.ColumnElement[bool] = key.in_(wanted) if wanted else sa.false()
    if None in keys:
        match = sa.or_(match, key.is_(None))
    return list(await conn.execute(sa.select(journeys).where(
        journeys.c.workspace_id == workspace_id, journeys.c.trigger_type == trigger_type,
        journeys.c.state == "active", match)))


async def graphs(conn: AsyncConnection, keys: Iterable[tuple[uuid.UUID, int]]
                 ) -> dict[tuple[uuid.UUID, int], dict[str, Any]]:
    wanted = sorted(set(keys))
    if not wanted:
        return {}
    rows = await conn.execute(sa.select(journey_versions).where(
        sa.tuple_(journey_versions.c.campaign_id, journey_versions.c.version).in_(wanted)))
    return {(r.campaign_id, r.version): r.graph for r in rows}


async def new_contents(conn: AsyncConnection, campaign_id: uuid.UUID,
                       steps: Sequence[tuple[int, str]]) -> list[int]:
    """The content numbers not requested before, now recorded as requested."""
    if not steps:
        return []
    rows = await conn.execute(insert(journey_contents).values(
        [{"campaign_id": campaign_id, "sequence": s, "step_id": step} for s, step in steps]
    ).on_conflict_do_nothing().returning(journey_contents.c.sequence))
    return sorted(r.sequence for r in rows)


# --- enrollments ----------------------------------------------------------------------------


@dataclass(frozen=True)
class LastEntry:
    entry: int
    entered_at: datetime
    ended_at: datetime | None
    active: bool


async def last_entries(conn: AsyncConnection, campaign_id: uuid.UUID,
                       emails: Sequence[str]) -> dict[str, LastEntry]:
    rows = await conn.execute(sa.text("""
        SELECT DISTINCT ON (email) email, entry, entered_at, ended_at,
               state IN ('waiting', 'active') AS active
        FROM enrollments WHERE campaign_id = :campaign_id AND email = ANY(:emails)
        ORDER BY email, entry DESC
    """), {"campaign_id": campaign_id, "emails": list(emails)})
    return {r.email: LastEntry(r.entry, r.entered_at, r.ended_at, r.active) for r in rows}


async def enroll(conn: AsyncConnection, rows: list[dict[str, Any]]) -> int:
    if not rows:
        return 0
    result = await conn.execute(insert(enrollments).values(rows).on_conflict_do_nothing()
                                .returning(enrollments.c.id))
    return len(result.all())


_ENROLLMENT_COLUMNS = (
    enrollments.c.id, enrollments.c.campaign_id, enrollments.c.workspace_id,
    enrollments.c.email, enrollments.c.entry, enrollments.c.version, enrollments.c.step_id,
    enrollments.c.due_at, enrollments.c.entered_at, enrollments.c.step_entered_at,
)


async def claim_due(conn: AsyncConnection, now: datetime, limit: int) -> list[Any]:
    """Due enrollments of active journeys, locked; replicas skip each other's rows."""
    live = journeys.c.state == "active"
    return list(await conn.execute(
        sa.select(*_ENROLLMENT_COLUMNS, journeys.c.correlation_id, journeys.c.zone,
                  journeys.c.send_window)
        .join(journeys, journeys.c.campaign_id == enrollments.c.campaign_id)
        .where(enrollments.c.state.in_(LIVE), enrollments.c.due_at <= now, live)
        .order_by(enrollments.c.due_at)
        .limit(limit)
        .with_for_update(of=enrollments, skip_locked=True)
    ))


async def next_due(conn: AsyncConnection) -> datetime | None:
    """The earliest due time of an active journey's enrollment: where the loop wakes next (a
    paused journey's due rows would wake it for nothing, over and over)."""
    at: datetime | None = (await conn.execute(
        sa.select(sa.func.min(enrollments.c.due_at))
        .join(journeys, journeys.c.campaign_id == enrollments.c.campaign_id)
        .where(enrollments.c.state.in_(LIVE), journeys.c.state == "active")
    )).scalar()
    return at


_MOVE = sa.text("""
    UPDATE enrollments AS e
    SET step_id = v.step_id, step_entered_at = v.step_entered_at, due_at = v.due_at,
        state = v.state, ended_at = v.ended_at, exit_reason = v.exit_reason
    FROM unnest(CAST(:id AS uuid[]), CAST(:step_id AS text[]),
                CAST(:step_entered_at AS timestamptz[]), CAST(:due_at AS timestamptz[]),
                CAST(:state AS text[]), CAST(:ended_at AS timestamptz[]),
                CAST(:exit_reason AS text[]))
        AS v(id, step_id, step_entered_at, due_at, state, ended_at, exit_reason)
    WHERE e.id = v.id
""")


@dataclass(frozen=True)
class Move:
    id: uuid.UUID
    step_id: str
    step_entered_at: datetime
    due_at: datetime | None
    state: str
    ended_at: datetime | None = None
    exit_reason: str | None = None


async def move(conn: AsyncConnection, moves: Sequence[Move]) -> None:
    if moves:
        await conn.execute(_MOVE, {name: [getattr(m, name) for m in moves]
                                   for name in Move.__dataclass_fields__})


_RECORD_STEPS = sa.text("""
    INSERT INTO enrollment_steps (enrollment_id, step_id, kind, at)
    SELECT * FROM unnest(CAST(:enrollment_id AS uuid[]), CAST(:step_id AS text[]),
                         CAST(:kind AS text[]), CAST(:at AS timestamptz[]))
    ON CONFLICT DO NOTHING
""")


async def record_steps(conn: AsyncConnection, rows: list[dict[str, Any]]) -> None:
    """The steps passed, for the funnel: one statement of arrays, whatever the batch's size."""
    if rows:
        await conn.execute(_RECORD_STEPS, {k: [r[k] for r in rows]
                                           for k in ("enrollment_id", "step_id", "kind", "at")})


async def wake(conn: AsyncConnection, workspace_id: uuid.UUID, emails: Sequence[str],
               now: datetime, campaign_id: uuid.UUID | None = None) -> None:
    """Waiting enrollments of these contacts looked at now: a fact arrived that a branch or
    a goal may be waiting for (a wait looked at early waits on)."""
    where: list[sa.ColumnElement[bool]] = [
        enrollments.c.workspace_id == workspace_id, enrollments.c.email.in_(emails),
             enrollments.c.state == "waiting",
             sa.or_(enrollments.c.due_at.is_(None), enrollments.c.due_at > now)]
    if campaign_id is not None:
        where.append(enrollments.c.campaign_id == campaign_id)
    await conn.execute(sa.update(enrollments).where(*where).values(due_at=now))


async def end_enrollments(conn: AsyncConnection, now: datetime, reason: str, *,
                          workspace_id: uuid.UUID | None = None,
                          emails: Sequence[str] | None = None,
                          campaign_id: uuid.UUID | None = None) -> int:
    where: list[sa.ColumnElement[bool]] = [enrollments.c.state.in_(LIVE)]
    if workspace_id is not None:
        where.append(enrollments.c.workspace_id == workspace_id)
    if emails is not None:
        where.append(enrollments.c.email.in_(emails))
    if campaign_id is not None:
        where.append(enrollments.c.campaign_id == campaign_id)
    result = await conn.execute(sa.update(enrollments).where(*where).values(
        state="exited", due_at=None, ended_at=now, exit_reason=reason))
    return int(result.rowcount)


# --- erasure --------------------------------------------------------------------------------


async def erase_contact(conn: AsyncConnection, workspace_id: uuid.UUID, email: str) -> None:
    """Forget an erased person's journeys in the workspace: their enrollments (and so the
    steps they reached: nothing more is sent them) and every fact kept for their branches."""
    address = sa.func.lower(email)
    theirs = sa.and_(enrollments.c.workspace_id == workspace_id,
                     sa.func.lower(enrollments.c.email) == address)
    await conn.execute(sa.delete(enrollment_steps).where(
        enrollment_steps.c.enrollment_id.in_(sa.select(enrollments.c.id).where(theirs))))
    await conn.execute(sa.delete(enrollments).where(theirs))
    workspace_journeys = sa.select(journeys.c.campaign_id).where(
        journeys.c.workspace_id == workspace_id)
    for table in (facts.journey_contacts, facts.journey_memberships, facts.journey_activity):
        await conn.execute(sa.delete(table).where(
            table.c.workspace_id == workspace_id, sa.func.lower(table.c.email) == address))
    for table in (facts.journey_engagement, facts.journey_links):
        await conn.execute(sa.delete(table).where(
            table.c.campaign_id.in_(workspace_journeys), sa.func.lower(table.c.email) == address))
