"""What journeys run on besides their graph (`contracts.journeys`): the contact events that
start and steer them, and what the scheduler's enrollments ask of the other services.

- `activity.recorded` (campaign-api, from POST /api/events): something a contact did, named
  by the caller ("signed_up", "order.paid"), once per `event_id` (the caller's idempotency
  key). Starts journeys triggered by it, answers event branches, meets event goals.
- `journey.step_due` (scheduler): one contact's email of a journey falls due: one per
  (enrollment, step), its event id derived from the two, so a step is sent once through
  crashes. `sequence` is the email step's content number (`EmailStep.sequence`): the content
  is written once per step, not per contact.
- `journey.action` (scheduler): an action step on one contact (a tag, a list), carried out by
  campaign-api, which owns contacts; one per (enrollment, step).
- `journey.progress` (scheduler): a journey's counts per step (waiting now, entered, exited by
  reason), for the dashboard's live view and funnel: at most one per journey per summary
  interval, only when the counts changed, `as_of` strictly increasing per journey (a reader
  keeps the newest and ignores an older one arriving late).

Engagement reaches the scheduler's branches on the existing email.opened / email.clicked,
which say whether campaign-api labelled the open or click a person's (`EngagementRef.human`).
"""

from __future__ import annotations

import uuid
from typing import Annotated, Literal

from pydantic import AwareDatetime, EmailStr, Field, StringConstraints, model_validator

from contracts.envelope import Event, Payload
from contracts.journeys import ActionTarget, EventName, StepId
from rules.journeys import MAX_STEPS

# An event's properties: flat, small, JSON scalars.
PropertyValue = str | int | float | bool | None
PropertyKey = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9_.:-]{1,64}$")]
MAX_PROPERTIES = 50


class ActivityPayload(Payload):
    event_id: uuid.UUID
    email: EmailStr
    name: EventName
    properties: dict[PropertyKey, PropertyValue] = Field(default_factory=dict,
                                                         max_length=MAX_PROPERTIES)
    occurred_at: AwareDatetime

    @model_validator(mode="after")
    def _short_values(self) -> ActivityPayload:
        for key, value in self.properties.items():
            if isinstance(value, str) and len(value) > 1_000:
                raise ValueError(f"properties.{key}: at most 1000 characters")
        return self


class JourneyStepDuePayload(Payload):
    campaign_id: uuid.UUID
    version: int = Field(ge=1)
    enrollment_id: uuid.UUID
    step_id: StepId
    sequence: int = Field(ge=1)
    email: EmailStr
    send_at: AwareDatetime


class JourneyActionPayload(ActionTarget):
    campaign_id: uuid.UUID
    enrollment_id: uuid.UUID
    step_id: StepId
    email: EmailStr


# Why an enrollment ended: its exit step, a goal met, the contact unsubscribed or suppressed,
# the journey cancelled, the contact removed (erased, deleted), or a step that could not be
# walked ("error").
ProgressExit = Literal["end", "goal", "unsubscribed", "suppressed", "cancelled", "removed",
                       "error"]


class StepProgress(Payload):
    step_id: StepId
    # Enrollments at this step now (waiting on a wait or a branch).
    waiting: int = Field(default=0, ge=0)
    # Enrollments that reached this step (email and action steps: emitted once each).
    entered: int = Field(default=0, ge=0)
    # Enrollments that ended while at this step, by why.
    exited: dict[ProgressExit, int] = Field(default_factory=dict)


class JourneyProgressPayload(Payload):
    campaign_id: uuid.UUID
    version: int = Field(ge=1)
    # Counts over every version's enrollments, by step id (bounded by the graph's size).
    steps: list[StepProgress] = Field(default_factory=list, max_length=MAX_STEPS * 4)
    as_of: AwareDatetime


class ActivityRecorded(Event):
    TYPE = "activity.recorded"
    type: Literal["activity.recorded"] = "activity.recorded"
    payload: ActivityPayload


class JourneyStepDue(Event):
    TYPE = "journey.step_due"
    type: Literal["journey.step_due"] = "journey.step_due"
    payload: JourneyStepDuePayload


class JourneyActionDue(Event):
    TYPE = "journey.action"
    type: Literal["journey.action"] = "journey.action"
    payload: JourneyActionPayload


class JourneyProgress(Event):
    TYPE = "journey.progress"
    type: Literal["journey.progress"] = "journey.progress"
    payload: JourneyProgressPayload
