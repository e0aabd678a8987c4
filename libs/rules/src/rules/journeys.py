"""What a valid journey graph is: its bounds and the checks over the whole graph. Pure.

The models are `contracts.journeys` (a journey travels inside the campaign definition); they
check their own fields and call `check_graph` over their steps, which see here only through
`StepShape`: an id, a type, the steps it leads to and the email steps its condition names.
So the rule is written once and campaign-api, the scheduler and the dashboard apply the same.

A journey is a directed graph without loops: from its `start` every step leads on (`next`,
or a branch's `then` and `else`) until an `exit`, the only step that leads nowhere. Loops are
refused rather than allowed through a wait: a journey always ends, an enrollment's history is
a path, and a contact who should go round again enters again by the re-entry policy. Then:

- step ids are unique; `start` and every step led to exist;
- no step leads back to one before it (a loop), and every step is reachable from `start`;
- every step but an exit leads on, so with the above every path ends at an exit;
- a branch's condition names an email step (opened, clicked, a link of it) that every path
  from `start` to the branch passes: the contact has always been sent it by then;
- at most `MAX_STEPS` steps; waits between `MIN_WAIT` and `MAX_WAIT` (the models' bounds).

Every problem names its step: `journey.steps[3] (id "wait-2"): next: no step "wait-3"`, and
`InvalidJourney.problems` lists them all as `StepProblem`s for an API's 422.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import timedelta
from typing import Protocol

MAX_STEPS = 100
MIN_WAIT = timedelta(minutes=1)
MAX_WAIT = timedelta(days=365)
# How long a branch may hold for its condition ("clicked within 3 days").
MAX_WITHIN = timedelta(days=365)
# How far before or after a date field a wait or a date trigger may be.
MAX_OFFSET_DAYS = 365
# Short slugs: "welcome", "wait-2", "clicked-offer".
STEP_ID_PATTERN = r"^[a-z0-9](?:[a-z0-9-]{0,38}[a-z0-9])?$"
EXIT = "exit"
EMAIL = "email"


class StepShape(Protocol):
    """What the graph checks read of a step; the steps of `contracts.journeys` are ones."""

    @property
    def id(self) -> str: ...
    @property
    def type(self) -> str: ...
    def links(self) -> tuple[tuple[str, str], ...]:
        """(field, step id) of every step this one leads to: ("next", "wait-1")."""
        ...
    def email_steps_named(self) -> tuple[tuple[str, str], ...]:
        """(field, step id) of every email step its condition names."""
        ...


@dataclass(frozen=True)
class StepProblem:
    """One problem of a journey: at step `index` (id `step`), or of the journey (None)."""

    index: int | None
    step: str | None
    message: str
    where: str = "steps"  # "steps", or the journey's own field ("start")

    @property
    def path(self) -> str:
        if self.index is None:
            return f"journey.{self.where}"
        return f'journey.steps[{self.index}] (id "{self.step}")'

    def __str__(self) -> str:
        return f"{self.path}: {self.message}"


class InvalidJourney(ValueError):  # noqa: N818 - reads as what it is
    """Every problem of a journey graph, each naming its step."""

    def __init__(self, problems: list[StepProblem]) -> None:
        super().__init__("; ".join(str(p) for p in problems))
        self.problems = problems


def check_graph(start: str, steps: Sequence[StepShape]) -> None:
    """InvalidJourney naming every step at fault, unless the graph is valid."""
    problems = graph_problems(start, steps)
    if problems:
        raise InvalidJourney(problems)


def graph_problems(start: str, steps: Sequence[StepShape]) -> list[StepProblem]:
    """Every problem of the graph (see the module's rules), in step order."""
    if len(steps) > MAX_STEPS:
        return [StepProblem(None, None, f"at most {MAX_STEPS} steps, not {len(steps)}")]
    index: dict[str, int] = {}
    problems: list[StepProblem] = []
    for i, step in enumerate(steps):
        if step.id in index:
            problems.append(StepProblem(i, step.id, f'id: "{step.id}" is already the id of '
                                        f"journey.steps[{index[step.id]}]"))
        else:
            index[step.id] = i
    if start not in index:
        problems.append(StepProblem(None, None, f'no step "{start}"', where="start"))
    for i, step in enumerate(steps):
        for name, target in step.links():
            if target not in index:
                problems.append(StepProblem(i, step.id, f'{name}: no step "{target}"'))
        if step.type != EXIT and not step.links():
            problems.append(StepProblem(i, step.id, "leads nowhere: every path must end at "
                                        "an exit step"))
    if problems:
        return sorted(problems, key=_order)
    problems.extend(_loops(start, steps, index))
    if not problems:
        problems.extend(_unreachable(start, steps, index))
    if not problems:
        problems.extend(_named_emails(start, steps, index))
    return sorted(problems, key=_order)


def _order(problem: StepProblem) -> int:
    return -1 if problem.index is None else problem.index


def _loops(start: str, steps: Sequence[StepShape], index: dict[str, int]) -> list[StepProblem]:
    """A step leading back to one on the path that reached it (depth first from `start`)."""
    problems: list[StepProblem] = []
    done: set[str] = set()
    on_path: set[str] = set()
    # Iterative: a hundred steps deep is fine for recursion, but the bound may grow.
    stack: list[tuple[str, int]] = [(start, 0)]
    on_path.add(start)
    while stack:
        node, position = stack.pop()
        links = steps[index[node]].links()
        if position < len(links):
            stack.append((node, position + 1))
            name, target = links[position]
            if target in on_path:
                problems.append(StepProblem(
                    index[node], node, f'{name}: leads back to "{target}", a loop; a journey '
                    "may not loop (a contact goes round again by entering again)"))
            elif target not in done:
                on_path.add(target)
                stack.append((target, 0))
        else:
            on_path.discard(node)
            done.add(node)
    return problems


def _reachable(start: str, steps: Sequence[StepShape], index: dict[str, int]) -> set[str]:
    seen = {start}
    todo = [start]
    while todo:
        for _, target in steps[index[todo.pop()]].links():
            if target not in seen:
                seen.add(target)
                todo.append(target)
    return seen


def _unreachable(start: str, steps: Sequence[StepShape],
                 index: dict[str, int]) -> list[StepProblem]:
    seen = _reachable(start, steps, index)
    return [StepProblem(i, s.id, "unreachable: no path from the start leads to it")
            for i, s in enumerate(steps) if s.id not in seen]


def _dominators(start: str, steps: Sequence[StepShape],
                index: dict[str, int]) -> dict[str, frozenset[str]]:
    """For each step, the steps every path from `start` to it passes (itself included).

    The graph has no loops here, so one pass in topological order settles every step."""
    preds: dict[str, list[str]] = {s.id: [] for s in steps}
    indegree = dict.fromkeys(preds, 0)
    for s in steps:
        for _, target in s.links():
            preds[target].append(s.id)
            indegree[target] += 1
    order, ready = [], [start]
    while ready:
        node = ready.pop()
        order.append(node)
        for _, target in steps[index[node]].links():
            indegree[target] -= 1
            if indegree[target] == 0:
                ready.append(target)
    dom: dict[str, frozenset[str]] = {}
    for node in order:
        before = [dom[p] for p in preds[node] if p in dom]
        common = frozenset.intersection(*before) if before else frozenset()
        dom[node] = common | {node}
    return dom


def _named_emails(start: str, steps: Sequence[StepShape],
                  index: dict[str, int]) -> list[StepProblem]:
    dom = _dominators(start, steps, index)
    problems: list[StepProblem] = []
    for i, step in enumerate(steps):
        for name, target in step.email_steps_named():
            if target not in index:
                problems.append(StepProblem(i, step.id, f'{name}: no step "{target}"'))
            elif steps[index[target]].type != EMAIL:
                problems.append(StepProblem(i, step.id, f'{name}: "{target}" is not an email '
                                            "step"))
            elif target == step.id or target not in dom.get(step.id, frozenset()):
                problems.append(StepProblem(i, step.id, f'{name}: "{target}" is not on every '
                                            "path from the start to this step, so the contact "
                                            "may not have been sent it"))
    return problems
