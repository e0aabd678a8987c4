"""Contacts, lists and suppressions as the mailer needs them, carried as bounded events.

campaign-api owns the workspace's contacts, lists and segments. The mailer keeps each contact
once per workspace (what sending needs) and the memberships of every list and segment; a
segment reaches it as a list whose members campaign-api works out and sends as changes. Every
payload here is bounded: a list of a million travels as many events of at most
MAX_MEMBERS_PER_EVENT addresses.
"""

from __future__ import annotations

import uuid
from typing import Annotated, Literal

from pydantic import AwareDatetime, EmailStr, Field, model_validator

from contracts.envelope import Event, Payload
from contracts.journeys import TagName
from contracts.types import (
    MAX_MEMBERS_PER_EVENT,
    MAX_PAYLOAD_BYTES,
    LanguageTag,
    OneLine,
    ShortText,
    TimeZoneName,
)

# subscribed: mailed; pending: a double opt-in not yet confirmed; the others are never mailed.
ContactStatus = Literal["subscribed", "unsubscribed", "bounced", "complained", "pending"]
# Why an address is on the workspace's suppression list (what the list shows and keeps).
ListedReason = Literal["unsubscribed", "bounced", "complained", "manual"]
# And what suppression events may say: an erasure takes the address off every list, no row left.
SuppressionReason = ListedReason | Literal["erased"]
LocalHour = Annotated[int, Field(ge=0, le=23)]

# How many tags a contact may have (campaign-api keeps them to it).
MAX_CONTACT_TAGS = 100


class _Bounded(Payload):
    @model_validator(mode="after")
    def _bounded(self) -> _Bounded:
        size = len(self.model_dump_json())
        if size > MAX_PAYLOAD_BYTES:
            raise ValueError(f"{size} bytes in one event, at most {MAX_PAYLOAD_BYTES}")
        return self


class ContactState(Payload):
    """A contact as sending needs it: whom to address, how to fill merge fields, when it is
    their send time, and whether they may be mailed at all."""

    email: EmailStr
    name: ShortText = ""
    # Merge-field values as text, by field key.
    fields: dict[str, Annotated[str, Field(max_length=1_000)]] = Field(
        default_factory=dict, max_length=50)
    timezone: TimeZoneName | None = None
    language: LanguageTag | None = None
    status: ContactStatus = "subscribed"
    # The contact's tags (lower-case, sorted), for journeys' tag conditions; events from
    # before tags travelled: none.
    tags: list[TagName] = Field(default_factory=list, max_length=MAX_CONTACT_TAGS)
    # The contact's preferred local hour of each weekday, Monday..Sunday, learned from their
    # opens and clicks (send-time optimisation); None until enough of them are known.
    send_hours: list[LocalHour] | None = Field(default=None, min_length=7, max_length=7)
    # When campaign-api last changed the contact: a consumer keeps the newest state it saw,
    # whatever order redeliveries arrive in.
    changed_at: AwareDatetime


class ContactsChangedPayload(_Bounded):
    contacts: list[ContactState] = Field(min_length=1, max_length=MAX_MEMBERS_PER_EVENT)


class ContactsDeletedPayload(Payload):
    """Contacts deleted from the workspace (not erased: their past deliveries stay)."""

    emails: list[EmailStr] = Field(min_length=1, max_length=MAX_MEMBERS_PER_EVENT)


class ListMembersPayload(Payload):
    """Addresses joining or leaving a list, or a segment (whose id the mailer treats as a
    list's: a campaign names both in its audience)."""

    list_id: uuid.UUID
    emails: list[EmailStr] = Field(min_length=1, max_length=MAX_MEMBERS_PER_EVENT)


class SuppressionPayload(Payload):
    emails: list[EmailStr] = Field(min_length=1, max_length=MAX_MEMBERS_PER_EVENT)
    reason: SuppressionReason


class ContactErasedPayload(Payload):
    """Erase one person: every service deletes or anonymises what it holds of the address."""

    email: EmailStr


class TransactionalPayload(Payload):
    """One message the mailer sends at once, outside any campaign: not tracked, not counted,
    exempt from frequency caps (a sign-up's confirmation). `message_id` dedupes it."""

    message_id: uuid.UUID
    kind: Literal["confirmation"]
    to: EmailStr
    to_name: ShortText = ""
    from_name: ShortText = ""
    from_email: EmailStr | None = None
    subject: OneLine = Field(min_length=1, max_length=200)
    body_html: str = Field(max_length=200_000)
    body_text: str = Field(max_length=100_000)


class ContactsChanged(Event):
    TYPE = "contacts.changed"
    type: Literal["contacts.changed"] = "contacts.changed"
    payload: ContactsChangedPayload


class ContactsDeleted(Event):
    TYPE = "contacts.deleted"
    type: Literal["contacts.deleted"] = "contacts.deleted"
    payload: ContactsDeletedPayload


class ListMembersAdded(Event):
    TYPE = "list.members.added"
    type: Literal["list.members.added"] = "list.members.added"
    payload: ListMembersPayload


class ListMembersRemoved(Event):
    TYPE = "list.members.removed"
    type: Literal["list.members.removed"] = "list.members.removed"
    payload: ListMembersPayload


class SuppressionAdded(Event):
    TYPE = "suppression.added"
    type: Literal["suppression.added"] = "suppression.added"
    payload: SuppressionPayload


class SuppressionRemoved(Event):
    TYPE = "suppression.removed"
    type: Literal["suppression.removed"] = "suppression.removed"
    payload: SuppressionPayload


class ContactErased(Event):
    TYPE = "contact.erased"
    type: Literal["contact.erased"] = "contact.erased"
    payload: ContactErasedPayload


class TransactionalRequested(Event):
    TYPE = "transactional.requested"
    type: Literal["transactional.requested"] = "transactional.requested"
    payload: TransactionalPayload
