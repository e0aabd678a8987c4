"""Journey graphs: a valid one survives the wire inside its campaign, and each kind of malformed
journey is refused with the step at fault named."""

from __future__ import annotations

import copy
import json
import uuid
from datetime import timedelta
from typing import Any

import pydantic
import pytest

from contracts.campaigns import CampaignDefinition
from contracts.journeys import BranchStep, EngagedCondition, JourneyGraph
from rules.journey_steps import Engaged
from rules.journeys import MAX_STEPS, InvalidJourney

SCHEDULE = {"schedule_type": "daily", "start_at": "2026-03-02T09:00:00+00:00",
            "total_emails": 1, "timezone": "Europe/Berlin",
            "send_window": {"start": "08:00", "end": "20:00"}}
CAMPAIGN = {"campaign_id": str(uuid.UUID(int=1)), "audience_id": str(uuid.UUID(int=2)),
            "name": "Welcome", "description": "Welcome series", "model": "m",
            "schedule": SCHEDULE}


def welcome() -> dict[str, Any]:
    """The issue's welcome journey: email 1, wait 2 minutes, clicked email 1? 2a : 2b, exit."""
    return {
        "version": 3,
        "trigger": {"type": "event_received", "name": "signed_up"},
        "start": "email-1",
        "steps": [
            {"type": "email", "id": "email-1", "goal": "Say hello", "next": "wait-1"},
            {"type": "wait", "id": "wait-1", "until": {"kind": "duration", "seconds": 120},
             "next": "clicked-1"},
            {"type": "branch", "id": "clicked-1",
             "condition": {"kind": "clicked", "step": "email-1", "within_seconds": 0},
             "then": "email-2a", "else": "email-2b"},
            {"type": "email", "id": "email-2a", "goal": "Thank the clicker", "next": "tag"},
            {"type": "email", "id": "email-2b", "goal": "Nudge", "subject_hint": "Still there?",
             "next": "done"},
            {"type": "action", "id": "tag", "action": "add_tag", "tag": "Engaged",
             "next": "done"},
            {"type": "exit", "id": "done"},
        ],
        "exit_on": [{"kind": "event", "name": "order.paid"},
                    {"kind": "link_clicked", "url": "https://shop.example/buy"}],
        "reentry": {"policy": "after_exit", "min_gap_seconds": 86_400},
    }


def problems_of(graph: dict[str, Any]) -> list[str]:
    """The refusal's messages: the graph's problems where the graph check refused it."""
    with pytest.raises(pydantic.ValidationError) as caught:
        JourneyGraph.model_validate(graph)
    error = caught.value.errors()[0]
    found = error.get("ctx", {}).get("error")
    if isinstance(found, InvalidJourney):
        return [str(p) for p in found.problems]
    return [f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in caught.value.errors()]


def steps_of(graph: dict[str, Any]) -> list[dict[str, Any]]:
    steps: list[dict[str, Any]] = graph["steps"]
    return steps


def test_a_welcome_journey_survives_the_wire_inside_its_campaign() -> None:
    definition = CampaignDefinition.model_validate({**CAMPAIGN, "kind": "journey",
                                                    "journey": welcome()})
    again = CampaignDefinition.model_validate_json(definition.model_dump_json())
    assert again == definition
    assert definition.journey is not None
    branch = definition.journey.step("clicked-1")
    assert isinstance(branch, BranchStep)
    assert branch.otherwise == "email-2b"
    assert json.loads(branch.model_dump_json())["else"] == "email-2b"
    assert isinstance(branch.condition, EngagedCondition)
    assert branch.condition.rule() == Engaged("clicked", "email-1", timedelta(0))


def test_a_campaign_from_before_journeys_parses_as_a_campaign() -> None:
    definition = CampaignDefinition.model_validate(CAMPAIGN)
    assert definition.kind == "campaign"
    assert definition.journey is None


def test_a_journey_needs_a_graph_and_a_campaign_has_none() -> None:
    with pytest.raises(pydantic.ValidationError, match="a journey needs its graph"):
        CampaignDefinition.model_validate({**CAMPAIGN, "kind": "journey"})
    with pytest.raises(pydantic.ValidationError, match='only for kind "journey"'):
        CampaignDefinition.model_validate({**CAMPAIGN, "journey": welcome()})


def test_a_step_leading_to_an_unknown_step_is_named() -> None:
    graph = welcome()
    steps_of(graph)[1]["next"] = "wait-3"
    assert problems_of(graph) == ['journey.steps[1] (id "wait-1"): next: no step "wait-3"']


def test_an_unknown_start_is_named() -> None:
    graph = {**welcome(), "start": "hello"}
    assert problems_of(graph) == ['journey.start: no step "hello"']


def test_a_repeated_step_id_is_named_at_its_second_use() -> None:
    graph = welcome()
    steps_of(graph)[4]["id"] = "email-2a"
    assert ('journey.steps[4] (id "email-2a"): id: "email-2a" is already the id of '
            "journey.steps[3]") in problems_of(graph)


def test_a_loop_is_refused_at_the_step_that_closes_it() -> None:
    graph = welcome()
    steps_of(graph)[5]["next"] = "wait-1"
    [problem] = problems_of(graph)
    assert problem.startswith('journey.steps[5] (id "tag"): next: leads back to "wait-1", a loop')


def test_a_step_leading_to_itself_is_a_loop() -> None:
    graph = welcome()
    steps_of(graph)[1]["next"] = "wait-1"
    [problem] = problems_of(graph)
    assert problem.startswith('journey.steps[1] (id "wait-1"): next: leads back to "wait-1"')


def test_an_unreachable_step_is_named() -> None:
    graph = welcome()
    steps_of(graph).append({"type": "email", "id": "orphan", "goal": "Lost", "next": "done"})
    assert problems_of(graph) == [
        'journey.steps[7] (id "orphan"): unreachable: no path from the start leads to it']


def test_a_branch_on_an_email_not_on_every_path_to_it_is_named() -> None:
    graph = welcome()
    steps = steps_of(graph)
    steps[5]["next"] = "again"
    steps.insert(6, {"type": "branch", "id": "again",
                     "condition": {"kind": "opened", "step": "email-2a"},
                     "then": "done", "else": "done"})
    # email-2b also leads to it, skipping email-2a.
    steps[4]["next"] = "again"
    [problem] = problems_of(graph)
    assert problem.startswith('journey.steps[6] (id "again"): condition.step: "email-2a" is '
                              "not on every path")


def test_a_branch_on_a_later_email_is_named() -> None:
    graph = welcome()
    condition = steps_of(graph)[2]["condition"]
    condition["step"] = "email-2a"
    [problem] = problems_of(graph)
    assert problem.startswith('journey.steps[2] (id "clicked-1"): condition.step: "email-2a"')


def test_a_branch_on_a_link_of_a_step_that_is_no_email_is_named() -> None:
    graph = welcome()
    steps_of(graph)[2]["condition"] = {"kind": "clicked_link", "step": "wait-1",
                                       "url": "https://shop.example/a"}
    assert problems_of(graph) == [
        'journey.steps[2] (id "clicked-1"): condition.step: "wait-1" is not an email step']


def test_a_branch_on_an_unknown_email_is_named() -> None:
    graph = welcome()
    steps_of(graph)[2]["condition"]["step"] = "email-9"
    assert problems_of(graph) == [
        'journey.steps[2] (id "clicked-1"): condition.step: no step "email-9"']


def test_every_problem_is_named_at_once() -> None:
    graph = welcome()
    steps_of(graph)[0]["next"] = "nowhere"
    steps_of(graph)[3]["next"] = "elsewhere"
    assert problems_of(graph) == [
        'journey.steps[0] (id "email-1"): next: no step "nowhere"',
        'journey.steps[3] (id "email-2a"): next: no step "elsewhere"']


@pytest.mark.parametrize(("seconds", "bound"), [(59, "greater than or equal to 60"),
                                                 (365 * 86_400 + 1, "less than or equal")])
def test_a_wait_out_of_bounds_is_refused_at_its_step(seconds: int, bound: str) -> None:
    graph = welcome()
    steps_of(graph)[1]["until"]["seconds"] = seconds
    [problem] = problems_of(graph)
    assert problem.startswith("steps.1.wait.until.duration.seconds")
    assert bound in problem


def test_too_many_steps_are_refused() -> None:
    graph = welcome()
    steps = steps_of(graph)
    filler = [{"type": "wait", "id": f"w-{i}", "until": {"kind": "duration", "seconds": 60},
               "next": f"w-{i + 1}"} for i in range(MAX_STEPS)]
    steps[1:1] = filler
    assert any("at most 100 items" in p for p in problems_of(graph))


@pytest.mark.parametrize("step_id", ["Wait", "wait_1", "-wait", "wait-", "", "w" * 41])
def test_a_step_id_is_a_short_slug(step_id: str) -> None:
    graph = welcome()
    steps_of(graph)[6]["id"] = step_id
    assert any(p.startswith("steps.6.exit.id") for p in problems_of(graph))


def test_an_action_names_what_it_acts_on() -> None:
    graph = welcome()
    steps_of(graph)[5] = {"type": "action", "id": "tag", "action": "add_to_list",
                          "tag": "x", "next": "done"}
    [problem] = problems_of(graph)
    assert problem.startswith("steps.5.action")
    assert "list_id: add_to_list takes a list_id and no tag" in problem


def test_a_field_condition_takes_a_value_unless_it_asks_whether_set() -> None:
    graph = welcome()
    steps_of(graph)[2]["condition"] = {"kind": "field", "field": "plan", "op": "equals"}
    [problem] = problems_of(graph)
    assert "value: needed for every op but is_set" in problem
    steps_of(graph)[2]["condition"] = {"kind": "field", "field": "plan", "op": "is_set"}
    JourneyGraph.model_validate(graph)


def test_a_weekday_wait_names_each_weekday_once() -> None:
    graph = welcome()
    steps_of(graph)[1]["until"] = {"kind": "weekday", "weekdays": [1, 1], "at": "09:00"}
    [problem] = problems_of(graph)
    assert "weekdays: weekdays must not repeat" in problem


def test_every_kind_of_trigger_wait_and_condition_parses() -> None:
    triggers: list[dict[str, Any]] = [
        {"type": "list_joined", "list_id": str(uuid.UUID(int=5))},
        {"type": "segment_entered", "segment_id": str(uuid.UUID(int=6))},
        {"type": "signup_confirmed"},
        {"type": "date_field", "field": "birthday", "offset_days": -3, "at": "10:00"},
    ]
    waits: list[dict[str, Any]] = [
        {"kind": "weekday", "weekdays": [2, 4], "at": "09:30"},
        {"kind": "date_field", "field": "renewal", "offset_days": -7, "at": "08:00"},
    ]
    conditions: list[dict[str, Any]] = [
        {"kind": "opened", "step": "email-1", "within_seconds": 3_600},
        {"kind": "clicked_link", "step": "email-1", "url": "https://shop.example/a"},
        {"kind": "event", "name": "order.paid", "within_seconds": 600},
        {"kind": "tag", "tag": "VIP"},
        {"kind": "segment", "segment_id": str(uuid.UUID(int=7))},
        {"kind": "field", "field": "score", "op": "greater", "value": 3},
    ]
    for trigger, wait, condition in zip(triggers, waits * 2, conditions, strict=False):
        graph = copy.deepcopy(welcome())
        graph["trigger"] = trigger
        steps_of(graph)[1]["until"] = wait
        steps_of(graph)[2]["condition"] = condition
        parsed = JourneyGraph.model_validate(graph)
        assert JourneyGraph.model_validate_json(parsed.model_dump_json()) == parsed
    for condition in conditions[4:]:
        graph = welcome()
        steps_of(graph)[2]["condition"] = condition
        JourneyGraph.model_validate(graph)


def test_a_goal_is_met_by_its_event_its_segment_or_its_link_exactly() -> None:
    segment = uuid.UUID(int=8)
    graph = JourneyGraph.model_validate(
        {**welcome(), "exit_on": [*welcome()["exit_on"],
                                  {"kind": "segment_entered", "segment_id": str(segment)}]})
    assert graph.goal_met(event="order.paid")
    assert graph.goal_met(segment_id=segment)
    assert graph.goal_met(link="https://shop.example/buy")
    assert not graph.goal_met(event="signed_up")
    assert not graph.goal_met(link="https://shop.example/buy?x=1")
    assert not graph.goal_met(segment_id=uuid.UUID(int=9))
    assert not JourneyGraph.model_validate({**welcome(), "exit_on": []}).goal_met(event="x")
