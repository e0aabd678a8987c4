"""A journey's graph: what starts it, its steps, what ends it early and who may enter again.

A journey is a campaign of kind "journey" (`CampaignDefinition.kind`), its graph in
`CampaignDefinition.journey`; its emails are reckoned in the schedule's `timezone` (a contact's
own zone first) and kept inside the schedule's `send_window`, the rest of the schedule unused.

- `JourneyGraph`: `version` (a new one per edit of a live journey), `trigger`, `start` (the
  first step's id), `steps`, `exit_on` (goals that end an enrollment early; unsubscribed and
  suppressed contacts always exit, `rules.journey_steps.must_exit`), `reentry`.
- Triggers, by `type`: `ListJoined` ("list_joined"), `SegmentEntered` ("segment_entered"),
  `SignupConfirmed` ("signup_confirmed", a form's or any), `EventReceived` ("event_received",
  through POST /api/events), `DateFieldComes` ("date_field", yearly, offset days, local time).
- Steps, by `type`: `EmailStep` ("email"), `WaitStep` ("wait", `until` one of `WaitDuration`,
  `WaitWeekday`, `WaitDateField` by `kind`), `BranchStep` ("branch": `condition`, `then`,
  `else`), `ActionStep` ("action"), `ExitStep` ("exit").
- Branch conditions, by `kind`: `EngagedCondition` ("opened" / "clicked", human, a given email
  step), `LinkClickedCondition` ("clicked_link"), `EventCondition` ("event"), each within a
  time of reaching the branch; `FieldCondition` ("field"), `TagCondition` ("tag"),
  `SegmentCondition` ("segment"), decided at once. `.rule()` gives each as the plain rule
  `rules.journey_steps` evaluates.
- Goals, by `kind`: `GoalEvent` ("event"), `GoalSegment` ("segment_entered"), `GoalLink`
  ("link_clicked"); `JourneyGraph.goal_met` says whether a fact is one.

The graph is checked as a whole by `rules.journeys.check_graph` (loops refused, every path
ends at an exit, errors naming the step); a refused graph is a ValidationError whose error's
`ctx["error"]` is the `rules.journeys.InvalidJourney` with every `StepProblem`.
"""

from __future__ import annotations

import uuid
from datetime import timedelta
from typing import Annotated, Literal

from pydantic import ConfigDict, Field, StringConstraints, model_validator

from contracts.envelope import Payload
from contracts.types import OneLine
from rules import journey_steps as step_rules
from rules.journeys import (
    MAX_OFFSET_DAYS,
    MAX_STEPS,
    MAX_WAIT,
    MAX_WITHIN,
    MIN_WAIT,
    STEP_ID_PATTERN,
    check_graph,
)
from rules.schedule import IsoWeekday, LocalTime

StepId = Annotated[str, StringConstraints(pattern=STEP_ID_PATTERN)]
# An event's name as POST /api/events takes it: "signed_up", "order.paid".
EventName = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.:-]{0,99}$")]
# A custom field's key (campaign-api declares them: letters, digits and _).
FieldKey = Annotated[str, StringConstraints(pattern=r"^[A-Za-z_][A-Za-z0-9_]{0,63}$")]
TagName = Annotated[str, StringConstraints(min_length=1, max_length=64, strip_whitespace=True,
                                           to_lower=True)]
Url = Annotated[str, StringConstraints(pattern=r"^https?://\S+$", max_length=4_000)]
WaitSeconds = Annotated[int, Field(ge=int(MIN_WAIT.total_seconds()),
                                   le=int(MAX_WAIT.total_seconds()))]
WithinSeconds = Annotated[int, Field(ge=0, le=int(MAX_WITHIN.total_seconds()))]
OffsetDays = Annotated[int, Field(ge=-MAX_OFFSET_DAYS, le=MAX_OFFSET_DAYS)]
Weekdays = Annotated[list[IsoWeekday], Field(min_length=1, max_length=7)]


# --- triggers -------------------------------------------------------------------------------


class ListJoined(Payload):
    type: Literal["list_joined"] = "list_joined"
    list_id: uuid.UUID


class SegmentEntered(Payload):
    type: Literal["segment_entered"] = "segment_entered"
    segment_id: uuid.UUID


class SignupConfirmed(Payload):
    """A double opt-in confirmed through form `form_id`, or through any form (None)."""

    type: Literal["signup_confirmed"] = "signup_confirmed"
    form_id: uuid.UUID | None = None


class EventReceived(Payload):
    type: Literal["event_received"] = "event_received"
    name: EventName


class DateFieldComes(Payload):
    """Every year on the date in `field` (a birthday, a renewal), `offset_days` before (< 0)
    or after, at `at` in the contact's zone (`rules.journey_steps.date_field_due`)."""

    type: Literal["date_field"] = "date_field"
    field: FieldKey
    offset_days: OffsetDays = 0
    at: LocalTime


Trigger = Annotated[ListJoined | SegmentEntered | SignupConfirmed | EventReceived
                    | DateFieldComes, Field(discriminator="type")]


# --- branch conditions ----------------------------------------------------------------------


class EngagedCondition(Payload):
    """The contact opened (or clicked) email step `step`, human engagement only, by
    `within_seconds` after reaching the branch (0: by then)."""

    kind: Literal["opened", "clicked"]
    step: StepId
    within_seconds: WithinSeconds = 0

    def rule(self) -> step_rules.Condition:
        return step_rules.Engaged(self.kind, self.step, timedelta(seconds=self.within_seconds))


class LinkClickedCondition(Payload):
    kind: Literal["clicked_link"] = "clicked_link"
    step: StepId
    url: Url
    within_seconds: WithinSeconds = 0

    def rule(self) -> step_rules.Condition:
        return step_rules.LinkClicked(self.step, self.url, timedelta(seconds=self.within_seconds))


class EventCondition(Payload):
    """Event `name` received (POST /api/events) since the contact entered the journey, by
    `within_seconds` after reaching the branch."""

    kind: Literal["event"] = "event"
    name: EventName
    within_seconds: WithinSeconds = 0

    def rule(self) -> step_rules.Condition:
        return step_rules.EventSeen(self.name, timedelta(seconds=self.within_seconds))


class FieldCondition(Payload):
    """A custom field compared (`rules.journey_steps.field_matches`); no value for is_set."""

    kind: Literal["field"] = "field"
    field: FieldKey
    op: step_rules.FieldOp
    value: Annotated[str, Field(max_length=1_000)] | float | bool | None = None

    @model_validator(mode="after")
    def _value(self) -> FieldCondition:
        if (self.value is None) != (self.op in ("is_set", "is_not_set")):
            raise ValueError("value: needed for every op but is_set and is_not_set, "
                             "and only for them")
        return self

    def rule(self) -> step_rules.Condition:
        return step_rules.FieldIs(self.field, self.op, self.value)


class TagCondition(Payload):
    kind: Literal["tag"] = "tag"
    tag: TagName

    def rule(self) -> step_rules.Condition:
        return step_rules.HasTag(self.tag)


class SegmentCondition(Payload):
    kind: Literal["segment"] = "segment"
    segment_id: uuid.UUID

    def rule(self) -> step_rules.Condition:
        return step_rules.InSegment(self.segment_id)


BranchCondition = Annotated[EngagedCondition | LinkClickedCondition | EventCondition
                            | FieldCondition | TagCondition | SegmentCondition,
                            Field(discriminator="kind")]


# --- waits ----------------------------------------------------------------------------------


class WaitDuration(Payload):
    kind: Literal["duration"] = "duration"
    seconds: WaitSeconds


class WaitWeekday(Payload):
    """Until the next of `weekdays` at `at` in the contact's zone."""

    kind: Literal["weekday"] = "weekday"
    weekdays: Weekdays
    at: LocalTime

    @model_validator(mode="after")
    def _once(self) -> WaitWeekday:
        if len(set(self.weekdays)) != len(self.weekdays):
            raise ValueError("weekdays: weekdays must not repeat")
        return self


class WaitDateField(Payload):
    """Until the date in `field` plus `offset_days` at `at`; `yearly`: its next anniversary."""

    kind: Literal["date_field"] = "date_field"
    field: FieldKey
    offset_days: OffsetDays = 0
    at: LocalTime
    yearly: bool = False


WaitUntil = Annotated[WaitDuration | WaitWeekday | WaitDateField, Field(discriminator="kind")]


# --- steps ----------------------------------------------------------------------------------


class EmailStep(Payload):
    """An email written once for the step from the journey's brief and `goal`."""

    type: Literal["email"] = "email"
    id: StepId
    goal: Annotated[str, Field(min_length=1, max_length=2_000)]
    subject_hint: Annotated[OneLine, Field(max_length=200)] | None = None
    next: StepId
    # The step's content number, as campaign-api assigns it when the journey is saved: the
    # "sequence" its content is written, sent and reported under. A step kept unchanged by a
    # new version keeps its number; None only in a graph not yet saved.
    sequence: int | None = Field(default=None, ge=1)

    def links(self) -> tuple[tuple[str, str], ...]:
        return (("next", self.next),)

    def email_steps_named(self) -> tuple[tuple[str, str], ...]:
        return ()


class WaitStep(Payload):
    type: Literal["wait"] = "wait"
    id: StepId
    until: WaitUntil
    next: StepId

    def links(self) -> tuple[tuple[str, str], ...]:
        return (("next", self.next),)

    def email_steps_named(self) -> tuple[tuple[str, str], ...]:
        return ()


class BranchStep(Payload):
    """`then` when `condition` holds (in its time), else `else` (`otherwise` in Python)."""

    model_config = ConfigDict(frozen=True, extra="forbid", validate_by_name=True,
                              validate_by_alias=True, serialize_by_alias=True)

    type: Literal["branch"] = "branch"
    id: StepId
    condition: BranchCondition
    then: StepId
    otherwise: StepId = Field(alias="else")

    def links(self) -> tuple[tuple[str, str], ...]:
        return (("then", self.then), ("else", self.otherwise))

    def email_steps_named(self) -> tuple[tuple[str, str], ...]:
        if isinstance(self.condition, EngagedCondition | LinkClickedCondition):
            return (("condition.step", self.condition.step),)
        return ()


ActionKind = Literal["add_tag", "remove_tag", "add_to_list", "remove_from_list"]


class ActionTarget(Payload):
    """What an action does to a contact: tag or untag them (`tag`), or add them to or remove
    them from a list (`list_id`)."""

    action: ActionKind
    tag: TagName | None = None
    list_id: uuid.UUID | None = None

    @model_validator(mode="after")
    def _target(self) -> ActionTarget:
        on_tag = self.action in ("add_tag", "remove_tag")
        if on_tag and (self.tag is None or self.list_id is not None):
            raise ValueError(f"tag: {self.action} takes a tag and no list_id")
        if not on_tag and (self.list_id is None or self.tag is not None):
            raise ValueError(f"list_id: {self.action} takes a list_id and no tag")
        return self


class ActionStep(ActionTarget):
    type: Literal["action"] = "action"
    id: StepId
    next: StepId

    def links(self) -> tuple[tuple[str, str], ...]:
        return (("next", self.next),)

    def email_steps_named(self) -> tuple[tuple[str, str], ...]:
        return ()


class ExitStep(Payload):
    type: Literal["exit"] = "exit"
    id: StepId

    def links(self) -> tuple[tuple[str, str], ...]:
        return ()

    def email_steps_named(self) -> tuple[tuple[str, str], ...]:
        return ()


Step = Annotated[EmailStep | WaitStep | BranchStep | ActionStep | ExitStep,
                 Field(discriminator="type")]


# --- the journey ----------------------------------------------------------------------------


class GoalEvent(Payload):
    kind: Literal["event"] = "event"
    name: EventName


class GoalSegment(Payload):
    kind: Literal["segment_entered"] = "segment_entered"
    segment_id: uuid.UUID


class GoalLink(Payload):
    kind: Literal["link_clicked"] = "link_clicked"
    url: Url


Goal = Annotated[GoalEvent | GoalSegment | GoalLink, Field(discriminator="kind")]


class Reentry(Payload):
    """Who may enter again (`rules.journey_steps.may_enter`): `once` ever, `after_exit` of
    their last enrollment, or `always`; not sooner than `min_gap_seconds` after the last entry
    (always) or exit (after_exit)."""

    policy: step_rules.ReentryPolicy = "once"
    min_gap_seconds: Annotated[int, Field(ge=0, le=int(MAX_WAIT.total_seconds()))] = 0


class JourneyGraph(Payload):
    version: int = Field(default=1, ge=1)
    trigger: Trigger
    start: StepId
    steps: list[Step] = Field(min_length=1, max_length=MAX_STEPS)
    exit_on: list[Goal] = Field(default_factory=list, max_length=20)
    reentry: Reentry = Field(default_factory=Reentry)

    @model_validator(mode="after")
    def _graph(self) -> JourneyGraph:
        check_graph(self.start, self.steps)
        return self

    def goal_met(self, *, event: str | None = None, segment_id: uuid.UUID | None = None,
                 link: str | None = None) -> bool:
        """Whether an event received, a segment entered or a link clicked (its URL exactly)
        is one of the journey's goals, which ends an enrollment early."""
        for goal in self.exit_on:
            if ((isinstance(goal, GoalEvent) and goal.name == event)
                    or (isinstance(goal, GoalSegment) and goal.segment_id == segment_id)
                    or (isinstance(goal, GoalLink) and goal.url == link)):
                return True
        return False

    def step(self, step_id: str) -> EmailStep | WaitStep | BranchStep | ActionStep | ExitStep:
        """The step with id `step_id`; KeyError for none."""
        for s in self.steps:
            if s.id == step_id:
                return s
        raise KeyError(step_id)
