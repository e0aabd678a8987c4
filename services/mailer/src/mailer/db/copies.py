"""The mailer's copies of what other services publish: campaigns, contacts and their list
memberships, the suppression list and each email's content."""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, time
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncConnection

from mailer.db.tables import campaigns, contacts, contents, memberships, suppressions

# --- campaigns ------------------------------------------------------------------------------


@dataclass(frozen=True)
class CampaignRow:
    campaign_id: uuid.UUID
    workspace_id: uuid.UUID
    audience_id: uuid.UUID
    name: str
    from_name: str
    from_email: str | None
    reply_to: str | None
    state: str
    # campaign | journey: a journey's contacts are its enrollments, not its lists.
    kind: str = "campaign"


async def upsert_campaign(conn: AsyncConnection, **values: Any) -> None:
    """A new campaign starts active; a known one takes the new definition and keeps its state."""
    stmt = insert(campaigns).values(state="active", **values)
    changed = {k: stmt.excluded[k] for k in values if k != "campaign_id"}
    await conn.execute(stmt.on_conflict_do_update(
        index_elements=[campaigns.c.campaign_id], set_={**changed, "updated_at": sa.func.now()},
    ))


async def get_campaign(
    conn: AsyncConnection, campaign_id: uuid.UUID, *, for_update: bool = False
) -> CampaignRow | None:
    stmt = sa.select(campaigns).where(campaigns.c.campaign_id == campaign_id)
    if for_update:
        stmt = stmt.with_for_update()
    row = (await conn.execute(stmt)).first()
    if row is None:
        return None
    return CampaignRow(row.campaign_id, row.workspace_id, row.audience_id, row.name,
                       row.from_name, row.from_email, row.reply_to, row.state, row.kind)


@dataclass(frozen=True)
class CampaignTiming:
    """What decides each contact's due time for a campaign's emails."""

    timezone: str
    send_time: time
    per_contact_time: bool
    send_time_optimization: bool


async def campaign_timing(conn: AsyncConnection, campaign_id: uuid.UUID) -> CampaignTiming:
    c = campaigns.c
    row = (await conn.execute(
        sa.select(c.timezone, c.send_time, c.per_contact_time, c.send_time_optimization)
        .where(c.campaign_id == campaign_id))).one()
    return CampaignTiming(row.timezone, row.send_time, row.per_contact_time,
                          row.send_time_optimization)


async def set_campaign_state(conn: AsyncConnection, campaign_id: uuid.UUID, state: str) -> None:
    await conn.execute(
        sa.update(campaigns).where(campaigns.c.campaign_id == campaign_id).values(state=state)
    )


# --- contacts, memberships and suppressions --------------------------------------------------


@dataclass(frozen=True)
class ContactValues:
    """A contact's state as campaign-api last sent it."""

    email: str
    name: str
    fields: dict[str, str]
    timezone: str | None
    language: str | None
    status: str
    changed_at: datetime
    send_hours: list[int] | None = None


async def upsert_contacts(
    conn: AsyncConnection, workspace_id: uuid.UUID, contacts: Sequence[ContactValues]
) -> None:
    """Store each contact's state unless a newer one is stored already (events may arrive
    again, late). One address once per call: the caller keeps the newest."""
    if contacts:
        await _upsert(conn, workspace_id, [
            {"email": c.email, "name": c.name, "fields": c.fields, "timezone": c.timezone,
             "language": c.language, "status": c.status, "send_hours": c.send_hours,
             "changed_at": c.changed_at}
            for c in contacts])


async def _upsert(
    conn: AsyncConnection, workspace_id: uuid.UUID, rows: list[dict[str, Any]]
) -> None:
    stmt = insert(contacts).values([{"workspace_id": workspace_id, **row} for row in rows])
    columns = [k for k in rows[0] if k != "email"]
    await conn.execute(stmt.on_conflict_do_update(
        index_elements=[contacts.c.workspace_id, contacts.c.email],
        set_={k: stmt.excluded[k] for k in columns},
        where=contacts.c.changed_at <= stmt.excluded.changed_at,
    ))


async def delete_contacts(
    conn: AsyncConnection, workspace_id: uuid.UUID, emails: Sequence[str]
) -> None:
    """The contacts and their memberships; their deliveries stay, as history."""
    await conn.execute(sa.delete(memberships).where(
        memberships.c.workspace_id == workspace_id, memberships.c.email.in_(emails)))
    await conn.execute(sa.delete(contacts).where(
        contacts.c.workspace_id == workspace_id, contacts.c.email.in_(emails)))


async def add_members(
    conn: AsyncConnection, workspace_id: uuid.UUID, list_id: uuid.UUID, emails: Sequence[str]
) -> None:
    await conn.execute(
        insert(memberships).values([
            {"list_id": list_id, "email": email, "workspace_id": workspace_id}
            for email in dict.fromkeys(emails)])
        .on_conflict_do_nothing())


async def remove_members(
    conn: AsyncConnection, workspace_id: uuid.UUID, list_id: uuid.UUID, emails: Sequence[str]
) -> None:
    await conn.execute(sa.delete(memberships).where(
        memberships.c.list_id == list_id, memberships.c.workspace_id == workspace_id,
        memberships.c.email.in_(emails)))


async def upsert_audience_members(
    conn: AsyncConnection,
    audience_id: uuid.UUID,
    workspace_id: uuid.UUID,
    members: Sequence[tuple[str, str, dict[str, str]]],
    at: datetime,
) -> None:
    """The old audience event's (email, name, fields) members: contacts whose name and
    fields they set (a new one subscribed, a known one keeping its status, zone and
    language), on the list whose id is the audience's."""
    if not members:
        return
    await _upsert(conn, workspace_id, [
        {"email": email, "name": name, "fields": fields, "changed_at": at}
        for email, name, fields in members])
    await add_members(conn, workspace_id, audience_id, [email for email, _, _ in members])


async def suppress(
    conn: AsyncConnection, workspace_id: uuid.UUID, email: str, reason: str, at: datetime
) -> None:
    """The first reason an address was suppressed for is the one kept."""
    await conn.execute(
        insert(suppressions)
        .values(workspace_id=workspace_id, email=email.lower(), reason=reason, created_at=at)
        .on_conflict_do_nothing()
    )


async def unsuppress(
    conn: AsyncConnection, workspace_id: uuid.UUID, emails: Sequence[str]
) -> None:
    await conn.execute(sa.delete(suppressions).where(
        suppressions.c.workspace_id == workspace_id,
        suppressions.c.email.in_([email.lower() for email in emails])))


async def suppress_many(
    conn: AsyncConnection, addresses: Sequence[tuple[uuid.UUID, str]], reason: str,
    at: datetime,
) -> None:
    """(workspace_id, email) pairs, in one statement; as `suppress`."""
    await conn.execute(
        insert(suppressions).on_conflict_do_nothing(),
        [{"workspace_id": ws, "email": email.lower(), "reason": reason, "created_at": at}
         for ws, email in addresses],
    )


# --- contents -------------------------------------------------------------------------------


@dataclass(frozen=True)
class ContentRow:
    correlation_id: uuid.UUID
    subject: str
    preheader: str
    body_html: str
    body_text: str
    trace_headers: dict[str, str] | None = None


async def insert_content(conn: AsyncConnection, **values: Any) -> bool:
    """False when this (campaign, sequence) was stored before."""
    stmt = insert(contents).values(**values).on_conflict_do_nothing().returning(
        contents.c.campaign_id
    )
    return (await conn.execute(stmt)).first() is not None


async def contents_for(
    conn: AsyncConnection, keys: Iterable[tuple[uuid.UUID, int]]
) -> dict[tuple[uuid.UUID, int], ContentRow]:
    wanted = list(set(keys))
    if not wanted:
        return {}
    rows = await conn.execute(
        sa.select(contents).where(sa.tuple_(contents.c.campaign_id, contents.c.sequence)
                                  .in_(wanted))
    )
    return {
        (r.campaign_id, r.sequence): ContentRow(r.correlation_id, r.subject, r.preheader,
                                                r.body_html, r.body_text, r.trace_headers)
        for r in rows
    }
