"""Request and response bodies of the contacts, custom fields and lists API. Shapes only: the
rules a value must meet are `contacts_domain`'s, which name the field they refuse."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from campaign_api.contacts_domain import FieldType
from contracts.contacts import ContactStatus

# The lawful bases of GDPR article 6 that an import or API call states for its contacts.
ConsentBasis = Literal["consent", "contract", "legal_obligation", "vital_interests",
                       "public_task", "legitimate_interests"]
FieldTypeName = FieldType
Text = Annotated[str, Field(max_length=1_000)]
FieldValue = str | int | float | bool | None
Fields = Annotated[dict[Annotated[str, Field(max_length=64)], FieldValue],
                   Field(max_length=50, description="Custom field values by key, of the "
                         "types the workspace declared (GET /api/fields); null removes one")]
Tags = Annotated[list[Annotated[str, Field(max_length=64)]], Field(max_length=100)]
MAX_BULK = 10_000


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


_TargetIds = Annotated[list[uuid.UUID], Field(default_factory=list, max_length=50)]


class Audience(BaseModel):
    """Whom a campaign mails besides its own recipients: the members of any of `lists` and
    `segments`, less those of any of `exclude_lists` and `exclude_segments`, counted at each
    email's send time."""

    model_config = ConfigDict(extra="forbid")

    lists: _TargetIds
    segments: _TargetIds
    exclude_lists: _TargetIds
    exclude_segments: _TargetIds

    def has_targets(self) -> bool:
        return bool(self.lists or self.segments)


class ContactFields(_Strict):
    email: Annotated[str, Field(max_length=320)]
    name: Annotated[str, Field(max_length=200)] = ""
    fields: Fields = Field(default_factory=dict)
    tags: Tags = Field(default_factory=list)
    timezone: Annotated[str | None, Field(max_length=64, description="IANA, e.g. "
                                          "Europe/Berlin")] = None
    language: Annotated[str | None, Field(max_length=35, description="BCP 47, e.g. pt-BR")] \
        = None
    status: ContactStatus = "subscribed"


class ContactCreate(ContactFields):
    lists: list[uuid.UUID] = Field(default_factory=list, max_length=50,
                                   description="Lists of this workspace to put it on")
    consent_basis: ConsentBasis = Field(description="The lawful basis for mailing it")
    consent_text: Annotated[str, Field(max_length=5_000)] = ""


class ContactUpdate(_Strict):
    name: Annotated[str | None, Field(max_length=200)] = None
    fields: Fields | None = None
    tags: Tags | None = Field(default=None, description="The contact's tags, replaced")
    timezone: Annotated[str | None, Field(max_length=64)] = None
    language: Annotated[str | None, Field(max_length=35)] = None
    status: ContactStatus | None = None


class BulkUpsert(_Strict):
    contacts: list[ContactFields] = Field(min_length=1, max_length=MAX_BULK)
    consent_basis: ConsentBasis = Field(description="The lawful basis for mailing them, "
                                        "recorded for each contact")
    consent_text: Annotated[str, Field(max_length=5_000)] = ""
    list_id: uuid.UUID | None = Field(default=None, description="A list to put them all on")
    update_existing: bool = Field(default=True, description="Merge into contacts already "
                                  "there (their status is never changed); false: leave them")


class BulkReport(BaseModel):
    received: int = Field(description="Distinct addresses in the request")
    created: int
    updated: int
    unchanged: int
    added_to_list: int
    erased: int = Field(default=0, description="Addresses erased on request earlier: left out")


class ListRef(BaseModel):
    id: uuid.UUID
    name: str
    kind: str
    added_at: datetime


class Consent(BaseModel):
    list_id: uuid.UUID | None
    source: str
    basis: str
    ip: str | None
    user_agent: str | None
    consent_text: str
    given_at: datetime
    confirmed_at: datetime | None
    withdrawn_at: datetime | None


class Contact(BaseModel):
    id: uuid.UUID
    email: str
    name: str
    fields: dict[str, Any]
    tags: list[str]
    timezone: str | None
    language: str | None
    status: str
    source: str
    send_hours: list[int] | None = Field(
        default=None, description="The local hour of each weekday, Monday to Sunday, the "
        "contact reads mail at most, learned from their opens and clicks (send-time "
        "optimisation); null until enough are known")
    created_at: datetime
    updated_at: datetime


class ContactDetail(Contact):
    lists: list[ListRef]
    consents: list[Consent]


class ContactPage(BaseModel):
    items: list[Contact]
    next_cursor: str | None = Field(description="Pass as `cursor` for the next page")


class FieldCreate(_Strict):
    key: Annotated[str, Field(max_length=64, description="The merge tag: {{key}}")]
    label: Annotated[str, Field(max_length=200)] = ""
    type: FieldTypeName


class FieldDeclaration(BaseModel):
    key: str
    label: str
    type: str
    created_at: datetime


class ListCreate(_Strict):
    name: Annotated[str, Field(min_length=1, max_length=200)]
    description: Annotated[str, Field(max_length=2_000)] = ""
    public: bool = Field(default=True, description="Shown on the preference centre")
    consent_text: Annotated[str, Field(max_length=5_000)] = ""


class ListUpdate(_Strict):
    name: Annotated[str | None, Field(min_length=1, max_length=200)] = None
    description: Annotated[str | None, Field(max_length=2_000)] = None
    public: bool | None = None
    consent_text: Annotated[str | None, Field(max_length=5_000)] = None


class ContactList(BaseModel):
    id: uuid.UUID
    name: str
    description: str
    kind: str = Field(description="list, or campaign: a campaign's own recipients")
    campaign_id: uuid.UUID | None
    public: bool
    consent_text: str
    members: int
    created_at: datetime


class ListPage(BaseModel):
    items: list[ContactList]
    next_cursor: str | None


class MembersChange(_Strict):
    """Contacts by address, or by id, or both."""

    emails: list[Annotated[str, Field(max_length=320)]] = Field(default_factory=list,
                                                                 max_length=MAX_BULK)
    contact_ids: list[uuid.UUID] = Field(default_factory=list, max_length=MAX_BULK)

    @model_validator(mode="after")
    def _some(self) -> MembersChange:
        if not self.emails and not self.contact_ids:
            raise ValueError("emails or contact_ids: at least one contact")
        return self


class MembersResult(BaseModel):
    requested: int = Field(description="Distinct contacts in the request")
    changed: int = Field(description="Contacts actually added (or removed)")
    unknown: list[str] = Field(description="Addresses or ids of no contact of this workspace")


class Member(BaseModel):
    contact_id: uuid.UUID
    email: str
    name: str
    status: str
    added_at: datetime


class MemberPage(BaseModel):
    items: list[Member]
    next_cursor: str | None


class TimelineEntry(BaseModel):
    at: datetime
    kind: Literal["sent", "open", "click", "unsubscribe", "bounced", "invalid", "suppressed",
                  "expired", "capped"]
    campaign_id: uuid.UUID
    campaign_name: str
    sequence: int
    detail: str = Field(description="A click's URL, why a delivery failed")


class Timeline(BaseModel):
    items: list[TimelineEntry] = Field(description="Newest first")
    truncated: bool = Field(description="Only the newest 200 of each kind (sends, "
                            "engagements, failed deliveries) are shown")
