"""Read-only views the dashboard shows of a contact: what was sent to its address, what it did
with those emails, and what bounced, across every campaign of the workspace.

One query per kind, each newest first and limited, whatever the number of campaigns: a
contact mailed by a hundred campaigns is still three queries."""

from __future__ import annotations

import uuid

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from campaign_api.db.contact_tables import segment_members, segments, sends
from campaign_api.db.tables import AnyRow, campaigns, delivery_failures, engagements


async def sends_to(conn: AsyncConnection, workspace_id: uuid.UUID, email: str, *,
                   limit: int) -> list[AnyRow]:
    """The emails sent to an address, newest first (served by sends_by_contact)."""
    s = sends.c
    return list((await conn.execute(
        sa.select(s.campaign_id, campaigns.c.name.label("campaign"), s.sequence,
                  s.sent_at.label("at"))
        .join(campaigns, campaigns.c.id == s.campaign_id)
        .where(s.workspace_id == workspace_id, s.email == email)
        .order_by(s.sent_at.desc()).limit(limit))).all())


async def engagements_of(conn: AsyncConnection, workspace_id: uuid.UUID, email: str, *,
                         limit: int) -> list[AnyRow]:
    """Opens, clicks and unsubscribes by an address, newest first (not the trap-link hits a
    scanner made on their behalf)."""
    e = engagements.c
    return list((await conn.execute(
        sa.select(e.campaign_id, campaigns.c.name.label("campaign"), e.sequence, e.kind,
                  e.url, e.occurred_at.label("at"))
        .join(campaigns, campaigns.c.id == e.campaign_id)
        .where(e.workspace_id == workspace_id, e.email == email, e.kind != "trap")
        .order_by(e.occurred_at.desc(), e.id.desc()).limit(limit))).all())


async def failures_to(conn: AsyncConnection, workspace_id: uuid.UUID, email: str, *,
                      limit: int) -> list[AnyRow]:
    """Failed deliveries to an address (bounces, suppressed, expired), newest first. The
    failures table is keyed by campaign: the workspace is the campaign's."""
    f = delivery_failures.c
    return list((await conn.execute(
        sa.select(f.campaign_id, campaigns.c.name.label("campaign"), f.sequence, f.kind,
                  f.reason, f.failed_at.label("at"))
        .join(campaigns, campaigns.c.id == f.campaign_id)
        .where(campaigns.c.workspace_id == workspace_id, f.recipient == email)
        .order_by(f.failed_at.desc()).limit(limit))).all())


async def segments_holding(conn: AsyncConnection, contact_id: uuid.UUID) -> list[AnyRow]:
    """The segments a contact was a member of at their last refresh, by name."""
    return list((await conn.execute(
        sa.select(segments.c.id, segments.c.name, segments.c.refreshed_at)
        .join(segment_members, segment_members.c.segment_id == segments.c.id)
        .where(segment_members.c.contact_id == contact_id)
        .order_by(segments.c.name, segments.c.id))).all())
