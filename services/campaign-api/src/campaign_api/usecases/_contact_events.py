"""Contact and membership changes as bounded events, published through the unit of work that
makes the change (so they reach the outbox in the same transaction): at most
MAX_MEMBERS_PER_EVENT contacts or addresses and well under MAX_PAYLOAD_BYTES per event,
whatever the size of the change."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime
from typing import Any, Protocol, cast

from campaign_api.contacts_domain import rendered_fields
from campaign_api.domain import bounded_batches
from contracts import (
    ContactsChanged,
    ContactsDeleted,
    ContactState,
    ListMembersAdded,
    ListMembersRemoved,
    SuppressionAdded,
)
from contracts.contacts import (
    ContactsChangedPayload,
    ContactsDeletedPayload,
    ContactStatus,
    ListMembersPayload,
    SuppressionPayload,
    SuppressionReason,
)
from contracts.types import MAX_MEMBERS_PER_EVENT, MAX_PAYLOAD_BYTES
from servicekit.db import UnitOfWork

# Room for the envelope and JSON punctuation the estimate below leaves out.
_BUDGET = MAX_PAYLOAD_BYTES - 16 * 1024


class ContactRow(Protocol):
    """What a contacts row (or any row of its columns) offers."""

    email: str
    name: str
    fields: dict[str, Any]
    tags: list[str]
    timezone: str | None
    language: str | None
    status: str
    send_hours: list[int] | None
    updated_at: datetime


def contact_state(row: ContactRow) -> ContactState:
    """A stored contact as the mailer needs it; field values as merge-field text. The row was
    checked by `contacts_domain` when stored, so it is not validated a second time."""
    return ContactState.model_construct(
        email=row.email, name=row.name, fields=rendered_fields(row.fields or {}),
        tags=list(row.tags or ()),
        timezone=row.timezone, language=row.language,
        status=cast(ContactStatus, row.status),
        send_hours=list(row.send_hours) if row.send_hours is not None else None,
        changed_at=row.updated_at if row.updated_at.tzinfo else row.updated_at.replace(
            tzinfo=UTC),
    )


def _text_size(text: str | None) -> int:
    """Bytes of `text` as a JSON string (quotes included). Printable ASCII without a quote or
    backslash is itself (most addresses and names: no encoder call per contact); the rest is
    measured as encoded."""
    if text is None:
        return 4
    if text.isascii() and text.isprintable() and '"' not in text and "\\" not in text:
        return len(text) + 2
    return len(json.dumps(text, ensure_ascii=False).encode())


def _size(c: ContactState) -> int:
    # The encoded values, at least as many bytes as their JSON list: 16 for its brackets,
    # commas and braces, 4 per field for its colon and comma; 120 for the keys, status and
    # changed_at the payload adds, 40 for send_hours' key and seven hours, 10 for tags' key.
    return (_text_size(c.email) + _text_size(c.name) + _text_size(c.timezone)
            + _text_size(c.language) + 16 + 120 + 40
            + sum(_text_size(k) + _text_size(v) + 4 for k, v in c.fields.items())
            + 10 + sum(_text_size(t) + 1 for t in c.tags))


def publish_contacts_changed(uow: UnitOfWork, workspace_id: uuid.UUID,
                             rows: Iterable[ContactRow], correlation_id: uuid.UUID) -> int:
    """contacts.changed for each row; returns how many contacts were published."""
    sent = 0
    states = (contact_state(r) for r in rows)
    for batch in bounded_batches(states, max_items=MAX_MEMBERS_PER_EVENT, max_bytes=_BUDGET,
                                 size=_size):
        uow.publish(ContactsChanged.create(
            ContactsChangedPayload.model_construct(contacts=batch),
            workspace_id=workspace_id, correlation_id=correlation_id))
        sent += len(batch)
    return sent


def _chunks(emails: Sequence[str]) -> Iterable[list[str]]:
    # An address is at most 254 bytes: 500 of them stay far below the payload bound.
    for i in range(0, len(emails), MAX_MEMBERS_PER_EVENT):
        yield list(emails[i:i + MAX_MEMBERS_PER_EVENT])


def publish_members_added(uow: UnitOfWork, workspace_id: uuid.UUID, list_id: uuid.UUID,
                          emails: Sequence[str], correlation_id: uuid.UUID) -> None:
    """list.members.added for a list, or a segment (its id stands for a list's)."""
    for chunk in _chunks(emails):
        uow.publish(ListMembersAdded.create(
            ListMembersPayload.model_construct(list_id=list_id, emails=chunk),
            workspace_id=workspace_id, correlation_id=correlation_id))


def publish_members_removed(uow: UnitOfWork, workspace_id: uuid.UUID, list_id: uuid.UUID,
                            emails: Sequence[str], correlation_id: uuid.UUID) -> None:
    for chunk in _chunks(emails):
        uow.publish(ListMembersRemoved.create(
            ListMembersPayload.model_construct(list_id=list_id, emails=chunk),
            workspace_id=workspace_id, correlation_id=correlation_id))


def publish_contacts_deleted(uow: UnitOfWork, workspace_id: uuid.UUID, emails: Sequence[str],
                             correlation_id: uuid.UUID) -> None:
    for chunk in _chunks(emails):
        uow.publish(ContactsDeleted.create(
            ContactsDeletedPayload.model_construct(emails=chunk),
            workspace_id=workspace_id, correlation_id=correlation_id))


def publish_suppressed(uow: UnitOfWork, workspace_id: uuid.UUID, emails: Sequence[str],
                       reason: SuppressionReason, correlation_id: uuid.UUID) -> None:
    for chunk in _chunks(emails):
        uow.publish(SuppressionAdded.create(
            SuppressionPayload.model_construct(emails=chunk, reason=reason),
            workspace_id=workspace_id, correlation_id=correlation_id))

