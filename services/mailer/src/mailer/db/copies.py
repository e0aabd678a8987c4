"""The mailer's copies of what other services publish: campaigns, audiences, the suppression
list and each email's content."""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncConnection

from mailer.db.tables import audience_members, campaigns, contents, suppressions

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
                       row.from_name, row.from_email, row.reply_to, row.state)


async def set_campaign_state(conn: AsyncConnection, campaign_id: uuid.UUID, state: str) -> None:
    await conn.execute(
        sa.update(campaigns).where(campaigns.c.campaign_id == campaign_id).values(state=state)
    )


# --- audiences and suppressions -------------------------------------------------------------


async def upsert_members(
    conn: AsyncConnection,
    audience_id: uuid.UUID,
    workspace_id: uuid.UUID,
    members: Sequence[tuple[str, str, dict[str, str]]],
) -> None:
    """(email, name, fields) per member; a member added again is current again."""
    stmt = insert(audience_members)
    await conn.execute(
        stmt.on_conflict_do_update(
            index_elements=[audience_members.c.audience_id, audience_members.c.email],
            set_={"name": stmt.excluded.name, "fields": stmt.excluded.fields,
                  "removed_at": None, "updated_at": sa.func.now()},
        ),
        [{"audience_id": audience_id, "workspace_id": workspace_id, "email": email,
          "name": name, "fields": fields} for email, name, fields in members],
    )


async def remove_members(
    conn: AsyncConnection, audience_id: uuid.UUID, emails: Iterable[str], at: datetime
) -> None:
    await conn.execute(
        sa.update(audience_members)
        .where(audience_members.c.audience_id == audience_id,
               audience_members.c.email.in_(list(emails)),
               audience_members.c.removed_at.is_(None))
        .values(removed_at=at)
    )


async def suppress(
    conn: AsyncConnection, workspace_id: uuid.UUID, email: str, reason: str, at: datetime
) -> None:
    """The first reason an address was suppressed for is the one kept."""
    await conn.execute(
        insert(suppressions)
        .values(workspace_id=workspace_id, email=email.lower(), reason=reason, created_at=at)
        .on_conflict_do_nothing()
    )


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
