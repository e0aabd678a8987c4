"""Delivery and engagement counts per campaign, per email and per content structure, and the
failed deliveries with their reasons."""

from __future__ import annotations

import uuid
from collections import defaultdict
from typing import Any

from sqlalchemy.ext.asyncio import AsyncEngine

from campaign_api import db
from campaign_api.db import AnyRow
from campaign_api.schemas import (
    CampaignStats,
    Counts,
    DeliveryFailure,
    EmailCounts,
    FailurePage,
    StructureCounts,
)
from campaign_api.usecases.campaigns import require_campaign

_ENGAGEMENT = ("opens", "unique_opens", "clicks", "unique_clicks", "human_opens",
               "unique_human_opens", "human_clicks", "unique_human_clicks", "unsubscribes")


def _rate(part: int, whole: int) -> float:
    return round(part / whole, 4) if whole else 0.0


_DELIVERY = ("sent", "failed", "bounced", "invalid", "suppressed", "expired", "capped")


def _counts(delivered: dict[str, int], engagement: AnyRow | None) -> dict[str, Any]:
    e = {k: int(getattr(engagement, k)) if engagement else 0 for k in _ENGAGEMENT}
    sent, failed, bounced = delivered["sent"], delivered["failed"], delivered["bounced"]
    return {
        **delivered, **e,
        "open_rate": _rate(e["unique_opens"], sent),
        "click_rate": _rate(e["unique_clicks"], sent),
        "human_open_rate": _rate(e["unique_human_opens"], sent),
        "human_click_rate": _rate(e["unique_human_clicks"], sent),
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
    by_structure: dict[str, dict[str, int]] = defaultdict(lambda: dict.fromkeys(_DELIVERY, 0))
    totals = dict.fromkeys(_DELIVERY, 0)
    for e in emails:
        for name in _DELIVERY:
            by_structure[e.structure or ""][name] += getattr(e, name)
            totals[name] += getattr(e, name)
    return CampaignStats(
        campaign_id=campaign_id,
        totals=Counts(**_counts(totals, total)),
        emails=[EmailCounts(sequence=e.sequence, subject=e.subject, structure=e.structure,
                            **_counts({n: getattr(e, n) for n in _DELIVERY},
                                      per_email.get(e.sequence)))
                for e in emails],
        structures=[StructureCounts(structure=s, **_counts(sums, per_structure.get(s)))
                    for s, sums in sorted(by_structure.items())],
    )


async def list_failures(
    engine: AsyncEngine, workspace_id: uuid.UUID, campaign_id: uuid.UUID, *,
    sequence: int | None = None, limit: int = 100,
) -> FailurePage:
    async with engine.connect() as conn:
        await require_campaign(conn, workspace_id, campaign_id)
        rows = await db.failures_of(conn, campaign_id, sequence=sequence, limit=limit)
    return FailurePage(items=[DeliveryFailure.model_validate(r, from_attributes=True)
                              for r in rows])
