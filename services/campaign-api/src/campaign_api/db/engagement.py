"""Opens, clicks and unsubscribes, with their human-or-machine label, and the stats counted
from them."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from campaign_api.db.contact_tables import sends
from campaign_api.db.tables import AnyRow, campaign_emails, engagements
from campaign_api.engagement_rules import EarlierClick, MachineReason


def unsubscribed_from(workspace_id: Any, email: Any) -> sa.Exists:
    """Whether the address unsubscribed from the workspace (the audiences' pages mark it too)."""
    e = engagements.c
    return sa.exists().where(e.workspace_id == workspace_id, e.email == email,
                             e.kind == "unsubscribe")


async def record_engagement(conn: AsyncConnection, **values: Any) -> None:
    await conn.execute(engagements.insert().values(**values))


async def delivered_at(
    conn: AsyncConnection, campaign_id: uuid.UUID, sequence: int, email: str
) -> datetime | None:
    """When the email reached the address, as email.sent said; None until it has."""
    s = sends.c
    return (await conn.execute(sa.select(s.sent_at).where(
        s.campaign_id == campaign_id, s.sequence == sequence, s.email == email))).scalar()


async def lock_recipient_email(
    conn: AsyncConnection, campaign_id: uuid.UUID, sequence: int, email: str
) -> None:
    """Until the transaction ends: a scanner fetches the links of a message at once, and each
    click must see the ones before it to tell a burst."""
    key = f"{campaign_id}/{sequence}/{email}"
    await conn.execute(sa.select(sa.func.pg_advisory_xact_lock(
        sa.func.hashtextextended(key, 0))))


async def links_of_email(
    conn: AsyncConnection, campaign_id: uuid.UUID, sequence: int
) -> int | None:
    c = campaign_emails.c
    return (await conn.execute(sa.select(c.links).where(
        c.campaign_id == campaign_id, c.sequence == sequence))).scalar()


async def clicks_since(
    conn: AsyncConnection, campaign_id: uuid.UUID, sequence: int, email: str, since: datetime
) -> list[EarlierClick]:
    """The address's clicks and trap-link hits of one email since `since`."""
    e = engagements.c
    rows = (await conn.execute(
        sa.select(e.id, e.kind, e.url, e.occurred_at, e.human)
        .where(e.campaign_id == campaign_id, e.sequence == sequence, e.email == email,
               e.kind.in_(("click", "trap")), e.occurred_at >= since)
        .order_by(e.occurred_at))).all()
    return [EarlierClick(id=r.id, url=None if r.kind == "trap" else r.url, at=r.occurred_at,
                         human=r.human) for r in rows]


async def label_machine(conn: AsyncConnection, ids: Sequence[int], reason: MachineReason) -> None:
    if ids:
        await conn.execute(sa.update(engagements).where(engagements.c.id.in_(ids))
                           .values(human=False, machine_reason=reason))


async def is_unsubscribed(conn: AsyncConnection, workspace_id: uuid.UUID, email: str) -> bool:
    """Unsubscribing is from the whole workspace, from whichever campaign's link."""
    return bool((await conn.execute(sa.select(unsubscribed_from(workspace_id, email)))).scalar())


async def has_engagement(conn: AsyncConnection, **values: Any) -> bool:
    conditions = [engagements.c[name] == value for name, value in values.items()]
    return (await conn.execute(sa.select(engagements.c.id).where(*conditions).limit(1))
            ).first() is not None


def _engagement_counts(group_by: list[sa.ColumnElement[Any]]) -> sa.Select[Any]:
    """All opens and clicks, and those labelled a person's (`human IS TRUE`: unlabelled ones,
    recorded before the labels, are not counted as people's)."""
    e = engagements.c
    human = e.human.is_(True)
    return sa.select(
        *group_by,
        sa.func.count().filter(e.kind == "open").label("opens"),
        sa.func.count(sa.distinct(e.email)).filter(e.kind == "open").label("unique_opens"),
        sa.func.count().filter(e.kind == "click").label("clicks"),
        sa.func.count(sa.distinct(e.email)).filter(e.kind == "click").label("unique_clicks"),
        sa.func.count().filter(e.kind == "open", human).label("human_opens"),
        sa.func.count(sa.distinct(e.email)).filter(e.kind == "open", human)
        .label("unique_human_opens"),
        sa.func.count().filter(e.kind == "click", human).label("human_clicks"),
        sa.func.count(sa.distinct(e.email)).filter(e.kind == "click", human)
        .label("unique_human_clicks"),
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


async def clicks_per_link(conn: AsyncConnection, campaign_id: uuid.UUID) -> list[AnyRow]:
    """Each email's links by their clicks, all and a person's, and the addresses that clicked
    them. Read through `engagements_by_campaign` (campaign, kind, sequence): the campaign's
    click rows only, never its opens or its deliveries."""
    e = engagements.c
    human = e.human.is_(True)
    query = (
        sa.select(
            e.sequence, e.url,
            sa.func.count().label("clicks"),
            sa.func.count(sa.distinct(e.email)).label("unique_clicks"),
            sa.func.count().filter(human).label("human_clicks"),
            sa.func.count(sa.distinct(e.email)).filter(human).label("unique_human_clicks"),
        )
        .where(e.campaign_id == campaign_id, e.kind == "click")
        .group_by(e.sequence, e.url)
        .order_by(e.sequence, sa.desc("unique_human_clicks"), sa.desc("clicks"), e.url)
    )
    return list((await conn.execute(query)).all())
