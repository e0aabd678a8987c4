"""A journey's email steps as the prompt needs them: each step's goal and subject hint by its
content number, and where it sits in the journey (the first email a contact gets, or a
follow-up after which emails and which branch outcomes). Pure, no I/O.

The content is written once per step, for everyone who reaches it, so nothing here is about a
contact: where a step sits is read from the graph alone, along the shortest path from the
start (a graph whose branches join again reaches a step more than one way; the shortest is
the way most contacts come).
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass
from typing import Any

from contracts.journeys import (
    BranchStep,
    EmailStep,
    EngagedCondition,
    EventCondition,
    FieldCondition,
    JourneyGraph,
    LinkClickedCondition,
    SegmentCondition,
    TagCondition,
    WaitDateField,
    WaitDuration,
    WaitStep,
    WaitWeekday,
)


@dataclass(frozen=True)
class JourneyEmail:
    """One email step of a journey, as its content is written."""

    sequence: int
    step_id: str
    goal: str
    subject_hint: str | None
    # How many of the journey's emails a contact has had before this one on the way here.
    emails_before: int
    # What happened on the way here, in order: waits and branch outcomes, in plain words.
    path: tuple[str, ...]

    @property
    def first(self) -> bool:
        return self.emails_before == 0

    def to_json(self) -> dict[str, Any]:
        return {"sequence": self.sequence, "step_id": self.step_id, "goal": self.goal,
                "subject_hint": self.subject_hint, "emails_before": self.emails_before,
                "path": list(self.path)}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> JourneyEmail:
        return cls(int(data["sequence"]), str(data["step_id"]), str(data["goal"]),
                   data.get("subject_hint"), int(data["emails_before"]),
                   tuple(str(p) for p in data.get("path", ())))


def _duration(seconds: int) -> str:
    for unit, size in (("day", 86_400), ("hour", 3_600), ("minute", 60)):
        if seconds >= size and seconds % size == 0:
            n = seconds // size
            return f"{n} {unit}{'s' if n != 1 else ''}"
    return f"{seconds} seconds"


def _wait(step: WaitStep) -> str:
    until = step.until
    if isinstance(until, WaitDuration):
        return f"a wait of {_duration(until.seconds)}"
    if isinstance(until, WaitWeekday):
        return f"a wait until the next chosen weekday at {until.at.strftime('%H:%M')}"
    assert isinstance(until, WaitDateField)
    return f"a wait until the date in their {until.field} field"


def _condition(step: BranchStep, graph: JourneyGraph, held: bool) -> str:
    c = step.condition
    if isinstance(c, EngagedCondition | LinkClickedCondition):
        target = graph.step(c.step)
        email = (f"email {target.sequence}" if isinstance(target, EmailStep)
                 and target.sequence is not None else f"the email of step {c.step}")
        within = f" within {_duration(c.within_seconds)}" if c.within_seconds else ""
        if isinstance(c, EngagedCondition):
            fact = f"{c.kind} {email}{within}"
        else:
            fact = f"clicked the link {c.url} in {email}{within}"
    elif isinstance(c, EventCondition):
        fact = f"did '{c.name}'"
    elif isinstance(c, FieldCondition):
        fact = f"have their {c.field} field {c.op.replace('_', ' ')}" + (
            f" {c.value}" if c.value is not None else "")
    elif isinstance(c, TagCondition):
        fact = f"are tagged '{c.tag}'"
    else:
        assert isinstance(c, SegmentCondition)
        fact = "are in the branch's segment"
    return f"they {fact}" if held else f"they did not: {fact}"


def journey_emails(graph: JourneyGraph) -> tuple[JourneyEmail, ...]:
    """Every numbered email step of `graph`, by content number, with where it sits."""
    found: dict[str, JourneyEmail] = {}
    queue: deque[tuple[str, int, tuple[str, ...]]] = deque([(graph.start, 0, ())])
    seen: set[str] = set()
    while queue:
        step_id, emails, path = queue.popleft()
        if step_id in seen:
            continue
        seen.add(step_id)
        step = graph.step(step_id)
        if isinstance(step, EmailStep):
            if step.sequence is not None:
                found[step.id] = JourneyEmail(step.sequence, step.id, step.goal,
                                              step.subject_hint, emails, path)
            queue.append((step.next, emails + 1, path))
        elif isinstance(step, WaitStep):
            queue.append((step.next, emails, (*path, _wait(step))))
        elif isinstance(step, BranchStep):
            queue.append((step.then, emails, (*path, _condition(step, graph, True))))
            queue.append((step.otherwise, emails, (*path, _condition(step, graph, False))))
        else:
            for _, target in step.links():
                queue.append((target, emails, path))
    return tuple(sorted(found.values(), key=lambda e: e.sequence))
