"""The facts journeys' branches and goals ask about, kept from the events that tell them:
contacts' state, list and segment memberships, people's opens and clicks per (campaign,
sequence), the links they clicked and the workspace's events. Read a batch at a time."""

from __future__ import annotations

import uuid
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import JSONB, UUID, insert
from sqlalchemy.ext.asyncio import AsyncConnection

from scheduler.db import metadata

_TZ = sa.DateTime(timezone=True)

journey_contacts = sa.Table(
    "journey_contacts", metadata,
    sa.Column("workspace_id", UUID(as_uuid=True), primary_key=True),
    sa.Column("email", sa.Text, primary_key=True),
    sa.Column("status", sa.Text, nullable=False, server_default="subscribed"),
    sa.Column("suppressed", sa.Boolean, nullable=False, server_default=sa.false()),
    sa.Column("timezone", sa.Text),
    sa.Column("fields", JSONB, nullable=False, server_default=sa.text("'{}'::jsonb")),
    sa.Column("tags", JSONB, nullable=False, server_default=sa.text("'[]'::jsonb")),
    sa.Column("changed_at", _TZ),
)
journey_memberships = sa.Table(
    "journey_memberships", metadata,
    sa.Column("workspace_id", UUID(as_uuid=True), primary_key=True),
    sa.Column("email", sa.Text, primary_key=True),
    sa.Column("list_id", UUID(as_uuid=True), primary_key=True),
)
journey_engagement = sa.Table(
    "journey_engagement", metadata,
    sa.Column("campaign_id", UUID(as_uuid=True), primary_key=True),
    sa.Column("email", sa.Text, primary_key=True),
    sa.Column("sequence", sa.Integer, primary_key=True),
    sa.Column("opened_at", _TZ),
    sa.Column("last_opened_at", _TZ),
    sa.Column("clicked_at", _TZ),
    sa.Column("last_clicked_at", _TZ),
)
journey_links = sa.Table(
    "journey_links", metadata,
    sa.Column("campaign_id", UUID(as_uuid=True), primary_key=True),
    sa.Column("email", sa.Text, primary_key=True),
    sa.Column("sequence", sa.Integer, primary_key=True),
    sa.Column("url", sa.Text, primary_key=True),
    sa.Column("clicked_at", _TZ, nullable=False),
    sa.Column("last_clicked_at", _TZ, nullable=False),
)
journey_activity = sa.Table(
    "journey_activity", metadata,
    sa.Column("event_id", UUID(as_uuid=True), primary_key=True),
    sa.Column("workspace_id", UUID(as_uuid=True), nullable=False),
    sa.Column("email", sa.Text, nullable=False),
    sa.Column("name", sa.Text, nullable=False),
    sa.Column("occurred_at", _TZ, nullable=False),
    sa.Index("journey_activity_contact", "workspace_id", "email"),
)


# --- facts ----------------------------------------------------------------------------------


async def upsert_contacts(conn: AsyncConnection, rows: list[dict[str, Any]]) -> None:
    """The newest state of each contact, whatever order redeliveries arrive in."""
    if not rows:
        return
    stmt = insert(journey_contacts).values(rows)
    await conn.execute(stmt.on_conflict_do_update(
        index_elements=[journey_contacts.c.workspace_id, journey_contacts.c.email],
        set_={k: stmt.excluded[k] for k in ("status", "timezone", "fields", "tags",
                                            "changed_at")},
        where=sa.or_(journey_contacts.c.changed_at.is_(None),
                     journey_contacts.c.changed_at <= stmt.excluded.changed_at),
    ))


async def set_suppressed(conn: AsyncConnection, workspace_id: uuid.UUID, emails: Sequence[str],
                         suppressed: bool) -> None:
    stmt = insert(journey_contacts).values(
        [{"workspace_id": workspace_id, "email": e, "suppressed": suppressed} for e in emails])
    await conn.execute(stmt.on_conflict_do_update(
        index_elements=[journey_contacts.c.workspace_id, journey_contacts.c.email],
        set_={"suppressed": suppressed}))


async def set_status(conn: AsyncConnection, workspace_id: uuid.UUID, email: str,
                     status: str) -> None:
    stmt = insert(journey_contacts).values(workspace_id=workspace_id, email=email,
                                           status=status)
    await conn.execute(stmt.on_conflict_do_update(
        index_elements=[journey_contacts.c.workspace_id, journey_contacts.c.email],
        set_={"status": status}))


async def add_members(conn: AsyncConnection, workspace_id: uuid.UUID, list_id: uuid.UUID,
                      emails: Sequence[str]) -> None:
    await conn.execute(insert(journey_memberships).values(
        [{"workspace_id": workspace_id, "email": e, "list_id": list_id} for e in emails]
    ).on_conflict_do_nothing())


async def remove_members(conn: AsyncConnection, workspace_id: uuid.UUID, list_id: uuid.UUID,
                         emails: Sequence[str]) -> None:
    m = journey_memberships.c
    await conn.execute(sa.delete(journey_memberships).where(
        m.workspace_id == workspace_id, m.list_id == list_id, m.email.in_(emails)))


async def record_engagement(conn: AsyncConnection, *, campaign_id: uuid.UUID, email: str,
                            sequence: int, at: datetime, clicked: bool) -> None:
    first, last = ("clicked_at", "last_clicked_at") if clicked else ("opened_at",
                                                                      "last_opened_at")
    t = journey_engagement
    stmt = insert(t).values(campaign_id=campaign_id, email=email, sequence=sequence,
                            **{first: at, last: at})
    await conn.execute(stmt.on_conflict_do_update(
        index_elements=[t.c.campaign_id, t.c.email, t.c.sequence],
        set_={first: sa.func.least(t.c[first], stmt.excluded[first]),
              last: sa.func.greatest(t.c[last], stmt.excluded[last])}))


async def record_link(conn: AsyncConnection, *, campaign_id: uuid.UUID, email: str,
                      sequence: int, url: str, at: datetime) -> None:
    t = journey_links
    stmt = insert(t).values(campaign_id=campaign_id, email=email, sequence=sequence, url=url,
                            clicked_at=at, last_clicked_at=at)
    await conn.execute(stmt.on_conflict_do_update(
        index_elements=[t.c.campaign_id, t.c.email, t.c.sequence, t.c.url],
        set_={"clicked_at": sa.func.least(t.c.clicked_at, stmt.excluded.clicked_at),
              "last_clicked_at": sa.func.greatest(t.c.last_clicked_at,
                                                  stmt.excluded.last_clicked_at)}))


async def record_activity(conn: AsyncConnection, **values: Any) -> None:
    await conn.execute(insert(journey_activity).values(**values).on_conflict_do_nothing())


def _keyed(table: str, key: str) -> sa.TextClause:
    """The rows of `table` for a batch's (`key`, address) pairs, given as two arrays: `:k`
    (uuids) and `:em`."""
    return sa.text(f"""
        SELECT t.* FROM {table} AS t
        JOIN unnest(CAST(:k AS uuid[]), CAST(:em AS text[])) AS k(k, em)
        ON t.{key} = k.k AND t.email = k.em
    """)  # noqa: S608 - table and column names are this module's constants


_CONTACTS = _keyed("journey_contacts", "workspace_id")
_MEMBERSHIPS = _keyed("journey_memberships", "workspace_id")
_ACTIVITY = _keyed("journey_activity", "workspace_id")
_ENGAGEMENT = _keyed("journey_engagement", "campaign_id")
_LINKS = _keyed("journey_links", "campaign_id")


@dataclass
class FactRows:
    """Everything known about a batch's contacts, keyed for the handlers to pick from."""

    contacts: dict[tuple[uuid.UUID, str], Any]
    lists: dict[tuple[uuid.UUID, str], set[uuid.UUID]]
    engagement: dict[tuple[uuid.UUID, str], list[Any]]
    links: dict[tuple[uuid.UUID, str], list[Any]]
    activity: dict[tuple[uuid.UUID, str], list[Any]]


async def facts_of(conn: AsyncConnection, claimed: Sequence[Any]) -> FactRows:
    """One query per kind of fact for the whole batch."""
    people = sorted({(r.workspace_id, r.email) for r in claimed})
    runs = sorted({(r.campaign_id, r.email) for r in claimed})
    facts = FactRows({}, defaultdict(set), defaultdict(list), defaultdict(list),
                     defaultdict(list))
    if not people:
        return facts
    # Keys as two arrays: the statements stay the same whatever the batch's size (no
    # thousand-parameter IN lists to compile per batch).
    by_person = {"k": [p[0] for p in people], "em": [p[1] for p in people]}
    by_run = {"k": [p[0] for p in runs], "em": [p[1] for p in runs]}
    for r in await conn.execute(_CONTACTS, by_person):
        facts.contacts[(r.workspace_id, r.email)] = r
    for r in await conn.execute(_MEMBERSHIPS, by_person):
        facts.lists[(r.workspace_id, r.email)].add(r.list_id)
    for r in await conn.execute(_ACTIVITY, by_person):
        facts.activity[(r.workspace_id, r.email)].append(r)
    for r in await conn.execute(_ENGAGEMENT, by_run):
        facts.engagement[(r.campaign_id, r.email)].append(r)
    for r in await conn.execute(_LINKS, by_run):
        facts.links[(r.campaign_id, r.email)].append(r)
    return facts
