"""Every event of the system: its payload, its subject (= its type) and its version.

Payloads are bounded: nothing here can grow with the size of an audience.
"""

from __future__ import annotations

import uuid
from decimal import Decimal
from typing import Annotated, Any, Literal

from pydantic import (
    AwareDatetime,
    EmailStr,
    Field,
    TypeAdapter,
    model_validator,
)

from contracts.ab_tests import (
    VARIANT_KEYS,
    AbTest,
    AbTestDecided,
    EmailVariant,
    VariantKey,
)
from contracts.campaigns import CampaignDefinition
from contracts.contacts import (
    ContactErased,
    ContactsChanged,
    ContactsDeleted,
    ListMembersAdded,
    ListMembersRemoved,
    SuppressionAdded,
    SuppressionRemoved,
    TransactionalRequested,
)
from contracts.envelope import Event, Payload
from contracts.journey_events import (
    ActivityRecorded,
    JourneyActionDue,
    JourneyProgress,
    JourneyStepDue,
)
from contracts.learning import EmailPerformance, StructureChoice
from contracts.types import (
    MAX_MEMBERS_PER_EVENT,
    MAX_PAYLOAD_BYTES,
    OneLine,
    ShortText,
)
from rules.lifecycle import Status


class CampaignRef(Payload):
    campaign_id: uuid.UUID


class CampaignCompletedPayload(Payload):
    campaign_id: uuid.UUID
    total_emails: int = Field(ge=0)


# How many send times one campaign.scheduled may carry.
MAX_PLANNED_SEND_TIMES = 100


class CampaignScheduledPayload(Payload):
    """The scheduler's plan for a campaign after a change: email `next_sequence` goes out at
    `next_send_times[0]`, the next one at `[1]`, and so on. A plan covers many emails ahead and
    is republished before it runs short, so a reader shows the times still to come."""

    campaign_id: uuid.UUID
    state: Status
    total_emails: int = Field(ge=0)
    next_sequence: int = Field(ge=1)
    next_send_times: list[AwareDatetime] = Field(default_factory=list,
                                                 max_length=MAX_PLANNED_SEND_TIMES)


# What becomes of a send over the frequency cap.
OverCap = Literal["defer", "skip"]


class WorkspaceSettingsPayload(Payload):
    """Workspace-wide settings other services act on."""

    name: ShortText
    # Spend on LLM calls per calendar month (UTC), in OpenRouter credits; None: no limit.
    monthly_llm_budget: Decimal | None = Field(default=None, ge=0)
    # At most this many campaign emails per contact in any rolling 24 hours / 7 days, across
    # campaigns (transactional mail does not count); None: no cap.
    frequency_cap_day: int | None = Field(default=None, ge=1, le=1_000)
    frequency_cap_week: int | None = Field(default=None, ge=1, le=10_000)
    # A send over the cap waits until it fits, or is skipped.
    over_cap: OverCap = "defer"


class AudienceMember(Payload):
    email: EmailStr
    name: ShortText = ""
    fields: dict[str, Annotated[str, Field(max_length=1_000)]] = Field(
        default_factory=dict, max_length=50
    )


class AudienceMembersAddedPayload(Payload):
    audience_id: uuid.UUID
    members: list[AudienceMember] = Field(min_length=1, max_length=MAX_MEMBERS_PER_EVENT)

    @model_validator(mode="after")
    def _bounded(self) -> AudienceMembersAddedPayload:
        size = len(self.model_dump_json())
        if size > MAX_PAYLOAD_BYTES:
            raise ValueError(f"members: {size} bytes in one event, at most {MAX_PAYLOAD_BYTES}")
        return self


class AudienceMembersRemovedPayload(Payload):
    audience_id: uuid.UUID
    emails: list[EmailStr] = Field(min_length=1, max_length=MAX_MEMBERS_PER_EVENT)


class EmailDuePayload(Payload):
    campaign_id: uuid.UUID
    sequence: int = Field(ge=1)
    total: int | None = Field(default=None, ge=1)
    send_at: AwareDatetime


class ContentGeneratedPayload(Payload):
    campaign_id: uuid.UUID
    sequence: int = Field(ge=1)
    send_at: AwareDatetime
    subject: OneLine = Field(min_length=1, max_length=200)
    preheader: OneLine = Field(default="", max_length=300)
    body_html: str = Field(max_length=200_000)
    body_text: str = Field(max_length=100_000)
    model: str = Field(max_length=200)
    provider: str = Field(max_length=50)
    structure: str = Field(default="", max_length=50)
    prompt_version: str = Field(default="", max_length=50)
    prompt_tokens: int = Field(default=0, ge=0)
    completion_tokens: int = Field(default=0, ge=0)
    cost: Decimal = Field(default=Decimal(0), ge=0)
    latency_ms: int = Field(default=0, ge=0)
    # None from writers that chose no structure by learning (and events before there were any).
    structure_choice: StructureChoice | None = None
    # An email under test: the campaign's test as it stood when the email was written, and
    # every variant (A first: the fields above). Empty for an email not tested.
    ab_test: AbTest | None = None
    variants: list[EmailVariant] = Field(default_factory=list, max_length=4)

    @model_validator(mode="after")
    def _variants(self) -> ContentGeneratedPayload:
        if self.variants and self.ab_test is None:
            raise ValueError("variants: only for an email under test (ab_test)")
        keys = [v.key for v in self.variants]
        if keys != list(VARIANT_KEYS[:len(keys)]):
            raise ValueError(f"variants: keys {', '.join(VARIANT_KEYS[:len(keys)])} in order, "
                             f"not {', '.join(keys)}")
        return self


class ContentFailedPayload(Payload):
    campaign_id: uuid.UUID
    sequence: int = Field(ge=1)
    reason: Literal[
        "bad_request", "bad_key", "out_of_credits", "moderation", "unavailable",
        "invalid_output", "budget_exceeded", "unknown_campaign",
    ]
    message: str = Field(max_length=2_000)


class DeliveryRef(Payload):
    campaign_id: uuid.UUID
    sequence: int = Field(ge=1)
    recipient: EmailStr


class EmailSentPayload(DeliveryRef):
    message_id: str = Field(max_length=998)
    smtp_reply: str = Field(default="", max_length=2_000)
    # The variant the recipient was sent, for an email under test.
    variant: VariantKey | None = None


# Why a delivery will not be made:
# - bounced: the receiving server refused it (an SMTP 5xx reply);
# - invalid: no safe message could be built from the campaign's or the recipient's data;
# - suppressed: the address is on the workspace's suppression list (unsubscribed, bounced);
# - expired: temporary failures (4xx, no answer) went on past the retry policy's age;
# - capped: the workspace's frequency cap was reached and its setting says skip, not defer.
FailureKind = Literal["bounced", "invalid", "suppressed", "expired", "capped"]
# The reason the mailer gives for a suppressed address; before email.failed named its kind,
# this text was all that told a suppressed address from a message that could not be built.
SUPPRESSED_REASON = "suppressed"


def failure_kind(*, permanent: bool, smtp_code: int | None, reason: str) -> FailureKind:
    """What a failure's other fields say its kind is, for the email.failed events written
    before the mailer named the kind itself: the DELIVERY stream may still hold some, and a
    consumer replaying them must count them as the mailer meant. New events name the kind;
    this is the only place that infers it."""
    if smtp_code is not None and 500 <= smtp_code < 600:
        return "bounced"
    if not permanent:
        return "expired"
    return "suppressed" if reason == SUPPRESSED_REASON else "invalid"


class EmailFailedPayload(DeliveryRef):
    """A delivery that will not be made, and why; final for the delivery."""

    permanent: bool
    smtp_code: int | None = None
    enhanced_code: str | None = Field(default=None, max_length=20)
    reason: str = Field(max_length=2_000)
    # The mailer names it. Not required, so that events from before it did still parse: for
    # those it is worked out from the fields above (`failure_kind`); a version bump would
    # have parked them instead.
    kind: FailureKind = Field(default="invalid", description=(
        "Named by the sender; inferred from permanent, smtp_code and reason for events "
        "written before it was."))

    @model_validator(mode="before")
    @classmethod
    def _kind(cls, data: Any) -> Any:
        if isinstance(data, dict) and data.get("kind") is None:
            try:
                kind = failure_kind(permanent=bool(data["permanent"]),
                                    smtp_code=data.get("smtp_code"),
                                    reason=str(data["reason"]))
            except (KeyError, TypeError):
                return data  # the field checks name what is missing
            return {**data, "kind": kind}
        return data


class EngagementRef(DeliveryRef):
    """An open or a click of a delivered email. `human`: whether campaign-api labelled it a
    person's (not an image proxy's prefetch or a link scanner's) when it was recorded (a
    click taken back by a later trap hit is not sent again); None from before labels."""

    human: bool | None = None


class EmailClickedPayload(EngagementRef):
    url: str = Field(max_length=4_000)


class RecipientUnsubscribedPayload(Payload):
    email: EmailStr
    campaign_id: uuid.UUID | None = None


class CampaignCreated(Event):
    TYPE = "campaign.created"
    type: Literal["campaign.created"] = "campaign.created"
    payload: CampaignDefinition


class CampaignUpdated(Event):
    TYPE = "campaign.updated"
    type: Literal["campaign.updated"] = "campaign.updated"
    payload: CampaignDefinition


class CampaignPaused(Event):
    TYPE = "campaign.paused"
    type: Literal["campaign.paused"] = "campaign.paused"
    payload: CampaignRef


class CampaignResumed(Event):
    TYPE = "campaign.resumed"
    type: Literal["campaign.resumed"] = "campaign.resumed"
    payload: CampaignRef


class CampaignCancelled(Event):
    TYPE = "campaign.cancelled"
    type: Literal["campaign.cancelled"] = "campaign.cancelled"
    payload: CampaignRef


class CampaignCompleted(Event):
    TYPE = "campaign.completed"
    type: Literal["campaign.completed"] = "campaign.completed"
    payload: CampaignCompletedPayload


class CampaignScheduled(Event):
    TYPE = "campaign.scheduled"
    type: Literal["campaign.scheduled"] = "campaign.scheduled"
    payload: CampaignScheduledPayload


class WorkspaceUpdated(Event):
    TYPE = "workspace.updated"
    type: Literal["workspace.updated"] = "workspace.updated"
    payload: WorkspaceSettingsPayload


class AudienceMembersAdded(Event):
    TYPE = "audience.members.added"
    type: Literal["audience.members.added"] = "audience.members.added"
    payload: AudienceMembersAddedPayload


class AudienceMembersRemoved(Event):
    TYPE = "audience.members.removed"
    type: Literal["audience.members.removed"] = "audience.members.removed"
    payload: AudienceMembersRemovedPayload


class EmailDue(Event):
    TYPE = "email.due"
    type: Literal["email.due"] = "email.due"
    payload: EmailDuePayload


class ContentGenerated(Event):
    TYPE = "content.generated"
    type: Literal["content.generated"] = "content.generated"
    payload: ContentGeneratedPayload


class ContentFailed(Event):
    TYPE = "content.failed"
    type: Literal["content.failed"] = "content.failed"
    payload: ContentFailedPayload


class EmailSent(Event):
    TYPE = "email.sent"
    type: Literal["email.sent"] = "email.sent"
    payload: EmailSentPayload


class EmailFailed(Event):
    TYPE = "email.failed"
    type: Literal["email.failed"] = "email.failed"
    payload: EmailFailedPayload


class EmailOpened(Event):
    TYPE = "email.opened"
    type: Literal["email.opened"] = "email.opened"
    payload: EngagementRef


class EmailClicked(Event):
    TYPE = "email.clicked"
    type: Literal["email.clicked"] = "email.clicked"
    payload: EmailClickedPayload


class RecipientUnsubscribed(Event):
    TYPE = "recipient.unsubscribed"
    type: Literal["recipient.unsubscribed"] = "recipient.unsubscribed"
    payload: RecipientUnsubscribedPayload


EVENT_TYPES: dict[str, type[Event]] = {
    cls.TYPE: cls
    for cls in (
        CampaignCreated, CampaignUpdated, CampaignPaused, CampaignResumed, CampaignCancelled,
        CampaignCompleted, CampaignScheduled, AudienceMembersAdded, AudienceMembersRemoved,
        EmailDue,
        ContentGenerated, ContentFailed, EmailSent, EmailFailed, EmailOpened, EmailClicked,
        EmailPerformance, RecipientUnsubscribed, WorkspaceUpdated,
        ContactsChanged, ContactsDeleted, ListMembersAdded, ListMembersRemoved,
        SuppressionAdded, SuppressionRemoved, ContactErased, TransactionalRequested,
        AbTestDecided, ActivityRecorded, JourneyStepDue, JourneyActionDue, JourneyProgress,
    )
}

AnyEvent = Annotated[
    CampaignCreated | CampaignUpdated | CampaignPaused | CampaignResumed | CampaignCancelled
    | CampaignCompleted | CampaignScheduled | AudienceMembersAdded | AudienceMembersRemoved
    | EmailDue
    | ContentGenerated | ContentFailed | EmailSent | EmailFailed | EmailOpened | EmailClicked
    | EmailPerformance | RecipientUnsubscribed | WorkspaceUpdated
    | ContactsChanged | ContactsDeleted | ListMembersAdded | ListMembersRemoved
    | SuppressionAdded | SuppressionRemoved | ContactErased | TransactionalRequested
    | AbTestDecided | ActivityRecorded | JourneyStepDue | JourneyActionDue
    | JourneyProgress,
    Field(discriminator="type"),
]
_ANY_EVENT: TypeAdapter[AnyEvent] = TypeAdapter(AnyEvent)


def event_class_for(event_type: str) -> type[Event]:
    try:
        return EVENT_TYPES[event_type]
    except KeyError:
        raise ValueError(f"type: unknown event type {event_type!r}") from None


def parse_event(data: bytes | str) -> Event:
    """Validate a wire payload into its concrete event; raises pydantic.ValidationError."""
    event: Event = _ANY_EVENT.validate_json(data)
    return event
