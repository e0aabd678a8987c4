"""Each email's performance summary, as campaign-api publishes them, and what the learners read
of them before an email is written."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import timedelta

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import UUID, insert
from sqlalchemy.ext.asyncio import AsyncConnection

from content_generator.db.tables import PERFORMANCE_COUNTS, email_performance, generated_emails
from content_generator.domain import first_line as first_line_of
from content_generator.learning import Evidence, PastEmail
from contracts.learning import EmailPerformancePayload


async def keep_newest_performance(conn: AsyncConnection, workspace_id: uuid.UUID,
                                  summary: EmailPerformancePayload, *,
                                  window: timedelta) -> bool:
    """Store the summary unless the email's stored one is as new or newer (summaries may
    arrive out of order when redelivered), or unless it is from after the email's reward
    window (`window` after its send): the stored one then stays as the email's reward. An
    email's first summary is stored whenever it comes, the best there is; so is every summary
    of an email this service has no send time for (written before send times were kept).
    Whether it was stored."""
    values = {"structure": summary.structure, "as_of": summary.as_of,
              **{name: getattr(summary, name) for name in PERFORMANCE_COUNTS}}
    stmt = insert(email_performance).values(campaign_id=summary.campaign_id,
                                            sequence=summary.sequence,
                                            workspace_id=workspace_id, **values)
    window_end = (
        sa.select(generated_emails.c.send_at + window)
        .where(generated_emails.c.campaign_id == summary.campaign_id,
               generated_emails.c.sequence == summary.sequence)
        .scalar_subquery()
    )
    stored = await conn.execute(stmt.on_conflict_do_update(
        index_elements=["campaign_id", "sequence"],
        set_={**{name: stmt.excluded[name] for name in values},
              "received_at": stmt.excluded.received_at},
        where=sa.and_(email_performance.c.as_of < stmt.excluded.as_of,
                      sa.or_(window_end.is_(None), stmt.excluded.as_of <= window_end)),
    ).returning(email_performance.c.sequence))
    return stored.first() is not None


@dataclass(frozen=True)
class PastPerformance:
    """What the learners know before email `before` of a campaign is written."""

    # Per earlier email of the campaign with a summary: its evidence, and the email itself
    # when this service wrote it.
    evidence: list[Evidence]
    emails: list[PastEmail]
    # The workspace's other campaigns, summed per structure.
    workspace: list[Evidence]


_UUID = UUID(as_uuid=True)

# The structure is the one this service wrote the email with when it has the email, else the
# summary's. One round trip for the campaign's own emails and the workspace's sums.
_PAST = sa.text("""
SELECT true AS own, p.sequence, coalesce(g.structure, p.structure) AS structure,
       p.delivered, p.unique_human_clicks AS clicks, p.unique_human_opens AS opens,
       g.subject, g.body_text
FROM email_performance AS p
LEFT JOIN generated_emails AS g ON g.campaign_id = p.campaign_id AND g.sequence = p.sequence
WHERE p.campaign_id = :campaign_id AND p.sequence < :before
UNION ALL
SELECT false, NULL, p.structure, sum(p.delivered), sum(p.unique_human_clicks),
       sum(p.unique_human_opens), NULL, NULL
FROM email_performance AS p
WHERE p.workspace_id = (SELECT workspace_id FROM campaigns WHERE campaign_id = :campaign_id)
  AND p.campaign_id <> :campaign_id
GROUP BY p.structure
ORDER BY own DESC, sequence, structure
""").bindparams(sa.bindparam("campaign_id", type_=_UUID))


async def past_performance(conn: AsyncConnection, campaign_id: uuid.UUID, *,
                           before: int) -> PastPerformance:
    rows = (await conn.execute(_PAST, {"campaign_id": campaign_id, "before": before})).all()
    own = [r for r in rows if r.own]
    return PastPerformance(
        evidence=[Evidence(r.structure, r.delivered, r.clicks, r.opens) for r in own],
        emails=[PastEmail(r.sequence, r.subject, first_line_of(r.body_text), r.delivered,
                          r.clicks) for r in own if r.subject is not None],
        workspace=[Evidence(r.structure, int(r.delivered), int(r.clicks), int(r.opens))
                   for r in rows if not r.own],
    )
