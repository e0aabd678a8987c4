"""Delivery and engagement counts per campaign, per email and per content structure, the
report read from each email's counters with its links' clicks, and the failed deliveries with
their reasons. What a rate is, is `_counts`: the stats and the report both go through it."""

from __future__ import annotations

import uuid
from collections import defaultdict
from collections.abc import Sequence
from types import SimpleNamespace
from typing import Any

from sqlalchemy.ext.asyncio import AsyncEngine

from campaign_api import db
from campaign_api.performance import ENGAGEMENT_COUNTERS
from campaign_api.schemas import DeliveryFailure, FailurePage
from campaign_api.schemas_report import (
    CampaignReport,
    CampaignStats,
    Counts,
    EmailCounts,
    LinkCounts,
    ReportEmail,
    StructureCounts,
)
from campaign_api.usecases.ab_tests import ab_test_reports
from campaign_api.usecases.campaigns import require_campaign


def _rate(part: int, whole: int) -> float:
    return round(part / whole, 4) if whole else 0.0


_DELIVERY = ("sent", "failed", "bounced", "invalid", "suppressed", "expired", "capped")


def _counts(delivered: dict[str, int], engagement: Any) -> dict[str, Any]:
    """The counts with their rates, each over the deliveries (`sent`); `engagement` holds the
    engagement counts as attributes (a row of the stats' GROUP BY or an email's counters)."""
    e = {k: int(getattr(engagement, k)) if engagement else 0 for k in ENGAGEMENT_COUNTERS}
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
    totals, by_structure = _sums(emails, _DELIVERY)
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


async def campaign_report(
    engine: AsyncEngine, workspace_id: uuid.UUID, campaign_id: uuid.UUID
) -> CampaignReport:
    """Per email from the counters on its row (however many deliveries it had), per structure
    and in total their sums, and per link the campaign's click rows grouped by email and URL."""
    async with engine.connect() as conn:
        await require_campaign(conn, workspace_id, campaign_id)
        emails = await db.campaign_emails_of(conn, campaign_id)
        links = await db.clicks_per_link(conn, campaign_id)
        tests = await ab_test_reports(conn, campaign_id)
    totals, by_structure = _sums(emails, (*_DELIVERY, *ENGAGEMENT_COUNTERS))
    return CampaignReport(
        campaign_id=campaign_id,
        totals=Counts(**_summed(totals)),
        emails=[ReportEmail(sequence=e.sequence, subject=e.subject, structure=e.structure,
                            structure_choice=e.structure_choice,
                            **_counts({n: getattr(e, n) for n in _DELIVERY}, e))
                for e in emails],
        structures=[StructureCounts(structure=s, **_summed(sums))
                    for s, sums in sorted(by_structure.items())],
        links=[LinkCounts.model_validate(r, from_attributes=True) for r in links],
        ab_tests=tests,
    )


def _sums(emails: Sequence[Any], names: Sequence[str]
          ) -> tuple[dict[str, int], dict[str, dict[str, int]]]:
    """The emails' counts `names` added up in total and per structure."""
    by_structure: dict[str, dict[str, int]] = defaultdict(lambda: dict.fromkeys(names, 0))
    totals = dict.fromkeys(names, 0)
    for e in emails:
        for name in names:
            by_structure[e.structure or ""][name] += getattr(e, name)
            totals[name] += getattr(e, name)
    return totals, by_structure


def _summed(sums: dict[str, int]) -> dict[str, Any]:
    return _counts({n: sums[n] for n in _DELIVERY}, SimpleNamespace(**sums))


async def list_failures(
    engine: AsyncEngine, workspace_id: uuid.UUID, campaign_id: uuid.UUID, *,
    sequence: int | None = None, limit: int = 100,
) -> FailurePage:
    async with engine.connect() as conn:
        await require_campaign(conn, workspace_id, campaign_id)
        rows = await db.failures_of(conn, campaign_id, sequence=sequence, limit=limit)
    return FailurePage(items=[DeliveryFailure.model_validate(r, from_attributes=True)
                              for r in rows])
