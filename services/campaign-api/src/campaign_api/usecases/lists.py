"""Lists (static memberships) and the workspace's custom field declarations."""

from __future__ import annotations

import json
import uuid
from typing import Any

from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from campaign_api import db
from campaign_api.contacts_domain import InvalidContact, email_of, field_declaration
from campaign_api.db import AnyRow
from campaign_api.failures import Conflict, Invalid, NotFound
from campaign_api.schemas_contacts import (
    ContactList,
    FieldCreate,
    FieldDeclaration,
    ListCreate,
    ListPage,
    ListUpdate,
    Member,
    MemberPage,
    MembersChange,
    MembersResult,
)
from campaign_api.usecases._contact_events import (
    publish_contacts_changed,
    publish_members_removed,
)
from campaign_api.usecases._contact_writes import (
    add_members,
    decode_key,
    encode_key,
    refused,
    remove_members,
)
from servicekit.db import UnitOfWork


async def create_list(engine: AsyncEngine, workspace_id: uuid.UUID,
                      body: ListCreate) -> ContactList:
    list_id = uuid.uuid4()
    async with UnitOfWork(engine) as uow:
        await db.insert_list(uow.conn, id=list_id, workspace_id=workspace_id,
                             name=body.name.strip() or body.name, kind="list",
                             description=body.description, public=body.public,
                             consent_text=body.consent_text)
        found = await require_list(uow.conn, workspace_id, list_id)
        await uow.commit()
    return ContactList.model_validate(found, from_attributes=True)


async def require_list(conn: AsyncConnection, workspace_id: uuid.UUID, list_id: uuid.UUID,
                       *, for_update: bool = False) -> AnyRow:
    row = await db.get_list(conn, workspace_id, list_id, for_update=for_update)
    if row is None:
        raise NotFound(f"No list {list_id} in this workspace.")
    return row


async def get_list(engine: AsyncEngine, workspace_id: uuid.UUID,
                   list_id: uuid.UUID) -> ContactList:
    async with engine.connect() as conn:
        return ContactList.model_validate(await require_list(conn, workspace_id, list_id),
                                          from_attributes=True)


async def list_lists(engine: AsyncEngine, workspace_id: uuid.UUID, *, limit: int = 100,
                     cursor: str | None = None, kind: str | None = None) -> ListPage:
    raw = decode_key(cursor)
    try:
        after = None if raw is None else (lambda n, i: (str(n), uuid.UUID(str(i))))(
            *json.loads(raw))
    except (ValueError, TypeError) as exc:
        raise Invalid.field("cursor", "not a cursor this API returned") from exc
    async with engine.connect() as conn:
        rows = await db.page_lists(conn, workspace_id, limit=limit + 1, after=after, kind=kind)
    items = [ContactList.model_validate(r, from_attributes=True) for r in rows[:limit]]
    last = items[-1] if len(rows) > limit else None
    return ListPage(items=items, next_cursor=encode_key(json.dumps([last.name, str(last.id)]))
                    if last else None)


async def update_list(engine: AsyncEngine, workspace_id: uuid.UUID, list_id: uuid.UUID,
                      changes: ListUpdate) -> ContactList:
    values: dict[str, Any] = {k: getattr(changes, k) for k in changes.model_fields_set
                              if getattr(changes, k) is not None}
    async with UnitOfWork(engine) as uow:
        await require_list(uow.conn, workspace_id, list_id, for_update=True)
        if values:
            await db.update_list(uow.conn, list_id, **values)
        found = await require_list(uow.conn, workspace_id, list_id)
        await uow.commit()
    return ContactList.model_validate(found, from_attributes=True)


async def delete_list(engine: AsyncEngine, workspace_id: uuid.UUID, list_id: uuid.UUID) -> None:
    async with UnitOfWork(engine) as uow:
        found = await require_list(uow.conn, workspace_id, list_id, for_update=True)
        if found.kind == "campaign":
            raise Conflict("kind: a campaign's own list goes with its campaign")
        emails = await db.delete_list(uow.conn, list_id)
        publish_members_removed(uow, workspace_id, list_id, emails, uuid.uuid4())
        await uow.commit()


async def _contact_ids(conn: AsyncConnection, workspace_id: uuid.UUID,
                       body: MembersChange) -> tuple[list[uuid.UUID], list[str], int]:
    """The contacts a change names: their ids, what named no contact, how many were named."""
    try:
        emails = list(dict.fromkeys(email_of(e, path=f"emails[{i}]")
                                    for i, e in enumerate(body.emails)))
    except InvalidContact as exc:
        raise refused(exc) from exc
    wanted_ids = list(dict.fromkeys(body.contact_ids))
    by_email = await db.ids_by_email(conn, workspace_id, emails)
    by_id = await db.existing_ids(conn, workspace_id, wanted_ids)
    unknown = [e for e in emails if e not in by_email]
    unknown += [str(i) for i in wanted_ids if i not in by_id]
    ids = list(dict.fromkeys([*by_email.values(), *by_id]))
    return ids, unknown, len(emails) + len(wanted_ids)


async def add_list_members(engine: AsyncEngine, workspace_id: uuid.UUID, list_id: uuid.UUID,
                           body: MembersChange) -> MembersResult:
    async with UnitOfWork(engine) as uow:
        await require_list(uow.conn, workspace_id, list_id, for_update=True)
        ids, unknown, requested = await _contact_ids(uow.conn, workspace_id, body)
        added = await add_members(uow, workspace_id, list_id, ids, uuid.uuid4())
        await uow.commit()
    return MembersResult(requested=requested, changed=len(added), unknown=unknown)


async def remove_list_members(engine: AsyncEngine, workspace_id: uuid.UUID,
                              list_id: uuid.UUID, body: MembersChange) -> MembersResult:
    async with UnitOfWork(engine) as uow:
        await require_list(uow.conn, workspace_id, list_id, for_update=True)
        ids, unknown, requested = await _contact_ids(uow.conn, workspace_id, body)
        removed = await remove_members(uow, workspace_id, list_id, ids, uuid.uuid4())
        await uow.commit()
    return MembersResult(requested=requested, changed=len(removed), unknown=unknown)


async def list_members_page(engine: AsyncEngine, workspace_id: uuid.UUID, list_id: uuid.UUID,
                            *, limit: int = 100, cursor: str | None = None) -> MemberPage:
    after = decode_key(cursor)
    async with engine.connect() as conn:
        await require_list(conn, workspace_id, list_id)
        rows = await db.page_members(conn, list_id, limit=limit + 1, after=after)
    items = [Member(contact_id=r.id, email=r.email, name=r.name, status=r.status,
                    added_at=r.added_at) for r in rows[:limit]]
    return MemberPage(items=items,
                      next_cursor=encode_key(items[-1].email) if len(rows) > limit else None)


# --- custom fields ------------------------------------------------------------------------


async def list_fields(engine: AsyncEngine, workspace_id: uuid.UUID) -> list[FieldDeclaration]:
    async with engine.connect() as conn:
        return [FieldDeclaration.model_validate(r, from_attributes=True)
                for r in await db.declared_fields(conn, workspace_id)]


async def declare_field(engine: AsyncEngine, workspace_id: uuid.UUID,
                        body: FieldCreate) -> FieldDeclaration:
    """Declare a custom field; declaring it again relabels it. Its type never changes: the
    values stored were checked against it."""
    try:
        key, label, type_ = field_declaration(body.key, body.label, body.type)
    except InvalidContact as exc:
        raise refused(exc) from exc
    async with UnitOfWork(engine) as uow:
        stored = await db.declare_field(uow.conn, workspace_id, key, label, type_)
        if stored.type != type_:
            raise Conflict(f"type: {key} is declared as {stored.type}; delete it first to "
                           "declare it anew")
        await uow.commit()
    return FieldDeclaration.model_validate(stored, from_attributes=True)


async def delete_field(engine: AsyncEngine, workspace_id: uuid.UUID, key: str) -> None:
    """Delete a declaration and every contact's value of it, which the mailer hears of."""
    async with UnitOfWork(engine) as uow:
        if not await db.delete_field(uow.conn, workspace_id, key):
            raise NotFound(f"No field {key!r} in this workspace.")
        changed = await db.strip_field(uow.conn, workspace_id, key)
        publish_contacts_changed(uow, workspace_id, changed, uuid.uuid4())
        await uow.commit()
