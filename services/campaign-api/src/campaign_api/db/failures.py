"""Failed deliveries, one row each, as email.failed reported them."""

from __future__ import annotations

import uuid
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import distinct_on, insert
from sqlalchemy.ext.asyncio import AsyncConnection

from campaign_api.db.tables import AnyRow, delivery_failures


def delivery_failed(campaign_id: uuid.UUID, email: Any, kind: str) -> sa.Exists:
    """Whether any of the campaign's deliveries to the address failed as `kind`."""
    f = delivery_failures.c
    return sa.exists().where(f.campaign_id == campaign_id, f.recipient == email, f.kind == kind)


async def record_failure(conn: AsyncConnection, **values: Any) -> bool:
    """Whether this delivery's failure was new (the inbox already makes each event count once;
    this keeps a delivery to one row whatever its events)."""
    stmt = insert(delivery_failures).values(**values).on_conflict_do_nothing()
    return (await conn.execute(stmt)).rowcount == 1


async def failures_of(
    conn: AsyncConnection, campaign_id: uuid.UUID, *, sequence: int | None = None,
    limit: int = 100,
) -> list[AnyRow]:
    """The campaign's newest failed deliveries first."""
    query = sa.select(delivery_failures).where(delivery_failures.c.campaign_id == campaign_id)
    if sequence is not None:
        query = query.where(delivery_failures.c.sequence == sequence)
    query = query.order_by(delivery_failures.c.failed_at.desc(), delivery_failures.c.sequence,
                           delivery_failures.c.recipient).limit(limit)
    return list((await conn.execute(query)).all())


async def last_failures(conn: AsyncConnection, campaign_id: uuid.UUID) -> dict[int, AnyRow]:
    """Each email's newest failed delivery, by sequence."""
    query = (
        sa.select(delivery_failures)
        .ext(distinct_on(delivery_failures.c.sequence))
        .where(delivery_failures.c.campaign_id == campaign_id)
        .order_by(delivery_failures.c.sequence, delivery_failures.c.failed_at.desc(),
                  delivery_failures.c.recipient)
    )
    return {r.sequence: r for r in (await conn.execute(query)).all()}
