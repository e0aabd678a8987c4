"""Request and response bodies of the REST API."""

from __future__ import annotations

import uuid
from datetime import datetime
from decimal import Decimal
from typing import Annotated, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    EmailStr,
    Field,
    PlainSerializer,
    StringConstraints,
    WithJsonSchema,
    model_validator,
)
from pydantic_core import PydanticCustomError

from campaign_api.domain import InvalidRecipient, recipient, split_address
from campaign_api.schemas_contacts import Audience
from contracts.ab_tests import AbTest
from contracts.campaigns import SendWindow
from contracts.events import FailureKind
from contracts.journeys import JourneyGraph
from contracts.types import TimeZoneName
from rules.headers import HeaderInput
from rules.lifecycle import Status
from rules.schedule import (
    EmailCount,
    LocalTime,
    Months,
    PerWeek,
    StartAt,
    Weekday,
    check_schedule,
)

# What goes into a mail header (a name, a sender name): one line, as `rules.headers` says.
OneLine = HeaderInput
ModelName = Annotated[str, StringConstraints(min_length=1, max_length=200,
                                             pattern=r"^[A-Za-z0-9._:/@-]+$")]


# Costs as plain fixed-point text: str() of a Decimal writes zero to 8 places as "0E-8".
Money = Annotated[Decimal, PlainSerializer(lambda d: format(d, "f"), return_type=str,
                                           when_used="json")]

FieldName = Annotated[str, StringConstraints(pattern=r"^[A-Za-z_][A-Za-z0-9_]{0,63}$")]


def _named_address(value: str) -> str:
    try:
        name, address = split_address(value)
        recipient(address, name, {})
    except InvalidRecipient as exc:
        raise PydanticCustomError("recipient", "{reason}",
                                  {"reason": str(exc).partition(": ")[2]}) from exc
    return value


# The name is kept as the recipient's name; the use case splits it off the same way.
NamedAddress = Annotated[str, Field(max_length=520), AfterValidator(_named_address),
                         WithJsonSchema({"type": "string", "maxLength": 520, "description":
                                         "An address, optionally with a display name: "
                                         "`Grace Hopper <grace@example.org>`"})]


class RecipientIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    email: EmailStr
    name: Annotated[OneLine, Field(max_length=200)] = ""
    fields: dict[FieldName, Annotated[str, Field(max_length=1_000)]] = Field(
        default_factory=dict, max_length=50, description="Merge fields, e.g. company")


class CampaignCreate(BaseModel):
    """The original design's payload, plus optional fields; unknown fields are refused so
    that nobody can set `workspace_id` or `status` through the body."""

    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [{
        "name": "Product Launch Series",
        "description": "Weekly emails about our new product features",
        "schedule_type": "weekly", "weekly_emails": 2, "weekly_days": [1, 3, 5],
        "total_months": 3, "ai_agent_id": "openai/gpt-4",
        "recipient_emails": ["user@example.com"],
    }]})

    name: Annotated[OneLine, Field(min_length=1, max_length=200)]
    description: str = Field(default="", max_length=20_000, description="The campaign brief")
    brand_voice: str = Field(default="", max_length=5_000)
    audience_description: str = Field(default="", max_length=5_000)
    kind: Literal["campaign", "journey"] = Field(
        default="campaign", description="journey: a sequence per contact, started by its "
        "graph's trigger; it takes `journey` and of the schedule only `timezone` and "
        "`send_window`, and needs no recipients")
    journey: JourneyGraph | None = Field(
        default=None, description="The journey's graph (kind journey): its `version` and each "
        "email step's `sequence` are assigned on save")
    schedule_type: Literal["daily", "weekly"] | None = Field(
        default=None, description="Required for a campaign; not for a journey")
    weekly_emails: PerWeek | None = Field(
        default=None, description="Emails a week when fewer than `weekly_days`: sent on the "
        "days spread most evenly around the week (see `send_days` in the campaign's detail)")
    weekly_days: list[Weekday] = Field(default_factory=list, max_length=7)
    total_months: Months | None = None
    total_emails: EmailCount | None = None
    start_at: StartAt | None = Field(
        default=None, description="Without an offset: wall-clock time in `timezone`. "
        "Omitted or not in the future: the first email goes out now.")
    send_time: LocalTime | None = Field(
        default=None, description="Local send time without an offset, default 09:00")
    timezone: TimeZoneName = "UTC"
    ai_agent_id: ModelName = Field(description="The OpenRouter model that writes the emails")
    fallback_models: list[ModelName] = Field(default_factory=list, max_length=5)
    recipient_emails: list[NamedAddress] = Field(default_factory=list, max_length=10_000)
    recipients: list[RecipientIn] = Field(
        default_factory=list, max_length=10_000,
        description="Recipients with a name and merge fields; may be given with or instead of "
        "`recipient_emails`")
    audience: Audience | None = Field(
        default=None, description="Lists and segments of the workspace to mail, and to "
        "leave out; the campaign's own recipients are always included")
    per_contact_time: bool = Field(
        default=False, description="Send at `send_time` in each contact's own time zone (the "
        "campaign's where a contact has none), on the email's local date")
    send_time_optimization: bool = Field(
        default=False, description="Send each contact the email at the hour of its weekday "
        "they have read mail at most, learned from their opens and clicks, in their own time "
        "zone on the email's local date; contacts without enough of them at `send_time` there")
    send_window: SendWindow | None = Field(
        default=None, description="Hours and weekdays mail may go out, in the recipient's "
        "local time; a delivery due outside them moves to the next opening")
    from_name: Annotated[OneLine, Field(max_length=200)] = ""
    from_email: EmailStr | None = None
    reply_to: EmailStr | None = None
    ab_test: AbTest | None = Field(
        default=None, description="Write the emails it names in variants, each sent to a "
        "slice of the recipients, and the winner to the rest after the window")

    @model_validator(mode="after")
    def _check(self) -> CampaignCreate:
        if self.kind == "journey":
            return self._check_journey()
        if self.journey is not None:
            raise ValueError('journey: only for kind "journey"')
        if self.schedule_type is None:
            raise ValueError("schedule_type: Field required")
        check_schedule(schedule_type=self.schedule_type, weekly_days=self.weekly_days,
                       total_months=self.total_months, total_emails=self.total_emails)
        targets = self.audience is not None and self.audience.has_targets()
        if not self.recipient_emails and not self.recipients and not targets:
            raise ValueError("recipient_emails: at least one recipient, or a list or segment "
                             "in audience, is required")
        return self

    def _check_journey(self) -> CampaignCreate:
        if self.journey is None:
            raise ValueError("journey: a journey needs its graph")
        if campaign_only := sorted(self.model_fields_set & CAMPAIGN_ONLY):
            raise ValueError(f"{campaign_only[0]}: not for a journey (its schedule takes only "
                             "timezone and send_window; contacts enter by its trigger)")
        return self


# What only a campaign (kind "campaign") takes: a journey's emails follow its graph, and its
# contacts come in through its trigger.
CAMPAIGN_ONLY = frozenset({
    "schedule_type", "weekly_emails", "weekly_days", "total_months", "total_emails", "start_at",
    "send_time", "per_contact_time", "send_time_optimization", "recipient_emails", "recipients",
    "audience", "ab_test"})


class CampaignUpdate(BaseModel):
    """Fields to change; an omitted field keeps its value. `total_months` and `total_emails` may
    be set to null to switch the campaign's duration from one to the other."""

    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [
        {"brand_voice": "Warm and direct", "weekly_days": [2, 4], "timezone": "Europe/Berlin"},
    ]})

    name: Annotated[OneLine, Field(min_length=1, max_length=200)] | None = None
    description: str | None = Field(default=None, max_length=20_000)
    brand_voice: str | None = Field(default=None, max_length=5_000)
    audience_description: str | None = Field(default=None, max_length=5_000)
    schedule_type: Literal["daily", "weekly"] | None = None
    weekly_emails: PerWeek | None = None
    weekly_days: list[Weekday] | None = Field(default=None, max_length=7)
    total_months: Months | None = None
    total_emails: EmailCount | None = None
    send_time: LocalTime | None = None
    timezone: TimeZoneName | None = None
    ai_agent_id: ModelName | None = None
    fallback_models: list[ModelName] | None = Field(default=None, max_length=5)
    audience: Audience | None = Field(default=None, description="Replaces the lists and "
                                      "segments the campaign targets")
    per_contact_time: bool | None = None
    send_time_optimization: bool | None = None
    send_window: SendWindow | None = Field(default=None, description="null: no window")
    from_name: Annotated[OneLine, Field(max_length=200)] | None = None
    from_email: EmailStr | None = None
    reply_to: EmailStr | None = None
    ab_test: AbTest | None = Field(default=None, description="null: test no further emails")
    journey: JourneyGraph | None = Field(
        default=None, description="A journey's new graph: a new version when it differs from "
        "the saved one (`version` and `sequence` are assigned on save)")


class RecipientsAdd(BaseModel):
    model_config = ConfigDict(extra="forbid")

    recipients: list[RecipientIn] = Field(min_length=1, max_length=10_000)


class RecipientsRemove(BaseModel):
    model_config = ConfigDict(extra="forbid")

    emails: list[EmailStr] = Field(min_length=1, max_length=10_000)


class Recipient(BaseModel):
    email: str
    name: str
    fields: dict[str, str]
    added_at: datetime
    unsubscribed: bool = Field(description="Unsubscribed from this workspace: gets no email")
    bounced: bool = Field(description="A delivery of this campaign to it was refused by the "
                          "receiving server")
    suppressed: bool = Field(description="A delivery of this campaign to it was not attempted: "
                             "the address is on the suppression list")


class RecipientPage(BaseModel):
    items: list[Recipient]
    next_cursor: str | None = Field(description="Pass as `cursor` for the next page")


class MembershipChange(BaseModel):
    requested: int = Field(description="Distinct addresses in the request")
    changed: int = Field(description="Addresses actually added (or removed)")


class RejectedRow(BaseModel):
    line: int = Field(description="Line number in the file; the header is line 1")
    reason: str


class ImportReport(BaseModel):
    rows: int = Field(description="Data rows read (header excluded)")
    added: int
    duplicates: int = Field(description="Valid rows whose address was already in the audience "
                            "or earlier in the file")
    rejected: int
    rejected_rows: list[RejectedRow] = Field(description="Rejected rows in file order (the "
                                             "first 10,000 if there are more)")


class Progress(BaseModel):
    recipients: int
    emails_planned: int | None = Field(description="N of 'k of N', from the scheduler's plan")
    emails_generated: int
    emails_failed: int
    deliveries_sent: int
    deliveries_failed: int


class CampaignSummary(BaseModel):
    id: uuid.UUID
    name: str
    status: Status
    archived: bool
    schedule_type: Literal["daily", "weekly"]
    kind: Literal["campaign", "journey"] = "campaign"
    ai_agent_id: str
    progress: Progress
    created_at: datetime
    updated_at: datetime




class DeliveryFailure(BaseModel):
    """A delivery that will not be made, as the mailer reported it."""

    sequence: int
    recipient: str
    kind: FailureKind = Field(description="bounced: the receiving server refused it (SMTP "
                              "5xx); invalid: no safe message could be built from the data; "
                              "suppressed: the address is on the suppression list; expired: "
                              "temporary failures went on until the mailer gave up; capped: "
                              "skipped over the workspace's frequency cap")
    reason: str = Field(description="What the mailer or the receiving server said")
    smtp_code: int | None
    enhanced_code: str | None = Field(description="RFC 3463 status, e.g. 5.1.1")
    failed_at: datetime


class CampaignEmail(BaseModel):
    sequence: int
    subject: str | None
    model: str | None
    structure: str | None
    send_at: datetime | None
    sent: int
    failed: int = Field(description="Deliveries that will not be made: the five kinds below")
    bounced: int = Field(description="Refused by the receiving server (SMTP 5xx)")
    invalid: int = Field(description="No safe message could be built from the data")
    suppressed: int = Field(description="Addresses on the suppression list")
    expired: int = Field(description="Given up after temporary failures")
    capped: int = Field(description="Skipped: over the workspace's frequency cap")
    failure: str | None = Field(description="Why the email could not be written, if it could "
                                "not; failed deliveries are in `last_failure`")
    last_failure: DeliveryFailure | None = Field(
        default=None, description="The newest failed delivery of this email, with its reason")
    prompt_tokens: int
    completion_tokens: int
    cost: Money


class FailurePage(BaseModel):
    items: list[DeliveryFailure] = Field(description="Newest first")


class CampaignDetail(CampaignSummary):
    description: str
    brand_voice: str
    audience_description: str
    weekly_emails: int | None
    weekly_days: list[int]
    send_days: list[int] = Field(
        description="The ISO weekdays emails go out on: `weekly_days`, or of them the "
        "`weekly_emails` spread most evenly around the week; every day for a daily schedule")
    total_months: int | None
    total_emails: int | None
    start_at: datetime
    send_time: LocalTime
    timezone: str
    per_contact_time: bool
    send_time_optimization: bool
    send_window: SendWindow | None
    ab_test: AbTest | None = None
    journey: JourneyGraph | None = Field(
        default=None, description="A journey's graph as saved: its version and each email "
        "step's `sequence`")
    fallback_models: list[str]
    audience: Audience
    from_name: str
    from_email: str | None
    reply_to: str | None
    planned_total_emails: int | None = Field(
        description="How many emails the scheduler plans in all (null until it has planned)")
    next_sequence: int | None
    next_send_times: list[datetime]
    cost: Money = Field(description="Spent on generating this campaign's emails so far")
    emails: list[CampaignEmail]


class CampaignPage(BaseModel):
    items: list[CampaignSummary]
    next_cursor: str | None = Field(description="Pass as `cursor` for the next page")


class FieldError(BaseModel):
    field: str
    message: str


class Problem(BaseModel):
    """RFC 9457 problem details."""

    type: str = "about:blank"
    title: str
    status: int
    detail: str
    errors: list[FieldError] = Field(default_factory=list)



class PreviewEmail(BaseModel):
    sequence: int
    subject: str
    preheader: str
    body_html: str
    body_text: str
    model: str
    provider: str
    structure: str
    cost: Money


class ApiKeyCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: Annotated[OneLine, Field(min_length=1, max_length=100)] = "api"


class ApiKeyInfo(BaseModel):
    id: uuid.UUID
    name: str
    created_at: datetime
    revoked_at: datetime | None


class ApiKeyCreated(ApiKeyInfo):
    key: str = Field(description="The key itself: shown this once, only its hash is stored")


class Workspace(BaseModel):
    id: uuid.UUID
    name: str
    created_at: datetime
