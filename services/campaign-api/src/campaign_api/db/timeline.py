"""A contact's timeline: every send, open, click, unsubscribe and bounce of its address across
the workspace's campaigns, newest first."""

from __future__ import annotations

import uuid
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from campaign_api.db.contact_tables import sends
from campaign_api.db.tables import AnyRow, campaigns, delivery_failures, engagements


async def timeline(conn: AsyncConnection, workspace_id: uuid.UUID, email: str, *, limit: int,
                   before: datetime | None = None) -> list[AnyRow]:
    s, e, f = sends.c, engagements.c, delivery_failures.c
    events = sa.union_all(
        sa.select(s.sent_at.label("at"), sa.literal("sent").label("kind"),
                  s.campaign_id, s.sequence, sa.null().label("detail"))
        .where(s.workspace_id == workspace_id, s.email == email),
        sa.select(e.occurred_at, e.kind, e.campaign_id, e.sequence, e.url)
        .where(e.workspace_id == workspace_id, e.email == email),
        sa.select(f.failed_at, sa.literal("bounced"), f.campaign_id, f.sequence, f.reason)
        .where(f.recipient == email, f.kind == "bounced",
               f.campaign_id.in_(sa.select(campaigns.c.id)
                                 .where(campaigns.c.workspace_id == workspace_id))),
    ).subquery("events")
    query = (sa.select(events, campaigns.c.name.label("campaign_name"))
             .outerjoin(campaigns, campaigns.c.id == events.c.campaign_id))
    if before is not None:
        query = query.where(events.c.at < before)
    return list((await conn.execute(
        query.order_by(events.c.at.desc(), events.c.kind).limit(limit))).all())
