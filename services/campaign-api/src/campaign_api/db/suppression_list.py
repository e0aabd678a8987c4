"""The workspace's managed suppression list: pages, batched adds, recorded removals, export."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Sequence

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.ext.asyncio import AsyncConnection

from campaign_api.db.consent import CONTACT
from campaign_api.db.contact_tables import contacts, suppression_removals, suppressions
from campaign_api.db.tables import AnyRow

_TEXTS = ARRAY(sa.Text)
_COLUMNS = (suppressions.c.email, suppressions.c.reason, suppressions.c.note,
            suppressions.c.created_at)


def _listed(workspace_id: uuid.UUID, reason: str | None) -> sa.Select[tuple[str, str, str]]:
    s = suppressions.c
    query = sa.select(*_COLUMNS).where(s.workspace_id == workspace_id)
    return query.where(s.reason == reason) if reason else query


async def page_suppressions(
    conn: AsyncConnection, workspace_id: uuid.UUID, *, reason: str | None, after: str | None,
    limit: int,
) -> list[AnyRow]:
    """Ordered by address: the primary key serves the page, whatever the list's size."""
    query = _listed(workspace_id, reason)
    if after is not None:
        query = query.where(suppressions.c.email > after)
    return list((await conn.execute(query.order_by(suppressions.c.email).limit(limit))).all())


async def stream_suppressions(
    conn: AsyncConnection, workspace_id: uuid.UUID, reason: str | None
) -> AsyncIterator[AnyRow]:
    """Every entry, read with a server-side cursor: nothing but a batch is ever held."""
    result = await conn.stream(_listed(workspace_id, reason).order_by(suppressions.c.email)
                               .execution_options(yield_per=2_000))
    async for row in result:
        yield row


async def listed_among(conn: AsyncConnection, workspace_id: uuid.UUID,
                       emails: Sequence[str]) -> set[str]:
    """Which of the addresses are on the workspace's suppression list."""
    if not emails:
        return set()
    return set((await conn.execute(sa.select(suppressions.c.email).where(
        suppressions.c.workspace_id == workspace_id,
        suppressions.c.email == sa.func.any(sa.cast(list(emails), _TEXTS))))).scalars())


async def remove_suppression(
    conn: AsyncConnection, workspace_id: uuid.UUID, email: str, reason: str
) -> str | None:
    """Take the address off the list, recording why; the reason it had been listed for, or
    None when it was not listed."""
    gone = (await conn.execute(sa.delete(suppressions).where(
        suppressions.c.workspace_id == workspace_id, suppressions.c.email == email)
        .returning(suppressions.c.reason))).scalar_one_or_none()
    if gone is not None:
        await conn.execute(suppression_removals.insert().values(
            workspace_id=workspace_id, email=email, was_reason=gone, reason=reason))
    return gone


async def set_statuses(
    conn: AsyncConnection, workspace_id: uuid.UUID, emails: Sequence[str], status: str, *,
    only_from: str | None = None,
) -> list[AnyRow]:
    """The contacts of these addresses put in `status` (from `only_from` only, when given);
    the rows that changed, for contacts.changed."""
    if not emails:
        return []
    c = contacts.c
    query = sa.update(contacts).where(
        c.workspace_id == workspace_id, c.email == sa.func.any(sa.cast(list(emails), _TEXTS)),
        c.status != status)
    if only_from is not None:
        query = query.where(c.status == only_from)
    return list((await conn.execute(
        query.values(status=status, updated_at=sa.func.now()).returning(*CONTACT))).all())
