"""Request and response bodies of the REST API."""

from __future__ import annotations

import uuid
from datetime import datetime, time
from decimal import Decimal
from typing import Annotated, Literal

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    EmailStr,
    Field,
    StringConstraints,
    model_validator,
)

from campaign_api.domain import weekday_number
from contracts.events import TimeZoneName

OneLine = Annotated[str, StringConstraints(pattern=r"^[^\r\n\x00]*$", strip_whitespace=True)]
Weekday = Annotated[int, BeforeValidator(weekday_number), Field(ge=1, le=7)]
ModelName = Annotated[str, StringConstraints(min_length=1, max_length=200,
                                             pattern=r"^[A-Za-z0-9._:/@-]+$")]


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
    schedule_type: Literal["daily", "weekly"]
    weekly_emails: int | None = Field(default=None, ge=1, le=7)
    weekly_days: list[Weekday] = Field(default_factory=list, max_length=7)
    total_months: int | None = Field(default=None, ge=1, le=120)
    total_emails: int | None = Field(default=None, ge=1, le=10_000)
    start_at: datetime | None = Field(
        default=None, description="Without an offset: wall-clock time in `timezone`. "
        "Omitted or not in the future: the first email goes out now.")
    send_time: time | None = Field(default=None, description="Local send time, default 09:00")
    timezone: TimeZoneName = "UTC"
    ai_agent_id: ModelName = Field(description="The OpenRouter model that writes the emails")
    fallback_models: list[ModelName] = Field(default_factory=list, max_length=5)
    recipient_emails: list[EmailStr] = Field(min_length=1, max_length=10_000)
    from_name: Annotated[OneLine, Field(max_length=200)] = ""
    from_email: EmailStr | None = None
    reply_to: EmailStr | None = None

    @model_validator(mode="after")
    def _check(self) -> CampaignCreate:
        if self.schedule_type == "weekly" and not self.weekly_days:
            raise ValueError("weekly_days: a weekly schedule needs at least one weekday")
        if len(set(self.weekly_days)) != len(self.weekly_days):
            raise ValueError("weekly_days: weekdays must not repeat")
        if self.total_months is None and self.total_emails is None:
            raise ValueError("total_months: give total_months or total_emails")
        return self


class Progress(BaseModel):
    recipients: int
    emails_generated: int
    emails_failed: int
    deliveries_sent: int
    deliveries_failed: int


class CampaignSummary(BaseModel):
    id: uuid.UUID
    name: str
    status: Literal["active", "paused", "cancelled", "completed"]
    schedule_type: Literal["daily", "weekly"]
    ai_agent_id: str
    progress: Progress
    created_at: datetime
    updated_at: datetime


class CampaignEmail(BaseModel):
    sequence: int
    subject: str | None
    model: str | None
    structure: str | None
    send_at: datetime | None
    sent: int
    failed: int
    failure: str | None
    prompt_tokens: int
    completion_tokens: int
    cost: Decimal


class CampaignDetail(CampaignSummary):
    description: str
    brand_voice: str
    audience_description: str
    weekly_emails: int | None
    weekly_days: list[int]
    total_months: int | None
    total_emails: int | None
    start_at: datetime
    send_time: time
    timezone: str
    fallback_models: list[str]
    from_name: str
    from_email: str | None
    reply_to: str | None
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

