"""What the email.performance publisher reads and writes: one recipient's tally of an email
(from the index the link-scanner rules read too), and the emails whose summary is due."""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from campaign_api.db.tables import AnyRow, campaign_emails, campaigns, engagements
from campaign_api.performance import DELIVERY_COUNTERS, ENGAGEMENT_COUNTERS, RecipientTally


async def recipient_tally(conn: AsyncConnection, campaign_id: uuid.UUID, sequence: int,
                          email: str) -> RecipientTally:
    """The address's opens and clicks of the email, all and a person's (`human IS TRUE`, as
    the stats count them)."""
    e = engagements.c
    human = e.human.is_(True)
    row = (await conn.execute(sa.select(
        sa.func.count().filter(e.kind == "open").label("opens"),
        sa.func.count().filter(e.kind == "open", human).label("human_opens"),
        sa.func.count().filter(e.kind == "click").label("clicks"),
        sa.func.count().filter(e.kind == "click", human).label("human_clicks"),
    ).where(e.campaign_id == campaign_id, e.sequence == sequence, e.email == email,
            e.kind.in_(("open", "click"))))).one()
    return RecipientTally(opens=row.opens, human_opens=row.human_opens, clicks=row.clicks,
                          human_clicks=row.human_clicks)


async def claim_due_summary(conn: AsyncConnection, now: datetime,
                            interval: timedelta) -> AnyRow | None:
    """One email whose counts changed and whose last summary is at least `interval` old,
    locked for this transaction; SKIP LOCKED lets replicas take others meanwhile. Read
    through the partial index of due emails, never the emails at rest."""
    c = campaign_emails.c
    query = (sa.select(c.campaign_id, c.sequence, c.structure, c.summary_as_of,
                       c.summary_counts, campaigns.c.workspace_id,
                       *(c[name] for name in (*DELIVERY_COUNTERS, *ENGAGEMENT_COUNTERS)))
             .join(campaigns, campaigns.c.id == c.campaign_id)
             .where(c.summary_due, sa.or_(c.summary_as_of.is_(None),
                                          c.summary_as_of <= now - interval))
             .order_by(c.summary_as_of.asc().nulls_first())
             .limit(1).with_for_update(of=campaign_emails, skip_locked=True))
    return (await conn.execute(query)).first()


async def mark_summarised(conn: AsyncConnection, campaign_id: uuid.UUID, sequence: int,
                          *, as_of: datetime | None, counts: dict[str, Any] | None) -> None:
    """The email's summary is no longer due; with `as_of`, one was sent saying `counts`."""
    c = campaign_emails.c
    values: dict[str, Any] = {"summary_due": False}
    if as_of is not None:
        values.update(summary_as_of=as_of, summary_counts=counts)
    await conn.execute(sa.update(campaign_emails)
                       .where(c.campaign_id == campaign_id, c.sequence == sequence)
                       .values(**values))
