"""Campaigns, their emails' read model, and the scheduler's plan."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncConnection

from campaign_api.db.audiences import AUDIENCE_SIZE
from campaign_api.db.tables import AnyRow, campaign_emails, campaigns


async def campaign_ids_of(conn: AsyncConnection, workspace_id: uuid.UUID) -> set[uuid.UUID]:
    return set((await conn.execute(
        sa.select(campaigns.c.id).where(campaigns.c.workspace_id == workspace_id))).scalars())


async def insert_campaign(conn: AsyncConnection, **values: Any) -> None:
    await conn.execute(campaigns.insert().values(**values))




_LIST_COLUMNS = (
    campaigns.c.id, campaigns.c.name, campaigns.c.status, campaigns.c.definition,
    campaigns.c.audience_id,
    campaigns.c.emails_generated, campaigns.c.emails_failed, campaigns.c.deliveries_sent,
    campaigns.c.deliveries_failed, campaigns.c.created_at, campaigns.c.updated_at,
    campaigns.c.archived_at, campaigns.c.planned_emails, campaigns.c.next_sequence,
    campaigns.c.next_send_times,
    # Who the campaign's next email goes to as things stand: counted from the memberships now.
    AUDIENCE_SIZE.label("recipients"),
)


def _like_pattern(text: str) -> str:
    escaped = text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


async def list_campaigns(
    conn: AsyncConnection, workspace_id: uuid.UUID, *, limit: int,
    before: tuple[datetime, uuid.UUID] | None = None, statuses: list[str] | None = None,
    text: str | None = None, archived: bool = False,
) -> list[AnyRow]:
    query = sa.select(*_LIST_COLUMNS).where(campaigns.c.workspace_id == workspace_id)
    query = query.where(campaigns.c.archived_at.isnot(None) if archived
                        else campaigns.c.archived_at.is_(None))
    if before is not None:
        # (created_at, id) is unique, so a page boundary never skips or repeats a tie.
        query = query.where(sa.tuple_(campaigns.c.created_at, campaigns.c.id)
                            < sa.tuple_(sa.literal(before[0]), sa.literal(before[1])))
    if statuses:
        query = query.where(campaigns.c.status.in_(statuses))
    if text:
        pattern = _like_pattern(text)
        query = query.where(sa.or_(
            campaigns.c.name.ilike(pattern, escape="\\"),
            campaigns.c.definition["description"].astext.ilike(pattern, escape="\\"),
        ))
    query = query.order_by(campaigns.c.created_at.desc(), campaigns.c.id.desc()).limit(limit)
    return list((await conn.execute(query)).all())


async def get_campaign(
    conn: AsyncConnection, workspace_id: uuid.UUID, campaign_id: uuid.UUID, *,
    for_update: bool = False,
) -> AnyRow | None:
    # Scoped by workspace: another workspace's id is simply not found.
    query = sa.select(*_LIST_COLUMNS).where(
        campaigns.c.id == campaign_id, campaigns.c.workspace_id == workspace_id)
    if for_update:
        query = query.with_for_update(of=campaigns)
    return (await conn.execute(query)).first()


async def update_campaign(conn: AsyncConnection, campaign_id: uuid.UUID, **values: Any) -> None:
    await conn.execute(
        sa.update(campaigns).where(campaigns.c.id == campaign_id)
        .values(updated_at=sa.func.now(), **values)
    )


async def campaign_emails_of(conn: AsyncConnection, campaign_id: uuid.UUID) -> list[AnyRow]:
    return list(
        (
            await conn.execute(
                sa.select(campaign_emails)
                .where(campaign_emails.c.campaign_id == campaign_id)
                .order_by(campaign_emails.c.sequence)
            )
        ).all()
    )


async def record_generated(conn: AsyncConnection, **values: Any) -> None:
    stmt = insert(campaign_emails).values(**values)
    excluded = {k: stmt.excluded[k] for k in values if k not in ("campaign_id", "sequence")}
    await conn.execute(stmt.on_conflict_do_update(
        index_elements=["campaign_id", "sequence"], set_=excluded))


async def bump_campaign(conn: AsyncConnection, campaign_id: uuid.UUID, **counters: int) -> None:
    await conn.execute(
        sa.update(campaigns)
        .where(campaigns.c.id == campaign_id)
        .values(updated_at=sa.func.now(),
                **{name: campaigns.c[name] + delta for name, delta in counters.items()})
    )


async def bump_email(
    conn: AsyncConnection, campaign_id: uuid.UUID, sequence: int, **counters: int
) -> None:
    """Add to the email's counters; its performance summary is then due (the publisher
    sends one only if the counts it carries changed)."""
    stmt = insert(campaign_emails).values(campaign_id=campaign_id, sequence=sequence,
                                          summary_due=True, **counters)
    await conn.execute(stmt.on_conflict_do_update(
        index_elements=["campaign_id", "sequence"],
        set_={**{name: campaign_emails.c[name] + delta for name, delta in counters.items()},
              "summary_due": True},
    ))


async def set_status(conn: AsyncConnection, campaign_id: uuid.UUID, status: str) -> None:
    await conn.execute(
        sa.update(campaigns).where(campaigns.c.id == campaign_id)
        .values(status=status, updated_at=sa.func.now())
    )


async def planned_times(conn: AsyncConnection, campaign_id: uuid.UUID) -> list[str]:
    times = (await conn.execute(sa.select(campaigns.c.next_send_times)
                                .where(campaigns.c.id == campaign_id).with_for_update())
             ).scalar_one_or_none()
    return list(times or [])


async def set_plan(
    conn: AsyncConnection, campaign_id: uuid.UUID, *, planned_emails: int, next_sequence: int,
    next_send_times: list[str],
) -> None:
    await conn.execute(
        sa.update(campaigns).where(campaigns.c.id == campaign_id)
        .values(planned_emails=planned_emails, next_sequence=next_sequence,
                next_send_times=next_send_times, updated_at=sa.func.now())
    )


async def mark_completed(conn: AsyncConnection, campaign_id: uuid.UUID) -> None:
    # A cancellation that crossed the scheduler's last email stays a cancellation.
    await conn.execute(
        sa.update(campaigns)
        .where(campaigns.c.id == campaign_id, campaigns.c.status != "cancelled")
        .values(status="completed", updated_at=sa.func.now())
    )
