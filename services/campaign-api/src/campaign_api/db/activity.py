"""Events reported through POST /api/events, one row per (workspace, event id)."""

from __future__ import annotations

import uuid

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import UUID, insert
from sqlalchemy.ext.asyncio import AsyncConnection

from campaign_api.db.tables import metadata

activity_events = sa.Table(
    "activity_events",
    metadata,
    sa.Column("workspace_id", UUID(as_uuid=True), primary_key=True),
    sa.Column("event_id", UUID(as_uuid=True), primary_key=True),
    sa.Column("contact_id", UUID(as_uuid=True), nullable=False),
    sa.Column("name", sa.Text, nullable=False),
    sa.Column("received_at", sa.DateTime(timezone=True), nullable=False,
              server_default=sa.func.now()),
)


async def record_activity(conn: AsyncConnection, workspace_id: uuid.UUID, event_id: uuid.UUID,
                          contact_id: uuid.UUID, name: str) -> bool:
    """Whether the event is new to the workspace (a repeat records nothing)."""
    stmt = insert(activity_events).values(workspace_id=workspace_id, event_id=event_id,
                                          contact_id=contact_id, name=name)
    done = await conn.execute(stmt.on_conflict_do_nothing().returning(activity_events.c.event_id))
    return done.first() is not None
