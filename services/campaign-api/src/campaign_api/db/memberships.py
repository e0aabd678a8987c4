"""Lists and their members, and the custom field declarations of a workspace."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import ARRAY, UUID, insert
from sqlalchemy.ext.asyncio import AsyncConnection

from campaign_api.db.consent import delete_consents
from campaign_api.db.contact_tables import contact_fields, contacts, list_members, lists
from campaign_api.db.tables import AnyRow

_IDS = ARRAY(UUID(as_uuid=True))

_members_count = (sa.select(sa.func.count()).where(list_members.c.list_id == lists.c.id)
                  .scalar_subquery().label("members"))
_LIST = (lists.c.id, lists.c.name, lists.c.description, lists.c.kind, lists.c.campaign_id,
         lists.c.public, lists.c.consent_text, lists.c.created_at, _members_count)


async def insert_list(conn: AsyncConnection, **values: Any) -> None:
    await conn.execute(lists.insert().values(**values))


async def get_list(conn: AsyncConnection, workspace_id: uuid.UUID, list_id: uuid.UUID,
                   *, for_update: bool = False) -> AnyRow | None:
    query = sa.select(*_LIST).where(lists.c.workspace_id == workspace_id, lists.c.id == list_id)
    if for_update:
        query = query.with_for_update(of=lists)
    return (await conn.execute(query)).first()


async def page_lists(conn: AsyncConnection, workspace_id: uuid.UUID, *, limit: int,
                     after: tuple[str, uuid.UUID] | None, kind: str | None) -> list[AnyRow]:
    query = sa.select(*_LIST).where(lists.c.workspace_id == workspace_id)
    if kind:
        query = query.where(lists.c.kind == kind)
    if after is not None:
        query = query.where(sa.tuple_(lists.c.name, lists.c.id)
                            > sa.tuple_(sa.literal(after[0]), sa.literal(after[1])))
    return list((await conn.execute(
        query.order_by(lists.c.name, lists.c.id).limit(limit))).all())


async def update_list(conn: AsyncConnection, list_id: uuid.UUID, **values: Any) -> None:
    await conn.execute(sa.update(lists).where(lists.c.id == list_id).values(**values))


async def delete_list(conn: AsyncConnection, list_id: uuid.UUID) -> list[str]:
    """Delete a list with its memberships (their keys cascade) and consent records; the
    addresses that were on it."""
    emails = await member_emails(conn, list_id)
    await conn.execute(sa.delete(lists).where(lists.c.id == list_id))
    await delete_consents(conn, list_id=list_id)
    return emails


async def member_emails(conn: AsyncConnection, list_id: uuid.UUID) -> list[str]:
    return list((await conn.execute(
        sa.select(contacts.c.email).join(list_members, list_members.c.contact_id == contacts.c.id)
        .where(list_members.c.list_id == list_id).order_by(contacts.c.email))).scalars())


async def owned_ids(conn: AsyncConnection, workspace_id: uuid.UUID, table: sa.Table,
                    ids: Sequence[uuid.UUID]) -> set[uuid.UUID]:
    """Of `ids`, those of this workspace's rows in `table` (lists or segments)."""
    if not ids:
        return set()
    return set((await conn.execute(sa.select(table.c.id).where(
        table.c.workspace_id == workspace_id,
        table.c.id == sa.func.any(sa.cast(list(ids), _IDS))))).scalars())


async def add_to_list(conn: AsyncConnection, list_id: uuid.UUID,
                      contact_ids: Sequence[uuid.UUID]) -> list[str]:
    """Put contacts on a list in one statement; the addresses that were not on it yet."""
    if not contact_ids:
        return []
    added = (insert(list_members).from_select(
        ["list_id", "contact_id"],
        sa.select(sa.cast(sa.literal(list_id), UUID(as_uuid=True)),
                  sa.func.unnest(sa.cast(list(contact_ids), _IDS))))
        .on_conflict_do_nothing().returning(list_members.c.contact_id).cte("added"))
    return list((await conn.execute(
        sa.select(contacts.c.email).join(added, added.c.contact_id == contacts.c.id)
        .order_by(contacts.c.email))).scalars())


async def remove_from_list(conn: AsyncConnection, list_id: uuid.UUID,
                           contact_ids: Sequence[uuid.UUID]) -> list[str]:
    """Take contacts off a list; the addresses that were on it."""
    if not contact_ids:
        return []
    removed = (sa.delete(list_members).where(
        list_members.c.list_id == list_id,
        list_members.c.contact_id == sa.func.any(sa.cast(list(contact_ids), _IDS)))
        .returning(list_members.c.contact_id).cte("removed"))
    return list((await conn.execute(
        sa.select(contacts.c.email).join(removed, removed.c.contact_id == contacts.c.id)
        .order_by(contacts.c.email))).scalars())


async def page_members(conn: AsyncConnection, list_id: uuid.UUID, *, limit: int,
                       after: str | None) -> list[AnyRow]:
    query = (sa.select(contacts.c.id, contacts.c.email, contacts.c.name, contacts.c.fields,
                       contacts.c.status, list_members.c.added_at)
             .join(list_members, list_members.c.contact_id == contacts.c.id)
             .where(list_members.c.list_id == list_id))
    if after is not None:
        query = query.where(contacts.c.email > after)
    return list((await conn.execute(query.order_by(contacts.c.email).limit(limit))).all())


# --- custom fields ------------------------------------------------------------------------


async def declared_fields(conn: AsyncConnection, workspace_id: uuid.UUID) -> list[AnyRow]:
    return list((await conn.execute(
        sa.select(contact_fields).where(contact_fields.c.workspace_id == workspace_id)
        .order_by(contact_fields.c.key))).all())


async def field_types(conn: AsyncConnection, workspace_id: uuid.UUID) -> dict[str, str]:
    return {r.key: r.type for r in await declared_fields(conn, workspace_id)}


async def declare_field(conn: AsyncConnection, workspace_id: uuid.UUID, key: str, label: str,
                        type_: str) -> AnyRow:
    """Declare a field, or relabel one already of that type; the stored declaration (whose
    type tells the caller if the key was taken by another type)."""
    stmt = insert(contact_fields).values(workspace_id=workspace_id, key=key, label=label,
                                         type=type_)
    stmt = stmt.on_conflict_do_update(
        index_elements=["workspace_id", "key"], set_={"label": stmt.excluded.label},
        where=contact_fields.c.type == stmt.excluded.type)
    await conn.execute(stmt)
    return (await conn.execute(sa.select(contact_fields).where(
        contact_fields.c.workspace_id == workspace_id, contact_fields.c.key == key))).one()


async def declare_text_fields(conn: AsyncConnection, workspace_id: uuid.UUID,
                              keys: Sequence[str]) -> None:
    """Declare as text the merge fields a campaign's recipients bring, if not yet declared."""
    if not keys:
        return
    await conn.execute(insert(contact_fields).values(
        [{"workspace_id": workspace_id, "key": k, "label": k, "type": "text"} for k in keys])
        .on_conflict_do_nothing())


async def delete_field(conn: AsyncConnection, workspace_id: uuid.UUID, key: str) -> bool:
    return (await conn.execute(sa.delete(contact_fields).where(
        contact_fields.c.workspace_id == workspace_id, contact_fields.c.key == key)
        .returning(contact_fields.c.key))).first() is not None
