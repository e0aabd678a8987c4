"""Journeys' progress: the counts per step a journey.progress carries, aggregated from the
enrollments, and what the last summary of each journey said."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import JSONB, UUID
from sqlalchemy.ext.asyncio import AsyncConnection

from scheduler.db import metadata

_TZ = sa.DateTime(timezone=True)

journey_progress = sa.Table(
    "journey_progress", metadata,
    sa.Column("campaign_id", UUID(as_uuid=True), primary_key=True),
    sa.Column("counts", JSONB),
    sa.Column("as_of", _TZ),
    # When the journey is looked at next; NULL: a cancelled journey already summarised.
    sa.Column("next_at", _TZ),
    sa.Index("journey_progress_next", "next_at", postgresql_where=sa.text("next_at IS NOT NULL")),
)

_TRACK_NEW = sa.text("""
    INSERT INTO journey_progress (campaign_id, next_at)
    SELECT campaign_id, :now FROM journeys ON CONFLICT DO NOTHING
""")

_CLAIM = sa.text("""
    SELECT p.campaign_id, p.counts, p.as_of, j.workspace_id, j.correlation_id, j.version,
           j.state
    FROM journey_progress p JOIN journeys j USING (campaign_id)
    WHERE p.next_at <= :now
    ORDER BY p.next_at
    LIMIT 1
    FOR UPDATE OF p SKIP LOCKED
""")

_BY_STATE = sa.text("""
    SELECT step_id, state, exit_reason, count(*) AS n
    FROM enrollments WHERE campaign_id = :campaign_id
    GROUP BY step_id, state, exit_reason
""")

_ENTERED = sa.text("""
    SELECT s.step_id, count(*) AS n
    FROM enrollment_steps s JOIN enrollments e ON e.id = s.enrollment_id
    WHERE e.campaign_id = :campaign_id
    GROUP BY s.step_id
""")


async def claim_due(conn: AsyncConnection, now: datetime) -> Any:
    """One journey due a look, locked (replicas skip each other's); journeys saved since the
    last look are tracked first."""
    await conn.execute(_TRACK_NEW, {"now": now})
    return (await conn.execute(_CLAIM, {"now": now})).first()


async def aggregate(conn: AsyncConnection, campaign_id: uuid.UUID
                    ) -> tuple[list[tuple[str, str, str | None, int]], dict[str, int]]:
    """The journey's enrollments by (step, state, exit reason), and the steps reached."""
    args = {"campaign_id": campaign_id}
    by_state = [(r.step_id, r.state, r.exit_reason, int(r.n))
                for r in await conn.execute(_BY_STATE, args)]
    entered = {r.step_id: int(r.n) for r in await conn.execute(_ENTERED, args)}
    return by_state, entered


async def mark(conn: AsyncConnection, campaign_id: uuid.UUID, *, next_at: datetime | None,
               counts: dict[str, Any] | None = None, as_of: datetime | None = None) -> None:
    values: dict[str, Any] = {"next_at": next_at}
    if as_of is not None:
        values.update(counts=counts, as_of=as_of)
    await conn.execute(sa.update(journey_progress)
                       .where(journey_progress.c.campaign_id == campaign_id).values(**values))
