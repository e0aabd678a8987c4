"""The workspace's contacts: batched upsert, reads, search and cursor pages, update, delete.

Every query is scoped by workspace: another workspace's contact is simply not found."""

from __future__ import annotations

import json
import uuid
from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import ARRAY, UUID, insert
from sqlalchemy.ext.asyncio import AsyncConnection

from campaign_api.contacts_domain import Contact
from campaign_api.db.consent import delete_consents
from campaign_api.db.contact_tables import (
    consents,
    contacts,
    list_members,
    lists,
    sends,
    suppressions,
)
from campaign_api.db.tables import AnyRow, workspaces

# What contacts.changed needs of a row, and what the API shows.
STATE = (contacts.c.id, contacts.c.email, contacts.c.name, contacts.c.fields, contacts.c.tags,
         contacts.c.timezone, contacts.c.language, contacts.c.status, contacts.c.source,
         contacts.c.send_hours, contacts.c.created_at, contacts.c.updated_at)
_TEXTS = ARRAY(sa.Text)

# One statement per batch: the batch's columns travel as arrays and unnest into rows. An
# existing contact keeps its status (an import never resubscribes a bounce) and what the row
# leaves out; its fields and tags are merged. Only rows that change come back, with their id
# and what contacts.changed needs (no more: an import decodes a million of them). The CSV
# import (db.contact_import) ends its INSERT ... SELECT with the same UPSERT_MERGE.
UPSERT_MERGE = """
ON CONFLICT (workspace_id, email) DO UPDATE SET
    name = CASE WHEN excluded.name <> '' THEN excluded.name ELSE c.name END,
    fields = c.fields || excluded.fields,
    tags = ARRAY(SELECT DISTINCT t FROM unnest(c.tags || excluded.tags) AS t ORDER BY t),
    timezone = COALESCE(excluded.timezone, c.timezone),
    language = COALESCE(excluded.language, c.language),
    updated_at = now()
WHERE :update_existing AND (
    (excluded.name <> '' AND excluded.name <> c.name)
    OR NOT c.fields @> excluded.fields
    OR NOT c.tags @> excluded.tags
    OR (excluded.timezone IS NOT NULL AND excluded.timezone IS DISTINCT FROM c.timezone)
    OR (excluded.language IS NOT NULL AND excluded.language IS DISTINCT FROM c.language))
RETURNING c.id, c.email, c.name, c.fields, c.tags, c.timezone, c.language, c.status,
          c.send_hours, c.updated_at, (c.xmax = 0) AS inserted
"""
_UPSERT = sa.text("""
INSERT INTO contacts AS c (id, workspace_id, email, name, fields, tags, timezone, language,
                           status, source)
SELECT gen_random_uuid(), :workspace_id, u.email, u.name, u.fields::jsonb,
       ARRAY(SELECT jsonb_array_elements_text(u.tags::jsonb)), u.timezone, u.language,
       u.status, :source
FROM unnest(:emails, :names, :fields, :tags, :timezones, :languages, :statuses)
     AS u(email, name, fields, tags, timezone, language, status)
""" + UPSERT_MERGE).bindparams(
    sa.bindparam("workspace_id", type_=UUID(as_uuid=True)),
    sa.bindparam("emails", type_=_TEXTS), sa.bindparam("names", type_=_TEXTS),
    sa.bindparam("fields", type_=_TEXTS), sa.bindparam("tags", type_=_TEXTS),
    sa.bindparam("timezones", type_=_TEXTS), sa.bindparam("languages", type_=_TEXTS),
    sa.bindparam("statuses", type_=_TEXTS), sa.bindparam("update_existing", type_=sa.Boolean),
    sa.bindparam("source", type_=sa.Text),
)


async def upsert_contacts(
    conn: AsyncConnection, workspace_id: uuid.UUID, batch: Sequence[Contact], *, source: str,
    update_existing: bool = True,
) -> list[AnyRow]:
    """Insert or merge a batch of contacts (one address each; the caller dedupes). Returns the
    rows inserted or changed, with `inserted` telling which."""
    if not batch:
        return []
    return list((await conn.execute(_UPSERT, {
        "workspace_id": workspace_id, "source": source, "update_existing": update_existing,
        "emails": [c.email for c in batch], "names": [c.name for c in batch],
        "fields": [json.dumps(c.fields) for c in batch],
        "tags": [json.dumps(c.tags) for c in batch],
        "timezones": [c.timezone for c in batch], "languages": [c.language for c in batch],
        "statuses": [c.status for c in batch],
    })).all())


async def ids_by_email(conn: AsyncConnection, workspace_id: uuid.UUID,
                       emails: Sequence[str]) -> dict[str, uuid.UUID]:
    if not emails:
        return {}
    rows = await conn.execute(sa.select(contacts.c.email, contacts.c.id).where(
        contacts.c.workspace_id == workspace_id,
        contacts.c.email == sa.func.any(sa.cast(list(emails), _TEXTS))))
    return {r.email: r.id for r in rows}


async def existing_ids(conn: AsyncConnection, workspace_id: uuid.UUID,
                       ids: Sequence[uuid.UUID]) -> dict[uuid.UUID, str]:
    """Of `ids`, those of this workspace's contacts, with their addresses."""
    if not ids:
        return {}
    rows = await conn.execute(sa.select(contacts.c.id, contacts.c.email).where(
        contacts.c.workspace_id == workspace_id,
        contacts.c.id == sa.func.any(sa.cast(list(ids), ARRAY(UUID(as_uuid=True))))))
    return {r.id: r.email for r in rows}


async def record_consents(
    conn: AsyncConnection, contact_ids: Sequence[uuid.UUID], *, source: str, basis: str,
    list_id: uuid.UUID | None = None, consent_text: str = "",
) -> None:
    """One consent record per contact, as stated by the call that brought them."""
    if not contact_ids:
        return
    ids = sa.func.unnest(sa.cast(list(contact_ids), ARRAY(UUID(as_uuid=True))))
    await conn.execute(consents.insert().from_select(
        ["contact_id", "list_id", "source", "basis", "consent_text"],
        sa.select(ids, sa.cast(sa.literal(list_id), UUID(as_uuid=True)), sa.literal(source),
                  sa.literal(basis), sa.literal(consent_text))))


async def get_contact(conn: AsyncConnection, workspace_id: uuid.UUID, contact_id: uuid.UUID,
                      *, for_update: bool = False) -> AnyRow | None:
    query = sa.select(*STATE).where(contacts.c.workspace_id == workspace_id,
                                    contacts.c.id == contact_id)
    if for_update:
        query = query.with_for_update()
    return (await conn.execute(query)).first()


async def contact_by_email(conn: AsyncConnection, workspace_id: uuid.UUID,
                           email: str) -> AnyRow | None:
    return (await conn.execute(sa.select(*STATE).where(
        contacts.c.workspace_id == workspace_id, contacts.c.email == email))).first()


async def lists_of(conn: AsyncConnection, contact_id: uuid.UUID) -> list[AnyRow]:
    return list((await conn.execute(
        sa.select(lists.c.id, lists.c.name, lists.c.kind, list_members.c.added_at)
        .join(list_members, list_members.c.list_id == lists.c.id)
        .where(list_members.c.contact_id == contact_id).order_by(lists.c.name))).all())


async def consents_of(conn: AsyncConnection, contact_id: uuid.UUID) -> list[AnyRow]:
    return list((await conn.execute(
        sa.select(consents).where(consents.c.contact_id == contact_id)
        .order_by(consents.c.given_at, consents.c.id))).all())


def _prefix(text: str) -> str:
    escaped = text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"{escaped}%"


async def search_contacts(
    conn: AsyncConnection, workspace_id: uuid.UUID, *, limit: int, after: str | None = None,
    prefix: str | None = None, tag: str | None = None, status: str | None = None,
    list_id: uuid.UUID | None = None,
) -> list[AnyRow]:
    """A page of contacts by address. `prefix` matches the start of the address or of the
    name (case-insensitive), each served by its prefix index (migration 0008)."""
    c = contacts.c
    query = sa.select(*STATE).where(c.workspace_id == workspace_id)
    if prefix:
        pattern = _prefix(prefix.strip().lower())
        query = query.where(sa.or_(c.email.like(pattern, escape="\\"),
                                   sa.func.lower(c.name).like(pattern, escape="\\")))
    if tag:
        query = query.where(c.tags.contains(sa.cast([tag], _TEXTS)))
    if status:
        query = query.where(c.status == status)
    if list_id is not None:
        query = query.where(sa.exists().where(list_members.c.list_id == list_id,
                                              list_members.c.contact_id == c.id))
    if after is not None:
        query = query.where(c.email > after)
    return list((await conn.execute(query.order_by(c.email).limit(limit))).all())


async def update_contact(conn: AsyncConnection, contact_id: uuid.UUID,
                         values: dict[str, Any]) -> AnyRow:
    row = (await conn.execute(
        sa.update(contacts).where(contacts.c.id == contact_id)
        .values(updated_at=sa.func.now(), **values).returning(*STATE))).one()
    return row


async def delete_contact(conn: AsyncConnection, workspace_id: uuid.UUID,
                         contact_id: uuid.UUID) -> str | None:
    """Delete a contact with its memberships (their keys cascade) and consent records; its
    address, or None when the workspace has no such contact."""
    email = (await conn.execute(
        sa.delete(contacts).where(contacts.c.workspace_id == workspace_id,
                                  contacts.c.id == contact_id)
        .returning(contacts.c.email))).scalar_one_or_none()
    if email is not None:
        await delete_consents(conn, contact_ids=[contact_id])
    return email


async def set_status_by_email(
    conn: AsyncConnection, workspace_id: uuid.UUID, emails: Sequence[str], status: str,
    *, unless: Sequence[str] = (),
) -> list[AnyRow]:
    """Contacts of these addresses put in `status`, but for those already in it or in one of
    `unless`; their new rows."""
    if not emails:
        return []
    return list((await conn.execute(
        sa.update(contacts).where(
            contacts.c.workspace_id == workspace_id,
            contacts.c.email == sa.func.any(sa.cast(list(emails), _TEXTS)),
            contacts.c.status.not_in([status, *unless]))
        .values(status=status, updated_at=sa.func.now()).returning(*STATE))).all())


async def strip_field(conn: AsyncConnection, workspace_id: uuid.UUID,
                      key: str) -> list[AnyRow]:
    """Take a field's values off every contact that has one; their new rows."""
    return list((await conn.execute(
        sa.update(contacts).where(contacts.c.workspace_id == workspace_id,
                                  contacts.c.fields.has_key(key))
        .values(fields=contacts.c.fields.op("-")(sa.literal(key)), updated_at=sa.func.now())
        .returning(*STATE))).all())




async def suppress_addresses(conn: AsyncConnection, workspace_id: uuid.UUID,
                             emails: Sequence[str], reason: str,
                             note: str = "") -> list[str]:
    """Put addresses on the workspace's suppression list; those that were not on it yet (one
    already there keeps its first reason)."""
    if not emails:
        return []
    stmt = (insert(suppressions).from_select(
        ["workspace_id", "email", "reason", "note"],
        sa.select(workspaces.c.id, sa.func.unnest(sa.cast(list(emails), _TEXTS)),
                  sa.literal(reason), sa.literal(note)).where(workspaces.c.id == workspace_id))
        .on_conflict_do_nothing().returning(suppressions.c.email))
    return sorted((await conn.execute(stmt)).scalars())


async def record_send(conn: AsyncConnection, **values: Any) -> None:
    """One row per email sent to an address (the contact's timeline); a redelivery is one."""
    await conn.execute(insert(sends).values(**values).on_conflict_do_nothing())
