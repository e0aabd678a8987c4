"""What an enrollment does next, pure: given its journey's graph (the version it entered
with), its contact and the facts known at `now`, walk the steps that can be taken now and stop
where the enrollment must wait (a timer, a pending branch) or ends (an exit step, a goal met,
a contact who must leave). Every time comes from `rules.journey_steps`.

The walk emits one `Emit` per email or action step it passes; the caller publishes each with
an id derived from (enrollment, step), in the transaction that moves the enrollment on, so a
step is emitted exactly once through crashes and redeliveries. The graph has no loops
(`rules.journeys.check_graph`): a step is reached at most once per enrollment.

Each step is reached at the time the previous one let go: a wait at its due time, a branch
at the moment it was decided (its deadline when it went `else` by time), so an enrollment
that is advanced late still sends its emails at the times the journey says.
"""

from __future__ import annotations

import uuid
from collections.abc import Collection, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Literal

from contracts.campaigns import SendWindow
from contracts.journeys import (
    ActionStep,
    BranchStep,
    EmailStep,
    ExitStep,
    GoalEvent,
    GoalLink,
    GoalSegment,
    JourneyGraph,
    WaitDateField,
    WaitDuration,
    WaitStep,
    WaitWeekday,
)
from rules import journey_steps as rules

ExitReason = Literal["end", "goal", "unsubscribed", "suppressed", "cancelled", "removed"]
# Steps walked in one go at most: more than any graph holds (`rules.journeys.MAX_STEPS`).
_MAX_WALK = 1_000


@dataclass(frozen=True)
class Contact:
    """The contact as the scheduler last heard of it (contacts.changed, suppressions)."""

    status: str = "subscribed"
    suppressed: bool = False
    timezone: str | None = None
    fields: Mapping[str, object] = field(default_factory=dict)
    tags: Collection[str] = frozenset()
    segments: Collection[uuid.UUID] = frozenset()


@dataclass(frozen=True)
class Enrollment:
    id: uuid.UUID
    step_id: str
    entered_at: datetime
    step_entered_at: datetime


@dataclass(frozen=True)
class Emit:
    """An email step reached (`send_at` set) or an action step reached."""

    step_id: str
    kind: Literal["email", "action"]
    sequence: int | None = None
    send_at: datetime | None = None


@dataclass(frozen=True)
class Outcome:
    """Where the enrollment is after the walk: at `step_id` since `step_entered_at`, waiting
    until `due_at` (None: for a fact only), or ended (`ended` with its reason)."""

    step_id: str
    step_entered_at: datetime
    emits: tuple[Emit, ...] = ()
    due_at: datetime | None = None
    ended: ExitReason | None = None


def goal_met(graph: JourneyGraph, facts: rules.Facts) -> bool:
    """Whether anything known since entry is one of the journey's goals."""
    for goal in graph.exit_on:
        if isinstance(goal, GoalEvent) and goal.name in facts.events:
            return True
        if isinstance(goal, GoalSegment) and goal.segment_id in facts.segments:
            return True
        if isinstance(goal, GoalLink) and any(url == goal.url for _, url in facts.links):
            return True
    return False


def exit_reason(contact: Contact) -> ExitReason | None:
    """Why a contact leaves every journey now, or None."""
    if not rules.must_exit(contact.status, suppressed=contact.suppressed):
        return None
    return "suppressed" if contact.suppressed else "unsubscribed"


def wait_due(step: WaitStep, reached_at: datetime, contact: Contact, zone: str) -> datetime:
    until = step.until
    if isinstance(until, WaitDuration):
        return rules.duration_due(reached_at, until.seconds)
    if isinstance(until, WaitWeekday):
        return rules.weekday_due(reached_at, until.weekdays, until.at, contact.timezone, zone)
    assert isinstance(until, WaitDateField)
    return rules.date_field_due(reached_at, rules.field_date(contact.fields.get(until.field)),
                                until.offset_days, until.at, contact.timezone, zone,
                                yearly=until.yearly)


def branch_deadline(condition: rules.Condition, reached_at: datetime) -> datetime:
    """When a branch reached at `reached_at` stops waiting for its fact: the moment the next
    step is reached when it went `else` by time, and the latest one when it went `then` (a
    branch decided at once: `reached_at`). Asked of the rule itself, with nothing known yet."""
    pending = rules.branch_outcome(condition, rules.Facts(), reached_at, reached_at)
    return pending.recheck_at or reached_at


def advance(graph: JourneyGraph, enrollment: Enrollment, contact: Contact, facts: rules.Facts,
            *, now: datetime, zone: str, window: SendWindow | None) -> Outcome:
    """The enrollment walked as far as it can go at `now` (see the module's rules)."""
    step_id, reached = enrollment.step_id, enrollment.step_entered_at
    emits: list[Emit] = []
    reason = exit_reason(contact) or ("goal" if goal_met(graph, facts) else None)
    if reason is not None:
        return Outcome(step_id, reached, (), None, reason)
    for _ in range(_MAX_WALK):
        step = graph.step(step_id)
        if isinstance(step, ExitStep):
            return Outcome(step_id, reached, tuple(emits), None, "end")
        if isinstance(step, EmailStep):
            if step.sequence is None:
                raise ValueError(f"steps.{step.id}: an email step without its sequence")
            emits.append(Emit(step.id, "email", step.sequence,
                              rules.email_send_at(reached, contact.timezone, zone, window)))
            step_id = step.next
        elif isinstance(step, ActionStep):
            emits.append(Emit(step.id, "action"))
            step_id = step.next
        elif isinstance(step, WaitStep):
            due = wait_due(step, reached, contact, zone)
            if due > now:
                return Outcome(step_id, reached, tuple(emits), due)
            step_id, reached = step.next, due
        else:
            assert isinstance(step, BranchStep)
            facts_now = rules.Facts(opened=facts.opened, clicked=facts.clicked,
                                    links=facts.links, events=facts.events,
                                    tags=contact.tags, fields=contact.fields,
                                    segments=contact.segments)
            condition = step.condition.rule()
            decided = rules.branch_outcome(condition, facts_now, reached, now)
            if decided.way is None:
                return Outcome(step_id, reached, tuple(emits), decided.recheck_at)
            step_id = step.then if decided.way == "then" else step.otherwise
            reached = max(reached, min(now, branch_deadline(condition, reached)))
    raise ValueError("a journey walked past its number of steps")  # pragma: no cover


# --- progress (journey.progress) ------------------------------------------------------------

_LIVE = frozenset({"waiting", "active"})
_AS_OF_TICK = timedelta(microseconds=1)


def progress_steps(by_state: Collection[tuple[str, str, str | None, int]],
                   entered: Mapping[str, int]) -> list[dict[str, Any]]:
    """A journey's counts per step, as journey.progress carries them, from its enrollments
    counted by (step, state, exit reason) and its steps reached: live enrollments wait at
    their step, ended ones exited there for their reason (a done one at its exit step, "end";
    one that could not be walked, "error"). Sorted by step id, so equal counts compare equal."""
    steps: dict[str, dict[str, Any]] = {
        step: {"step_id": step, "waiting": 0, "entered": n, "exited": {}}
        for step, n in entered.items()}
    for step, state, reason, n in by_state:
        row = steps.setdefault(step, {"step_id": step, "waiting": 0, "entered": 0, "exited": {}})
        if state in _LIVE:
            row["waiting"] += n
            continue
        why = "error" if state == "error" else ("end" if state == "done" else reason or "end")
        row["exited"][why] = row["exited"].get(why, 0) + n
    return [steps[k] for k in sorted(steps)]


def next_as_of(now: datetime, previous: datetime | None) -> datetime:
    """A new summary's time: now, but always after the journey's previous one, so `as_of`
    orders its summaries even across replicas whose clocks differ a little."""
    if previous is None or now > previous:
        return now
    return previous + _AS_OF_TICK
