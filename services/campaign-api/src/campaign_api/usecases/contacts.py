"""The workspace's contacts: create, read, update, delete, search and bulk upsert. Each change
publishes its events in its own transaction."""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from campaign_api import db
from campaign_api.contacts_domain import (
    InvalidContact,
    contact,
    fields_of,
    language_of,
    merged_fields,
    name_of,
    status_of,
    tags_of,
    timezone_of,
)
from campaign_api.db import AnyRow
from campaign_api.erasure import ErasureKey
from campaign_api.failures import Conflict, Invalid, NotFound
from campaign_api.schemas_contacts import (
    BulkReport,
    BulkUpsert,
    Consent,
    Contact,
    ContactCreate,
    ContactDetail,
    ContactFields,
    ContactPage,
    ContactUpdate,
    ListRef,
)
from campaign_api.usecases._contact_events import (
    publish_contacts_changed,
    publish_contacts_deleted,
)
from campaign_api.usecases._contact_writes import (
    add_members,
    decode_key,
    encode_key,
    first_of_each,
    refused,
    upsert_batch,
)
from servicekit.db import UnitOfWork


def _checked(body: ContactFields, declared: dict[str, str], path: str = "") -> Any:
    return contact(body.email, declared, name=body.name, fields=body.fields, tags=body.tags,
                   timezone=body.timezone, language=body.language, status=body.status,
                   path=path)


async def require_lists(conn: AsyncConnection, workspace_id: uuid.UUID,
                        ids: list[uuid.UUID], path: str) -> None:
    """422 naming the first id that is not a list of this workspace."""
    owned = await db.owned_ids(conn, workspace_id, db.lists, ids)
    for i, list_id in enumerate(ids):
        if list_id not in owned:
            raise Invalid.field(f"{path}[{i}]", f"no list {list_id} in this workspace")


async def create_contact(engine: AsyncEngine, erasure: ErasureKey, workspace_id: uuid.UUID,
                         body: ContactCreate) -> ContactDetail:
    async with UnitOfWork(engine) as uow:
        try:
            checked = _checked(body, await db.field_types(uow.conn, workspace_id))
        except InvalidContact as exc:
            raise refused(exc) from exc
        await require_lists(uow.conn, workspace_id, body.lists, "lists")
        if await db.contact_by_email(uow.conn, workspace_id, checked.email) is not None:
            raise Conflict(f"email: {checked.email} is already a contact of this workspace "
                           "(PATCH it, or use POST /api/contacts/bulk)")
        correlation_id = uuid.uuid4()
        done = await upsert_batch(uow, workspace_id, [checked], erasure=erasure, source="api",
                                  correlation_id=correlation_id,
                                  consent_basis=body.consent_basis,
                                  consent_text=body.consent_text)
        if done.erased:
            raise Invalid.field("email", "this address was erased on request and may not be "
                                "added again")
        contact_id = done.ids[checked.email]
        for list_id in dict.fromkeys(body.lists):
            await add_members(uow, workspace_id, list_id, [contact_id], correlation_id)
        detail = await _detail(uow.conn, workspace_id, contact_id)
        await uow.commit()
    return detail


async def get_contact(engine: AsyncEngine, workspace_id: uuid.UUID,
                      contact_id: uuid.UUID) -> ContactDetail:
    async with engine.connect() as conn:
        return await _detail(conn, workspace_id, contact_id)


async def _require(conn: AsyncConnection, workspace_id: uuid.UUID, contact_id: uuid.UUID,
                   *, for_update: bool = False) -> AnyRow:
    row = await db.get_contact(conn, workspace_id, contact_id, for_update=for_update)
    if row is None:
        raise NotFound(f"No contact {contact_id} in this workspace.")
    return row


async def _detail(conn: AsyncConnection, workspace_id: uuid.UUID,
                  contact_id: uuid.UUID) -> ContactDetail:
    row = await _require(conn, workspace_id, contact_id)
    return ContactDetail(
        **Contact.model_validate(row, from_attributes=True).model_dump(),
        lists=[ListRef.model_validate(r, from_attributes=True)
               for r in await db.lists_of(conn, contact_id)],
        consents=[Consent.model_validate(r, from_attributes=True)
                  for r in await db.consents_of(conn, contact_id)])


async def update_contact(engine: AsyncEngine, workspace_id: uuid.UUID, contact_id: uuid.UUID,
                         changes: ContactUpdate) -> ContactDetail:
    given = changes.model_fields_set
    async with UnitOfWork(engine) as uow:
        row = await _require(uow.conn, workspace_id, contact_id, for_update=True)
        values: dict[str, Any] = {}
        try:
            if "name" in given:
                values["name"] = name_of(changes.name)
            if "fields" in given:
                checked = fields_of(changes.fields or {},
                                    await db.field_types(uow.conn, workspace_id))
                values["fields"] = merged_fields(row.fields, checked)
            if "tags" in given:
                values["tags"] = tags_of(changes.tags or [])
            if "timezone" in given:
                values["timezone"] = timezone_of(changes.timezone)
            if "language" in given:
                values["language"] = language_of(changes.language)
            if "status" in given and changes.status is not None:
                values["status"] = status_of(changes.status)
        except InvalidContact as exc:
            raise refused(exc) from exc
        changed = {k: v for k, v in values.items() if getattr(row, k) != v}
        if changed:
            updated = await db.update_contact(uow.conn, contact_id, changed)
            publish_contacts_changed(uow, workspace_id, [updated], uuid.uuid4())
        detail = await _detail(uow.conn, workspace_id, contact_id)
        await uow.commit()
    return detail


async def delete_contact(engine: AsyncEngine, workspace_id: uuid.UUID,
                         contact_id: uuid.UUID) -> None:
    """Delete a contact and its memberships (its past sends and engagement stay: erasure is
    what removes those)."""
    async with UnitOfWork(engine) as uow:
        email = await db.delete_contact(uow.conn, workspace_id, contact_id)
        if email is None:
            raise NotFound(f"No contact {contact_id} in this workspace.")
        publish_contacts_deleted(uow, workspace_id, [email], uuid.uuid4())
        await uow.commit()


async def search_contacts(
    engine: AsyncEngine, workspace_id: uuid.UUID, *, limit: int = 100,
    cursor: str | None = None, q: str | None = None, tag: str | None = None,
    status: str | None = None, list_id: uuid.UUID | None = None,
) -> ContactPage:
    after = decode_key(cursor)
    try:
        wanted_tag = tags_of([tag], path="tag")[0] if tag else None
        wanted_status = status_of(status) if status else None
    except InvalidContact as exc:
        raise refused(exc) from exc
    async with engine.connect() as conn:
        rows = await db.search_contacts(conn, workspace_id, limit=limit + 1, after=after,
                                        prefix=q, tag=wanted_tag, status=wanted_status,
                                        list_id=list_id)
    items = [Contact.model_validate(r, from_attributes=True) for r in rows[:limit]]
    return ContactPage(items=items,
                       next_cursor=encode_key(items[-1].email) if len(rows) > limit else None)


async def bulk_upsert(engine: AsyncEngine, erasure: ErasureKey, workspace_id: uuid.UUID,
                      body: BulkUpsert) -> BulkReport:
    """Up to 10,000 contacts in one transaction: all valid, or none stored."""
    async with UnitOfWork(engine) as uow:
        declared = await db.field_types(uow.conn, workspace_id)
        try:
            given = first_of_each([_checked(c, declared, f"contacts[{i}].")
                                   for i, c in enumerate(body.contacts)])
        except InvalidContact as exc:
            raise refused(exc) from exc
        if body.list_id is not None and not await db.owned_ids(
                uow.conn, workspace_id, db.lists, [body.list_id]):
            raise Invalid.field("list_id", f"no list {body.list_id} in this workspace")
        done = await upsert_batch(
            uow, workspace_id, given, erasure=erasure, source="api",
            correlation_id=uuid.uuid4(),
            update_existing=body.update_existing, list_id=body.list_id,
            consent_basis=body.consent_basis, consent_text=body.consent_text)
        await uow.commit()
    erased = len(done.erased)
    return BulkReport(received=len(given), created=done.created, updated=done.updated,
                      unchanged=len(given) - erased - done.created - done.updated,
                      added_to_list=len(done.added_to_list), erased=erased)

