"""Audience changes as bounded events: ≤ MAX_MEMBERS_PER_EVENT members and well under
MAX_PAYLOAD_BYTES per event, whatever the size of the change."""

from __future__ import annotations

import json
import uuid
from collections.abc import Sequence

from campaign_api.domain import Recipient, bounded_batches
from contracts import AudienceMember, AudienceMembersAdded, AudienceMembersRemoved
from contracts.events import AudienceMembersAddedPayload, AudienceMembersRemovedPayload
from contracts.types import MAX_MEMBERS_PER_EVENT, MAX_PAYLOAD_BYTES
from servicekit.db import UnitOfWork

# Room for the envelope and JSON punctuation the estimate below leaves out.
_BUDGET = MAX_PAYLOAD_BYTES - 16 * 1024


def _size(r: Recipient) -> int:
    return len(json.dumps([r.email, r.name, r.fields], ensure_ascii=False).encode()) + 40


def publish_added(uow: UnitOfWork, workspace_id: uuid.UUID, audience_id: uuid.UUID,
                  recipients: Sequence[Recipient], correlation_id: uuid.UUID) -> None:
    for batch in bounded_batches(recipients, max_items=MAX_MEMBERS_PER_EVENT,
                                 max_bytes=_BUDGET, size=_size):
        # Already validated by the same rules (domain.recipient): no second pass per member.
        members = [AudienceMember.model_construct(email=r.email, name=r.name, fields=r.fields)
                   for r in batch]
        uow.publish(AudienceMembersAdded.create(
            AudienceMembersAddedPayload(audience_id=audience_id, members=members),
            workspace_id=workspace_id, correlation_id=correlation_id,
        ))


def publish_removed(uow: UnitOfWork, workspace_id: uuid.UUID, audience_id: uuid.UUID,
                    emails: Sequence[str], correlation_id: uuid.UUID) -> None:
    for i in range(0, len(emails), MAX_MEMBERS_PER_EVENT):
        uow.publish(AudienceMembersRemoved.create(
            AudienceMembersRemovedPayload(audience_id=audience_id,
                                          emails=list(emails[i:i + MAX_MEMBERS_PER_EVENT])),
            workspace_id=workspace_id, correlation_id=correlation_id,
        ))


def first_of_each(recipients: Sequence[Recipient]) -> list[Recipient]:
    """One recipient per address, the first one given."""
    seen: dict[str, Recipient] = {}
    for r in recipients:
        seen.setdefault(r.email, r)
    return list(seen.values())
