"""A journey's versions and its email steps' content numbers, as campaign-api saves them. Pure.

Each email step's `sequence` is the number its content is written, sent and reported under
(`contracts.journeys.EmailStep.sequence`). On a journey's first save its email steps are
numbered 1..n in the order of `steps`. On a new version an email step whose id, goal and
subject hint are those of an email step of the version before keeps that step's number (its
content stays right for it); any other email step gets a new number, above every number the
journey ever gave: a number is never reused, since content already written under it belongs
to the step it was first given to.

Every edit of a saved journey's graph is a new version (`version` + 1, the old ones kept);
saving the same graph again (what the caller sent for `version` and `sequence` aside, which
campaign-api assigns) is no edit.
"""

from __future__ import annotations

from contracts.journeys import EmailStep, JourneyGraph

StepKey = tuple[str, str, str | None]


def _key(step: EmailStep) -> StepKey:
    return (step.id, step.goal, step.subject_hint)


def highest_sequence(graph: JourneyGraph) -> int:
    """The highest content number of the graph's email steps (0 for none)."""
    return max((s.sequence or 0 for s in graph.steps if isinstance(s, EmailStep)), default=0)


def unnumbered(graph: JourneyGraph) -> JourneyGraph:
    """The graph without what campaign-api assigns (version, sequences): what an edit is
    compared by."""
    steps = [s.model_copy(update={"sequence": None}) if isinstance(s, EmailStep) else s
             for s in graph.steps]
    return graph.model_copy(update={"version": 1, "steps": steps})


def is_edit(saved: JourneyGraph, given: JourneyGraph) -> bool:
    """Whether `given` changes the saved graph (its version and numbers aside)."""
    return unnumbered(saved) != unnumbered(given)


def numbered(given: JourneyGraph, previous: JourneyGraph | None = None, *,
             highest: int = 0) -> JourneyGraph:
    """`given` as saved: version 1 with its email steps numbered 1..n when there is no
    `previous` version; else version `previous.version + 1`, an unchanged email step keeping
    its number and every other one numbered on from `highest`, the highest number any version
    of the journey gave (never below the previous version's own)."""
    kept: dict[StepKey, int] = {}
    if previous is not None:
        kept = {_key(s): s.sequence for s in previous.steps
                if isinstance(s, EmailStep) and s.sequence is not None}
        highest = max(highest, highest_sequence(previous))
    else:
        highest = 0
    steps = []
    for step in given.steps:
        if isinstance(step, EmailStep):
            number = kept.pop(_key(step), None)
            if number is None:
                highest += 1
                number = highest
            step = step.model_copy(update={"sequence": number})
        steps.append(step)
    version = 1 if previous is None else previous.version + 1
    return given.model_copy(update={"version": version, "steps": steps})
