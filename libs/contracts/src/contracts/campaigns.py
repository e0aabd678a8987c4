"""What a campaign is, as every service needs to know it (event-carried state in
campaign.created / campaign.updated): its schedule and send window, whom it mails, its A/B
test, and for a journey its graph."""

from __future__ import annotations

import uuid
from typing import Literal

from pydantic import AwareDatetime, EmailStr, Field, model_validator

from contracts.ab_tests import AbTest
from contracts.envelope import Payload
from contracts.journeys import JourneyGraph
from contracts.types import ShortText, TimeZoneName
from rules.schedule import (
    DEFAULT_SEND_TIME,
    EmailCount,
    IsoWeekday,
    LocalTime,
    Months,
    PerWeek,
    check_schedule,
    check_window,
)


class SendWindow(Payload):
    """When a campaign may deliver, in the recipient's local time (the zone a delivery's due
    time is reckoned in): a delivery due outside it, a retry included, moves to the next
    opening. `end` before `start` spans midnight."""

    start: LocalTime
    end: LocalTime
    weekdays: list[IsoWeekday] = Field(default_factory=lambda: [1, 2, 3, 4, 5, 6, 7],
                                       min_length=1, max_length=7)

    @model_validator(mode="after")
    def _check(self) -> SendWindow:
        check_window(start=self.start, end=self.end, weekdays=self.weekdays)
        return self


class AudienceTargets(Payload):
    """Whom a campaign mails besides its own list (`audience_id`): the members of any of
    `include`, less the members of any of `exclude`. Ids of lists and of segments alike."""

    include: list[uuid.UUID] = Field(default_factory=list, max_length=50)
    exclude: list[uuid.UUID] = Field(default_factory=list, max_length=50)


class Schedule(Payload):
    """When a campaign's emails go out; the scheduler owns what this means in dates."""

    schedule_type: Literal["daily", "weekly"]
    weekly_days: list[IsoWeekday] = Field(default_factory=list, max_length=7)
    weekly_emails: PerWeek | None = None
    total_months: Months | None = None
    total_emails: EmailCount | None = None
    start_at: AwareDatetime
    # Email 1 goes at start_at itself ("start now"); the rest follow the cadence.
    start_immediately: bool = False
    send_time: LocalTime = DEFAULT_SEND_TIME
    timezone: TimeZoneName = "UTC"
    # Each contact gets the email at send_time in their own time zone (the campaign's where
    # they have none), on the email's local date; content is written ahead of the earliest.
    per_contact_time: bool = False
    # Send-time optimisation: each contact gets the email at their own preferred hour of the
    # email's weekday (`ContactState.send_hours`), in their own zone, on the email's local
    # date; a contact without learned hours at send_time there (per-contact time).
    send_time_optimization: bool = False
    send_window: SendWindow | None = None

    @model_validator(mode="after")
    def _check(self) -> Schedule:
        check_schedule(schedule_type=self.schedule_type, weekly_days=self.weekly_days,
                       total_months=self.total_months, total_emails=self.total_emails)
        return self


class CampaignDefinition(Payload):
    """Everything other services need to know about a campaign (event-carried state)."""

    campaign_id: uuid.UUID
    audience_id: uuid.UUID
    name: ShortText
    description: str = Field(max_length=20_000)
    brand_voice: str = Field(default="", max_length=5_000)
    audience_description: str = Field(default="", max_length=5_000)
    model: str = Field(min_length=1, max_length=200)
    fallback_models: list[str] = Field(default_factory=list, max_length=5)
    from_name: ShortText = ""
    from_email: EmailStr | None = None
    reply_to: EmailStr | None = None
    schedule: Schedule
    targets: AudienceTargets = Field(default_factory=AudienceTargets)
    # Emails written in variants and tested on slices of the recipients; None: no test.
    ab_test: AbTest | None = None
    # A journey: a sequence per contact started by a trigger (`contracts.journeys`); its
    # emails use the schedule's timezone and send_window. Events from before it: a campaign.
    kind: Literal["campaign", "journey"] = "campaign"
    journey: JourneyGraph | None = None

    @model_validator(mode="after")
    def _journey(self) -> CampaignDefinition:
        if self.kind == "journey" and self.journey is None:
            raise ValueError("journey: a journey needs its graph")
        if self.kind == "campaign" and self.journey is not None:
            raise ValueError('journey: only for kind "journey"')
        return self
