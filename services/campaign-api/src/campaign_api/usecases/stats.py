"""Delivery and engagement counts per campaign, per email and per content structure."""

from __future__ import annotations

import uuid
from collections import defaultdict
from typing import Any

from sqlalchemy.ext.asyncio import AsyncEngine

from campaign_api import db
from campaign_api.db import AnyRow
from campaign_api.schemas import CampaignStats, Counts, EmailCounts, StructureCounts
from campaign_api.usecases.campaigns import require_campaign

_ENGAGEMENT = ("opens", "unique_opens", "clicks", "unique_clicks", "unsubscribes")


def _rate(part: int, whole: int) -> float:
    return round(part / whole, 4) if whole else 0.0


def _counts(sent: int, failed: int, bounced: int, engagement: AnyRow | None) -> dict[str, Any]:
    e = {k: int(getattr(engagement, k)) if engagement else 0 for k in _ENGAGEMENT}
    return {
        "sent": sent, "failed": failed, "bounced": bounced, **e,
        "open_rate": _rate(e["unique_opens"], sent),
        "click_rate": _rate(e["unique_clicks"], sent),
        "unsubscribe_rate": _rate(e["unsubscribes"], sent),
        "bounce_rate": _rate(bounced, sent + failed),
    }


async def campaign_stats(
    engine: AsyncEngine, workspace_id: uuid.UUID, campaign_id: uuid.UUID
) -> CampaignStats:
    async with engine.connect() as conn:
        await require_campaign(conn, workspace_id, campaign_id)
        emails = await db.campaign_emails_of(conn, campaign_id)
        total = await db.engagement_of_campaign(conn, campaign_id)
        per_email = {r.sequence: r for r in await db.engagement_per_email(conn, campaign_id)}
        per_structure = {r.structure: r
                         for r in await db.engagement_per_structure(conn, campaign_id)}
    delivered: dict[str, list[int]] = defaultdict(lambda: [0, 0, 0])
    for e in emails:
        sums = delivered[e.structure or ""]
        sums[0] += e.sent
        sums[1] += e.failed
        sums[2] += e.bounced
    return CampaignStats(
        campaign_id=campaign_id,
        totals=Counts(**_counts(sum(e.sent for e in emails), sum(e.failed for e in emails),
                                sum(e.bounced for e in emails), total)),
        emails=[EmailCounts(sequence=e.sequence, subject=e.subject, structure=e.structure,
                            **_counts(e.sent, e.failed, e.bounced, per_email.get(e.sequence)))
                for e in emails],
        structures=[StructureCounts(structure=s, **_counts(sums[0], sums[1], sums[2],
                                                           per_structure.get(s)))
                    for s, sums in sorted(delivered.items())],
    )
