"""A journey's email steps are numbered on save: 1..n at first, an unchanged step keeping its
number on a new version and any other one numbered above every number ever given."""

from __future__ import annotations

from typing import Any

from campaign_api.journey_versions import highest_sequence, is_edit, numbered
from contracts.journeys import EmailStep, JourneyGraph


def graph(*emails: tuple[str, str, str | None], version: int = 1) -> JourneyGraph:
    """A straight journey of the given email steps (id, goal, subject hint), then an exit."""
    steps: list[dict[str, Any]] = []
    for i, (step_id, goal, hint) in enumerate(emails):
        after = emails[i + 1][0] if i + 1 < len(emails) else "done"
        steps.append({"type": "email", "id": step_id, "goal": goal, "subject_hint": hint,
                      "next": after})
    steps.append({"type": "exit", "id": "done"})
    return JourneyGraph.model_validate({
        "version": version, "trigger": {"type": "event_received", "name": "signed_up"},
        "start": emails[0][0], "steps": steps})


def numbers(g: JourneyGraph) -> dict[str, int | None]:
    return {s.id: s.sequence for s in g.steps if isinstance(s, EmailStep)}


def test_a_first_save_numbers_the_email_steps_in_order_as_version_1() -> None:
    saved = numbered(graph(("a", "hello", None), ("b", "nudge", "Still there?"), version=7))
    assert saved.version == 1
    assert numbers(saved) == {"a": 1, "b": 2}


def test_an_unchanged_step_keeps_its_number_and_a_changed_one_gets_a_new_one() -> None:
    v1 = numbered(graph(("a", "hello", None), ("b", "nudge", None)))
    v2 = numbered(graph(("a", "hello", None), ("b", "nudge harder", None)), v1, highest=2)
    assert v2.version == 2
    assert numbers(v2) == {"a": 1, "b": 3}


def test_a_new_subject_hint_or_a_new_id_is_a_new_step() -> None:
    v1 = numbered(graph(("a", "hello", None), ("b", "nudge", None)))
    v2 = numbered(graph(("a", "hello", "Hi"), ("c", "nudge", None)), v1, highest=2)
    assert numbers(v2) == {"a": 3, "c": 4}


def test_a_number_once_given_is_never_given_again() -> None:
    v1 = numbered(graph(("a", "hello", None), ("b", "nudge", None)))
    v2 = numbered(graph(("a", "hello", None)), v1, highest=2)
    assert numbers(v2) == {"a": 1}
    v3 = numbered(graph(("a", "hello", None), ("c", "offer", None)), v2,
                  highest=max(highest_sequence(v1), highest_sequence(v2)))
    assert numbers(v3) == {"a": 1, "c": 3}


def test_moving_an_unchanged_step_keeps_its_number() -> None:
    v1 = numbered(graph(("a", "hello", None), ("b", "nudge", None)))
    v2 = numbered(graph(("b", "nudge", None), ("a", "hello", None)), v1, highest=2)
    assert numbers(v2) == {"b": 2, "a": 1}


def test_the_same_graph_sent_back_with_its_numbers_or_without_is_no_edit() -> None:
    v1 = numbered(graph(("a", "hello", None)))
    assert not is_edit(v1, graph(("a", "hello", None), version=5))
    assert not is_edit(v1, v1)
    assert is_edit(v1, graph(("a", "hello again", None)))
