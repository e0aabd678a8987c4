"""Opens, clicks and unsubscribes, and the stats counted from them."""

from __future__ import annotations

import uuid
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from campaign_api.db.tables import AnyRow, campaign_emails, engagements


def unsubscribed_from(workspace_id: Any, email: Any) -> sa.Exists:
    """Whether the address unsubscribed from the workspace (the audiences' pages mark it too)."""
    e = engagements.c
    return sa.exists().where(e.workspace_id == workspace_id, e.email == email,
                             e.kind == "unsubscribe")


async def record_engagement(conn: AsyncConnection, **values: Any) -> None:
    await conn.execute(engagements.insert().values(**values))


async def is_unsubscribed(conn: AsyncConnection, workspace_id: uuid.UUID, email: str) -> bool:
    """Unsubscribing is from the whole workspace, from whichever campaign's link."""
    return bool((await conn.execute(sa.select(unsubscribed_from(workspace_id, email)))).scalar())


async def has_engagement(conn: AsyncConnection, **values: Any) -> bool:
    conditions = [engagements.c[name] == value for name, value in values.items()]
    return (await conn.execute(sa.select(engagements.c.id).where(*conditions).limit(1))
            ).first() is not None


def _engagement_counts(group_by: list[sa.ColumnElement[Any]]) -> sa.Select[Any]:
    e = engagements.c
    return sa.select(
        *group_by,
        sa.func.count().filter(e.kind == "open").label("opens"),
        sa.func.count(sa.distinct(e.email)).filter(e.kind == "open").label("unique_opens"),
        sa.func.count().filter(e.kind == "click").label("clicks"),
        sa.func.count(sa.distinct(e.email)).filter(e.kind == "click").label("unique_clicks"),
        sa.func.count(sa.distinct(e.email)).filter(e.kind == "unsubscribe")
        .label("unsubscribes"),
    )


async def engagement_per_email(conn: AsyncConnection, campaign_id: uuid.UUID) -> list[AnyRow]:
    query = (_engagement_counts([engagements.c.sequence])
             .where(engagements.c.campaign_id == campaign_id)
             .group_by(engagements.c.sequence))
    return list((await conn.execute(query)).all())


async def engagement_of_campaign(conn: AsyncConnection, campaign_id: uuid.UUID) -> AnyRow:
    query = _engagement_counts([]).where(engagements.c.campaign_id == campaign_id)
    row: AnyRow = (await conn.execute(query)).one()
    return row


async def engagement_per_structure(
    conn: AsyncConnection, campaign_id: uuid.UUID
) -> list[AnyRow]:
    structure = sa.func.coalesce(campaign_emails.c.structure, "").label("structure")
    query = (
        _engagement_counts([structure])
        .select_from(engagements.join(campaign_emails, sa.and_(
            campaign_emails.c.campaign_id == engagements.c.campaign_id,
            campaign_emails.c.sequence == engagements.c.sequence)))
        .where(engagements.c.campaign_id == campaign_id)
        .group_by(structure)
    )
    return list((await conn.execute(query)).all())
