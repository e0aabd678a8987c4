"""Audiences' members, marked with what their engagement and deliveries say of them."""

from __future__ import annotations

import uuid
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncConnection

from campaign_api.db.engagement import unsubscribed_from
from campaign_api.db.failures import delivery_failed
from campaign_api.db.tables import AnyRow, audience_members


async def add_members(
    conn: AsyncConnection, workspace_id: uuid.UUID, audience_id: uuid.UUID,
    members: list[dict[str, Any]],
) -> list[str]:
    """Insert members ({email, name, fields}); returns the emails that were new."""
    if not members:
        return []
    # One cached statement, sent as multi-row INSERTs by SQLAlchemy's "insertmanyvalues".
    stmt = insert(audience_members).on_conflict_do_nothing().returning(audience_members.c.email)
    rows = [{"audience_id": audience_id, "workspace_id": workspace_id, **m} for m in members]
    return [row.email for row in (await conn.execute(stmt, rows)).all()]


async def remove_members(
    conn: AsyncConnection, audience_id: uuid.UUID, emails: list[str]
) -> list[str]:
    if not emails:
        return []
    stmt = (
        sa.delete(audience_members)
        .where(audience_members.c.audience_id == audience_id,
               audience_members.c.email.in_(emails))
        .returning(audience_members.c.email)
    )
    return [row.email for row in (await conn.execute(stmt)).all()]


async def list_members(
    conn: AsyncConnection, audience_id: uuid.UUID, campaign_id: uuid.UUID, *, limit: int,
    after: str | None,
) -> list[AnyRow]:
    """A page of members, each marked: unsubscribed (from the workspace), and whether any of
    the campaign's deliveries to it bounced or was suppressed."""
    m = audience_members.c
    query = sa.select(m.email, m.name, m.fields, m.added_at,
                      unsubscribed_from(m.workspace_id, m.email).label("unsubscribed"),
                      delivery_failed(campaign_id, m.email, "bounced").label("bounced"),
                      delivery_failed(campaign_id, m.email, "suppressed").label("suppressed"),
                      ).where(m.audience_id == audience_id)
    if after is not None:
        query = query.where(audience_members.c.email > after)
    return list((await conn.execute(
        query.order_by(audience_members.c.email).limit(limit))).all())
