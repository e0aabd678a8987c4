"""The journey graph checks over random graphs, against a brute-force reading of the same rules:
every path from the start enumerated (the graphs are small), so reachability and "every path to
the branch passes the email" are checked without the checks' own algorithms."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

from hypothesis import given
from hypothesis import strategies as st

from rules.journeys import check_graph, graph_problems


@dataclass(frozen=True)
class Shape:
    id: str
    type: str
    to: tuple[str, ...]
    names: tuple[str, ...] = ()

    def links(self) -> tuple[tuple[str, str], ...]:
        fields = ("next",) if len(self.to) == 1 else ("then", "else")
        return tuple(zip(fields, self.to, strict=False))

    def email_steps_named(self) -> tuple[tuple[str, str], ...]:
        return tuple(("condition.step", n) for n in self.names)


@st.composite
def dags(draw: st.DrawFn) -> list[Shape]:
    """Steps s0..s(n-1) in an order every link goes forward in; the last one an exit, the
    others emails (one link) or branches (two), so every path ends at the exit."""
    n = draw(st.integers(2, 8))
    steps = []
    for i in range(n - 1):
        later = st.integers(i + 1, n - 1)
        if draw(st.booleans()):
            steps.append(Shape(f"s{i}", "branch", (f"s{draw(later)}", f"s{draw(later)}")))
        else:
            steps.append(Shape(f"s{i}", "email", (f"s{draw(later)}",)))
    steps.append(Shape(f"s{n - 1}", "exit", ()))
    return steps


def paths(steps: list[Shape], node: str, goal: str) -> Iterator[tuple[str, ...]]:
    """Every path from `node` to `goal`, both included."""
    if node == goal:
        yield (node,)
        return
    for target in next(s for s in steps if s.id == node).to:
        for rest in paths(steps, target, goal):
            yield (node, *rest)


def chained(steps: list[Shape]) -> list[Shape]:
    """The same steps, each one's first link to the next one: all reachable from s0."""
    return [Shape(s.id, s.type, (f"s{i + 1}", *s.to[1:]) if s.to else ()) for i, s in
            enumerate(steps)]


def reachable(steps: list[Shape], node: str) -> bool:
    return any(True for _ in paths(steps, "s0", node))


@given(dags())
def test_a_graph_without_loops_is_refused_only_for_its_unreachable_steps(
    steps: list[Shape],
) -> None:
    unreachable = [i for i, s in enumerate(steps) if not reachable(steps, s.id)]
    problems = graph_problems("s0", steps)
    assert [p.index for p in problems] == unreachable
    assert all("unreachable" in p.message for p in problems)
    if not unreachable:
        check_graph("s0", steps)


@given(dags(), st.data())
def test_a_link_back_to_a_step_before_is_refused_as_a_loop(
    steps: list[Shape], data: st.DataObject
) -> None:
    steps = chained(steps)
    last = len(steps) - 2  # the last step that leads on
    source = data.draw(st.integers(0, last))
    target = data.draw(st.integers(0, source))
    shape = steps[source]
    steps[source] = Shape(shape.id, shape.type, (f"s{target}", *shape.to[1:]))
    problems = graph_problems("s0", steps)
    assert problems
    assert all("a loop" in p.message for p in problems)
    assert any(p.index == source for p in problems)


@given(dags(), st.data())
def test_a_branch_may_name_only_an_email_every_path_to_it_passes(
    steps: list[Shape], data: st.DataObject
) -> None:
    steps = chained(steps)
    branches = [i for i, s in enumerate(steps) if s.type == "branch"]
    emails = [i for i, s in enumerate(steps) if s.type == "email"]
    if not branches or not emails:
        return
    b, e = data.draw(st.sampled_from(branches)), data.draw(st.sampled_from(emails))
    branch = steps[b]
    steps[b] = Shape(branch.id, branch.type, branch.to, (f"s{e}",))
    problems = graph_problems("s0", steps)
    passes = all(f"s{e}" in path for path in paths(steps, "s0", f"s{b}"))
    if passes:
        assert problems == []
    else:
        [problem] = problems
        assert (problem.index, problem.step) == (b, f"s{b}")
        assert problem.message.startswith(f'condition.step: "s{e}" is not on every path')
