"""A journey step's delivery: one contact's email, created on journey.step_due."""

from __future__ import annotations

import uuid
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncConnection

from mailer.db.tables import contacts, contents, deliveries


async def content_stored(conn: AsyncConnection, campaign_id: uuid.UUID, sequence: int) -> bool:
    found = await conn.execute(sa.select(sa.exists().where(
        contents.c.campaign_id == campaign_id, contents.c.sequence == sequence)))
    return bool(found.scalar())


async def contact_known(conn: AsyncConnection, workspace_id: uuid.UUID, email: str) -> bool:
    found = await conn.execute(sa.select(sa.exists().where(
        contacts.c.workspace_id == workspace_id, contacts.c.email == email)))
    return bool(found.scalar())


async def insert_step_delivery(
    conn: AsyncConnection, *, delivery_id: uuid.UUID, campaign_id: uuid.UUID, sequence: int,
    email: str, audience_id: uuid.UUID, message_domain: str, due_at: datetime,
) -> bool:
    """The step's pending delivery, False when it exists already (the event again)."""
    stmt = insert(deliveries).values(
        id=delivery_id, campaign_id=campaign_id, sequence=sequence, email=email,
        audience_id=audience_id, message_id=f"<{delivery_id}@{message_domain}>",
        state="pending", due_at=due_at,
    ).on_conflict_do_nothing().returning(deliveries.c.id)
    return (await conn.execute(stmt)).first() is not None
