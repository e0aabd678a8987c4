"""Writing contacts and memberships with their events, inside the caller's unit of work: the
pieces the contacts API, a campaign's recipients and the CSV import all build on."""

from __future__ import annotations

import base64
import binascii
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from campaign_api import db
from campaign_api.contacts_domain import Contact, InvalidContact, contact
from campaign_api.domain import Recipient
from campaign_api.erasure import ErasureKey
from campaign_api.failures import Invalid
from campaign_api.usecases._contact_events import (
    publish_contacts_changed,
    publish_members_added,
    publish_members_removed,
    publish_suppressed,
)
from contracts.contacts import SuppressionReason
from servicekit.db import UnitOfWork

# Contacts per INSERT statement: the batch's columns travel as arrays, one statement each.
UPSERT_BATCH = 1_000


@dataclass
class Upserted:
    created: int = 0
    updated: int = 0
    # Every address of the batch (changed or not) and its contact id.
    ids: dict[str, uuid.UUID] = field(default_factory=dict)
    # The addresses that joined the list, if one was given.
    added_to_list: list[str] = field(default_factory=list)
    # Addresses erased on request earlier: never stored again, whoever adds them.
    erased: list[str] = field(default_factory=list)


def first_of_each(contacts: Sequence[Contact]) -> list[Contact]:
    """One contact per address, the first one given."""
    seen: dict[str, Contact] = {}
    for c in contacts:
        seen.setdefault(c.email, c)
    return list(seen.values())


async def upsert_batch(
    uow: UnitOfWork, workspace_id: uuid.UUID, batch: Sequence[Contact], *, erasure: ErasureKey,
    source: str, correlation_id: uuid.UUID, update_existing: bool = True,
    list_id: uuid.UUID | None = None, consent_basis: str | None = None, consent_text: str = "",
) -> Upserted:
    """Upsert contacts, publish contacts.changed for those created or changed, record the
    stated consent, and put them all on `list_id`. Of an address given twice the first
    counts (one statement cannot upsert a row twice). An address erased on request is left
    out (`Upserted.erased`): every way of adding contacts but the CSV import (which checks
    its rows in SQL, `db.contact_import`) comes through here."""
    batch = first_of_each(batch)
    done = Upserted()
    erased = await db.erased_among(uow.conn, workspace_id, erasure, [c.email for c in batch])
    if erased:
        done.erased = sorted(erased)
        batch = [c for c in batch if c.email not in erased]
    for i in range(0, len(batch), UPSERT_BATCH):
        part = batch[i:i + UPSERT_BATCH]
        rows = await db.upsert_contacts(uow.conn, workspace_id, part, source=source,
                                        update_existing=update_existing)
        publish_contacts_changed(uow, workspace_id, rows, correlation_id)
        created = sum(1 for r in rows if r.inserted)
        done.created += created
        done.updated += len(rows) - created
        if created == len(part):
            ids = {r.email: r.id for r in rows}
        else:
            ids = await db.ids_by_email(uow.conn, workspace_id, [c.email for c in part])
        done.ids.update(ids)
        if consent_basis is not None:
            await db.record_consents(uow.conn, list(ids.values()), source=source,
                                     basis=consent_basis, list_id=list_id,
                                     consent_text=consent_text)
        if list_id is not None:
            done.added_to_list += await add_members(uow, workspace_id, list_id,
                                                    list(ids.values()), correlation_id)
    return done


async def add_members(uow: UnitOfWork, workspace_id: uuid.UUID, list_id: uuid.UUID,
                      contact_ids: Sequence[uuid.UUID], correlation_id: uuid.UUID) -> list[str]:
    """Contacts onto a list (or a campaign's own); publishes only those new to it."""
    added = await db.add_to_list(uow.conn, list_id, contact_ids)
    publish_members_added(uow, workspace_id, list_id, added, correlation_id)
    return added


async def remove_members(uow: UnitOfWork, workspace_id: uuid.UUID, list_id: uuid.UUID,
                         contact_ids: Sequence[uuid.UUID],
                         correlation_id: uuid.UUID) -> list[str]:
    removed = await db.remove_from_list(uow.conn, list_id, contact_ids)
    publish_members_removed(uow, workspace_id, list_id, removed, correlation_id)
    return removed


async def declared_for(uow: UnitOfWork, workspace_id: uuid.UUID,
                       keys: Sequence[str]) -> dict[str, str]:
    """The workspace's field types, the merge fields recipients bring declared as text where
    the workspace had not declared them."""
    declared = await db.field_types(uow.conn, workspace_id)
    new = sorted({k for k in keys if k not in declared})
    await db.declare_text_fields(uow.conn, workspace_id, new)
    return {**declared, **dict.fromkeys(new, "text")}


def as_contacts(recipients: Sequence[Recipient], declared: dict[str, str],
                path: Callable[[int], str]) -> list[Contact]:
    try:
        return [contact(r.email, declared, name=r.name, fields=r.fields, path=path(i))
                for i, r in enumerate(recipients)]
    except InvalidContact as exc:
        raise refused(exc) from exc


async def put_on_campaign_list(
    uow: UnitOfWork, workspace_id: uuid.UUID, audience_id: uuid.UUID,
    contacts: Sequence[Contact], correlation_id: uuid.UUID, *, erasure: ErasureKey,
) -> Upserted:
    """Upsert the contacts and put them on the campaign's list."""
    return await upsert_batch(uow, workspace_id, first_of_each(contacts), erasure=erasure,
                              source="campaign", correlation_id=correlation_id,
                              list_id=audience_id)


async def suppress(
    uow: UnitOfWork, workspace_id: uuid.UUID, emails: Sequence[str], *, status: str,
    reason: SuppressionReason, correlation_id: uuid.UUID | None, unless: Sequence[str] = (),
    note: str = "",
) -> list[str]:
    """Contacts that may no longer be mailed: their status (but for those in `unless`), a
    suppression row each; contacts.changed and suppression.added for what changed. Returns
    the addresses newly listed."""
    changed = await db.set_status_by_email(uow.conn, workspace_id, emails, status,
                                           unless=unless)
    cid = correlation_id or uuid.uuid4()
    publish_contacts_changed(uow, workspace_id, changed, cid)
    added = await db.suppress_addresses(uow.conn, workspace_id, emails, reason, note)
    publish_suppressed(uow, workspace_id, added, reason, cid)
    return added


def refused(exc: InvalidContact) -> Invalid:
    return Invalid.field(exc.field, exc.reason)


def encode_key(key: str) -> str:
    return base64.urlsafe_b64encode(key.encode()).decode()


def decode_key(cursor: str | None) -> str | None:
    if cursor is None:
        return None
    try:
        return base64.b64decode(cursor.encode(), altchars=b"-_", validate=True).decode()
    except (ValueError, binascii.Error, UnicodeDecodeError) as exc:
        raise Invalid.field("cursor", "not a cursor this API returned") from exc
