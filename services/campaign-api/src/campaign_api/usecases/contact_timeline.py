"""A contact's timeline: every send, open, click, unsubscribe and failed delivery of its
address across the workspace's campaigns, newest first."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncEngine

from campaign_api import db
from campaign_api.usecases.contacts import get_contact

# Of each kind (sends, engagements, failures) the newest this many: a contact mailed daily
# for years still reads as one page, in three bounded queries.
PER_KIND = 200


@dataclass(frozen=True)
class Happening:
    at: datetime
    # sent | open | click | unsubscribe | bounced | invalid | suppressed | expired
    kind: str
    campaign_id: uuid.UUID
    campaign: str
    sequence: int
    # The link clicked, or why a delivery failed.
    detail: str = ""


@dataclass(frozen=True)
class SegmentRef:
    id: uuid.UUID
    name: str
    # When the membership was last worked out (a rule's change shows from its next refresh).
    refreshed_at: datetime | None


@dataclass(frozen=True)
class Timeline:
    happenings: list[Happening]
    # Whether a kind reached PER_KIND, so older ones of it are not shown.
    truncated: bool


async def contact_timeline(engine: AsyncEngine, workspace_id: uuid.UUID,
                           contact_id: uuid.UUID, *, per_kind: int = PER_KIND) -> Timeline:
    """NotFound where the workspace has no such contact (another workspace's included)."""
    contact = await get_contact(engine, workspace_id, contact_id)
    async with engine.connect() as conn:
        sent = await db.sends_to(conn, workspace_id, contact.email, limit=per_kind)
        engaged = await db.engagements_of(conn, workspace_id, contact.email, limit=per_kind)
        failed = await db.failures_to(conn, workspace_id, contact.email, limit=per_kind)
    happenings = [Happening(r.at, "sent", r.campaign_id, r.campaign, r.sequence)
                  for r in sent]
    happenings += [Happening(r.at, r.kind, r.campaign_id, r.campaign, r.sequence, r.url or "")
                   for r in engaged]
    happenings += [Happening(r.at, r.kind, r.campaign_id, r.campaign, r.sequence, r.reason)
                   for r in failed]
    happenings.sort(key=lambda h: h.at, reverse=True)
    return Timeline(happenings, truncated=any(len(rows) >= per_kind
                                              for rows in (sent, engaged, failed)))


async def contact_segments(engine: AsyncEngine, workspace_id: uuid.UUID,
                           contact_id: uuid.UUID) -> list[SegmentRef]:
    """The segments the contact belongs to as of their last refresh. NotFound as above."""
    await get_contact(engine, workspace_id, contact_id)
    async with engine.connect() as conn:
        return [SegmentRef(r.id, r.name, r.refreshed_at)
                for r in await db.segments_holding(conn, contact_id)]
