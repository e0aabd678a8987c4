"""Saved segments, their live count and sample, and the membership diff the refresher publishes.

`segment_members` is what the mailer was last told: a refresh inserts who the rule selects and
it lacks, deletes who it holds and the rule no longer selects, each in one statement over the
whole segment (never row by row), and returns the addresses of both for the events."""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection
from sqlalchemy.sql.elements import ColumnElement

from campaign_api.db.contact_tables import contacts, segment_members, segments
from campaign_api.db.tables import AnyRow

_members = (sa.select(sa.func.count()).where(segment_members.c.segment_id == segments.c.id)
            .scalar_subquery().label("members"))
_SEGMENT = (segments.c.id, segments.c.name, segments.c.rule, segments.c.created_at,
            segments.c.updated_at, segments.c.refreshed_at, _members)


async def insert_segment(conn: AsyncConnection, **values: Any) -> None:
    await conn.execute(segments.insert().values(**values))


async def get_segment(conn: AsyncConnection, workspace_id: uuid.UUID, segment_id: uuid.UUID,
                      *, for_update: bool = False) -> AnyRow | None:
    query = sa.select(*_SEGMENT).where(segments.c.workspace_id == workspace_id,
                                       segments.c.id == segment_id)
    if for_update:
        query = query.with_for_update(of=segments)
    return (await conn.execute(query)).first()


async def page_segments(conn: AsyncConnection, workspace_id: uuid.UUID, *, limit: int,
                        after: tuple[str, uuid.UUID] | None) -> list[AnyRow]:
    query = sa.select(*_SEGMENT).where(segments.c.workspace_id == workspace_id)
    if after is not None:
        query = query.where(sa.tuple_(segments.c.name, segments.c.id)
                            > sa.tuple_(sa.literal(after[0]), sa.literal(after[1])))
    return list((await conn.execute(
        query.order_by(segments.c.name, segments.c.id).limit(limit))).all())


async def update_segment(conn: AsyncConnection, segment_id: uuid.UUID, **values: Any) -> None:
    """A changed segment is due for a refresh at once (refreshed_at NULL)."""
    await conn.execute(sa.update(segments).where(segments.c.id == segment_id).values(
        **values, updated_at=sa.func.now(), refreshed_at=None))


async def delete_segment(conn: AsyncConnection, segment_id: uuid.UUID) -> list[str]:
    """Delete a segment; the addresses the mailer held as its members."""
    emails = await stored_member_emails(conn, segment_id)
    await conn.execute(sa.delete(segments).where(segments.c.id == segment_id))
    return emails


async def stored_member_emails(conn: AsyncConnection, segment_id: uuid.UUID) -> list[str]:
    return list((await conn.execute(
        sa.select(contacts.c.email).join(segment_members,
                                         segment_members.c.contact_id == contacts.c.id)
        .where(segment_members.c.segment_id == segment_id))).scalars())


async def count_and_sample(conn: AsyncConnection, where: ColumnElement[bool],
                           sample: int) -> tuple[int, list[AnyRow]]:
    """How many contacts `where` selects, and the first `sample` of them by address."""
    count = (await conn.execute(sa.select(sa.func.count()).select_from(contacts)
                                .where(where))).scalar_one()
    rows = (await conn.execute(
        sa.select(contacts.c.id, contacts.c.email, contacts.c.name, contacts.c.status)
        .where(where).order_by(contacts.c.email).limit(sample))).all()
    return count, list(rows)


async def claim_due_segment(conn: AsyncConnection, now: datetime,
                            interval: timedelta) -> AnyRow | None:
    """One segment due for a refresh (changed, never refreshed, or last refreshed `interval`
    ago), locked for this transaction; SKIP LOCKED lets replicas refresh others meanwhile."""
    query = (sa.select(segments.c.id, segments.c.workspace_id, segments.c.rule)
             .where(sa.or_(segments.c.refreshed_at.is_(None),
                           segments.c.refreshed_at <= now - interval))
             .order_by(segments.c.refreshed_at.asc().nulls_first(), segments.c.id)
             .limit(1).with_for_update(skip_locked=True))
    return (await conn.execute(query)).first()


async def refresh_members(conn: AsyncConnection, segment_id: uuid.UUID,
                          where: ColumnElement[bool], now: datetime) -> tuple[list[str], list[str]]:
    """Bring segment_members to what `where` selects; the addresses (added, removed)."""
    sm = segment_members.c
    joined = (sa.select(sa.literal(segment_id), contacts.c.id)
              .where(where, ~sa.exists().where(sm.segment_id == segment_id,
                                               sm.contact_id == contacts.c.id)))
    inserted = (segment_members.insert()
                .from_select(["segment_id", "contact_id"], joined)
                .returning(sm.contact_id).cte("inserted"))
    added = list((await conn.execute(
        sa.select(contacts.c.email).join(inserted, inserted.c.contact_id == contacts.c.id)
    )).scalars())
    still = sa.exists().where(contacts.c.id == sm.contact_id, where)
    deleted = (sa.delete(segment_members)
               .where(sm.segment_id == segment_id, ~still)
               .returning(sm.contact_id).cte("deleted"))
    removed = list((await conn.execute(
        sa.select(contacts.c.email).join(deleted, deleted.c.contact_id == contacts.c.id)
    )).scalars())
    await conn.execute(sa.update(segments).where(segments.c.id == segment_id)
                       .values(refreshed_at=now))
    return added, removed
