"""A journey's graph laid out for the dashboard as a vertical flow: steps one under another, a
branch's two ways side by side as columns until they meet again. Pure, and tolerant of a graph
that does not validate (the builder draws what was typed, with each error beside its step): a
step led to twice or round a loop is drawn once and referred to after, a missing one is named,
and steps the start does not reach are listed after the flow."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

_WEEKDAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")


@dataclass
class StepBox:
    step_id: str
    type: str
    title: str
    detail: str = ""
    sequence: int | None = None
    errors: list[str] = field(default_factory=list)
    block: str = "step"


@dataclass
class Split:
    """A branch's ways: `then` on the left, `otherwise` on the right."""

    then: list[Block]
    otherwise: list[Block]
    block: str = "split"


@dataclass
class Jump:
    """A way that goes on to a step drawn elsewhere (or to none: `missing`)."""

    step_id: str
    missing: bool = False
    block: str = "jump"


Block = StepBox | Split | Jump


@dataclass
class Flow:
    blocks: list[Block]
    unreached: list[StepBox]
    # Errors that name no step (the journey's own fields), as "field: message".
    errors: list[str] = field(default_factory=list)


def duration(seconds: int) -> str:
    """"2 minutes", "1 hour 30 minutes", "3 days": the largest units, at most two."""
    parts: list[str] = []
    for unit, size in (("day", 86_400), ("hour", 3_600), ("minute", 60), ("second", 1)):
        n, seconds = divmod(seconds, size)
        if n:
            parts.append(f"{n} {unit}{'' if n == 1 else 's'}")
    return " ".join(parts[:2]) or "0 seconds"


def _within(condition: Mapping[str, Any]) -> str:
    seconds = condition.get("within_seconds") or 0
    return f" within {duration(int(seconds))}" if isinstance(seconds, int) and seconds else ""


def _wait(until: Any) -> str:
    if not isinstance(until, Mapping):
        return ""
    kind = until.get("kind")
    if kind == "duration" and isinstance(until.get("seconds"), int):
        return f"for {duration(until['seconds'])}"
    if kind == "weekday":
        days = [_WEEKDAYS[d - 1] for d in until.get("weekdays") or []
                if isinstance(d, int) and 1 <= d <= 7]
        return f"until {', '.join(days)} at {until.get('at', '')}"
    if kind == "date_field":
        offset = until.get("offset_days") or 0
        shift = f" {offset:+d} days" if isinstance(offset, int) and offset else ""
        yearly = ", yearly" if until.get("yearly") else ""
        return f"until {until.get('field', '')}{shift} at {until.get('at', '')}{yearly}"
    return str(kind or "")


def _condition(condition: Any) -> str:
    if not isinstance(condition, Mapping):
        return ""
    kind = condition.get("kind")
    if kind in ("opened", "clicked"):
        return f"{kind.capitalize()} {condition.get('step', '')}{_within(condition)}?"
    if kind == "clicked_link":
        return (f"Clicked {condition.get('url', '')} in {condition.get('step', '')}"
                f"{_within(condition)}?")
    if kind == "event":
        return f"Did {condition.get('name', '')}{_within(condition)}?"
    if kind == "field":
        value = condition.get("value")
        return f"{condition.get('field', '')} {condition.get('op', '')}" + (
            f" {value}" if value is not None else "") + "?"
    if kind == "tag":
        return f"Tagged {condition.get('tag', '')}?"
    if kind == "segment":
        return f"In segment {condition.get('segment_id', '')}?"
    return f"{kind}?"


def _action(step: Mapping[str, Any]) -> str:
    names = {"add_tag": "Add tag", "remove_tag": "Remove tag", "add_to_list": "Add to list",
             "remove_from_list": "Remove from list"}
    what = step.get("tag") or step.get("list_id") or ""
    return f"{names.get(str(step.get('action')), str(step.get('action')))} {what}".strip()


def box(step: Mapping[str, Any]) -> StepBox:
    kind = str(step.get("type", ""))
    step_id = str(step.get("id", ""))
    if kind == "email":
        sequence = step.get("sequence")
        hint = step.get("subject_hint")
        return StepBox(step_id, kind, str(step.get("goal", "")),
                       f"Subject idea: {hint}" if hint else "",
                       sequence if isinstance(sequence, int) else None)
    if kind == "wait":
        return StepBox(step_id, kind, "Wait " + _wait(step.get("until")))
    if kind == "branch":
        return StepBox(step_id, kind, _condition(step.get("condition")))
    if kind == "action":
        return StepBox(step_id, kind, _action(step))
    if kind == "exit":
        return StepBox(step_id, kind, "Exit")
    return StepBox(step_id, kind or "unknown", f"A step of unknown type {kind!r}")


def _steps(graph: Mapping[str, Any]) -> dict[str, Mapping[str, Any]]:
    steps = graph.get("steps")
    if not isinstance(steps, list):
        return {}
    found: dict[str, Mapping[str, Any]] = {}
    for step in steps:
        if isinstance(step, Mapping) and isinstance(step.get("id"), str):
            found.setdefault(step["id"], step)
    return found


def _leads(step: Mapping[str, Any]) -> list[str]:
    if step.get("type") == "branch":
        return [s for s in (step.get("then"), step.get("else")) if isinstance(s, str)]
    nxt = step.get("next")
    return [nxt] if isinstance(nxt, str) and step.get("type") != "exit" else []


def _reach(steps: Mapping[str, Mapping[str, Any]], start: Any) -> set[str]:
    seen: set[str] = set()
    todo = [start] if isinstance(start, str) else []
    while todo:
        at = todo.pop()
        if at in seen or at not in steps:
            continue
        seen.add(at)
        todo.extend(_leads(steps[at]))
    return seen


def _join(steps: Mapping[str, Mapping[str, Any]], order: Sequence[str], a: Any,
          b: Any) -> str | None:
    """Where a branch's two ways meet: the first step both reach that no other such step
    leads to."""
    common = _reach(steps, a) & _reach(steps, b)
    firsts = [c for c in common
              if not any(c in _reach(steps, d) for d in common if d != c)]
    return min(firsts, key=order.index) if firsts else None


def layout(graph: Mapping[str, Any], errors: Mapping[str, list[str]] | None = None) -> Flow:
    """The flow of `graph` from its start, `errors` (by step id) on their steps."""
    steps = _steps(graph)
    order = list(steps)
    seen: set[str] = set()
    boxes: dict[str, StepBox] = {}

    def walk(at: Any, stops: frozenset[str]) -> list[Block]:
        blocks: list[Block] = []
        while isinstance(at, str) and at not in stops:
            if at in seen:
                blocks.append(Jump(at))
                break
            step = steps.get(at)
            if step is None:
                blocks.append(Jump(at, missing=True))
                break
            seen.add(at)
            boxes[at] = box(step)
            blocks.append(boxes[at])
            if step.get("type") == "branch":
                then, otherwise = step.get("then"), step.get("else")
                join = _join(steps, order, then, otherwise)
                inner = stops | {join} if join else stops
                blocks.append(Split(walk(then, inner), walk(otherwise, inner)))
                at = join
            elif step.get("type") == "exit":
                break
            else:
                at = step.get("next")
        return blocks

    flow = Flow(walk(graph.get("start"), frozenset()), [])
    for step_id, step in steps.items():
        if step_id not in seen:
            boxes[step_id] = box(step)
            flow.unreached.append(boxes[step_id])
    for step_id, found in (errors or {}).items():
        if step_id in boxes:
            boxes[step_id].errors.extend(found)
        else:
            flow.errors.extend(found)
    return flow


def errors_by_step(graph: Mapping[str, Any], errors: Sequence[tuple[str, str]]
                   ) -> dict[str, list[str]]:
    """API errors (`journey.steps.3.goal`, message) under the id of the step they name, by
    its place in the graph as typed; any other under its field's name."""
    typed = graph.get("steps")
    steps: list[Any] = typed if isinstance(typed, list) else []
    found: dict[str, list[str]] = {}
    for where, message in errors:
        parts = where.split(".")
        key = where
        if len(parts) >= 3 and parts[:2] == ["journey", "steps"] and parts[2].isdigit():
            index = int(parts[2])
            step = steps[index] if index < len(steps) else None
            if isinstance(step, Mapping) and isinstance(step.get("id"), str):
                key = step["id"]
                rest = ".".join(parts[3:])
                message = f"{rest}: {message}" if rest else message
        found.setdefault(key, []).append(message if key != where else f"{where}: {message}")
    return found


# --- the live view and funnel ---------------------------------------------------------------

_EXIT_WORDS = {"end": "at the end", "unsubscribed": "unsubscribed", "suppressed": "suppressed",
               "cancelled": "cancelled", "removed": "removed", "error": "failed"}


@dataclass(frozen=True)
class StepNumbers:
    waiting: int = 0
    # Reached (email and action steps; the scheduler logs no other kind's passing).
    entered: int | None = None
    sent: int = 0
    opened: int = 0
    clicked: int = 0
    goal: int = 0
    other_exits: str = ""


def step_numbers(graph: Mapping[str, Any], progress: Sequence[Mapping[str, Any]],
                 engagement: Mapping[int, tuple[int, int, int]]) -> dict[str, StepNumbers]:
    """Each step's counts: waiting now, entered and exits from the scheduler's summary
    (`journey.progress` steps), sent and people's opens and clicks of an email step from
    `engagement` by its content number (sent, unique human opens, unique human clicks)."""
    by_step = {str(p.get("step_id")): p for p in progress}
    found: dict[str, StepNumbers] = {}
    for step_id, step in _steps(graph).items():
        p = by_step.get(step_id, {})
        exited: Mapping[str, int] = p.get("exited") or {}
        sequence = step.get("sequence")
        sent, opened, clicked = engagement.get(sequence, (0, 0, 0)) \
            if isinstance(sequence, int) else (0, 0, 0)
        others = ", ".join(f"{n:,} {_EXIT_WORDS.get(why, why)}" for why, n in exited.items()
                           if why != "goal" and n)
        found[step_id] = StepNumbers(
            waiting=int(p.get("waiting", 0)),
            entered=int(p.get("entered", 0)) if step.get("type") in ("email", "action") else None,
            sent=sent, opened=opened, clicked=clicked, goal=int(exited.get("goal", 0)),
            other_exits=others)
    return found
