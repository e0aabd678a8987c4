from __future__ import annotations

import uuid
from datetime import UTC, datetime

import pytest
from pydantic import ValidationError

from contracts import JourneyProgress, parse_event
from contracts.journey_events import (
    ActivityPayload,
    JourneyActionPayload,
    JourneyProgressPayload,
    StepProgress,
)

AT = datetime(2026, 12, 3, 9, 0, tzinfo=UTC)
IDS = {"campaign_id": uuid.uuid4(), "enrollment_id": uuid.uuid4(), "step_id": "tag-buyer",
       "email": "ada@example.com"}


def _activity(**changes: object) -> ActivityPayload:
    fields: dict[str, object] = {"event_id": uuid.uuid4(), "email": "ada@example.com",
                                 "name": "order.paid", "occurred_at": AT, **changes}
    return ActivityPayload.model_validate(fields)


def test_an_activity_carries_flat_scalar_properties() -> None:
    activity = _activity(properties={"total": 42.5, "paid": True, "coupon": None})
    assert activity.properties == {"total": 42.5, "paid": True, "coupon": None}


@pytest.mark.parametrize(("properties", "field"), [
    ({"items": ["a", "b"]}, "properties.items"),
    ({"note": "x" * 1001}, "properties.note"),
    ({"bad key": 1}, "properties.bad key"),
    ({f"k{n}": n for n in range(51)}, "properties"),
])
def test_an_activity_refuses_properties_it_cannot_carry_naming_them(
    properties: dict[str, object], field: str,
) -> None:
    with pytest.raises(ValidationError) as caught:
        _activity(properties=properties)
    assert field in str(caught.value)


def test_an_activity_needs_a_name_of_letters_digits_and_separators() -> None:
    with pytest.raises(ValidationError, match="name"):
        _activity(name="signed up!")


def test_a_journey_action_names_what_it_acts_on_as_the_step_does() -> None:
    assert JourneyActionPayload(**IDS, action="add_tag", tag=" Buyer ").tag == "buyer"
    with pytest.raises(ValidationError, match="tag: add_tag takes a tag"):
        JourneyActionPayload(**IDS, action="add_tag")
    with pytest.raises(ValidationError, match="list_id: add_to_list takes a list_id"):
        JourneyActionPayload(**IDS, action="add_to_list", tag="buyer")


def test_a_journey_progress_counts_each_step_and_parses_without_its_steps() -> None:
    payload = JourneyProgressPayload(
        campaign_id=uuid.uuid4(), version=2, as_of=AT,
        steps=[StepProgress(step_id="email-1", entered=3, exited={"goal": 1})])
    event = parse_event(JourneyProgress.create(payload, workspace_id=uuid.uuid4())
                        .model_dump_json().encode())
    assert isinstance(event, JourneyProgress)
    assert event.payload.steps[0].exited == {"goal": 1}
    assert JourneyProgressPayload(campaign_id=uuid.uuid4(), version=1, as_of=AT).steps == []


def test_a_journey_progress_refuses_a_negative_count_or_an_unknown_exit_naming_it() -> None:
    with pytest.raises(ValidationError, match="waiting"):
        StepProgress(step_id="email-1", waiting=-1)
    with pytest.raises(ValidationError, match="exited"):
        StepProgress.model_validate({"step_id": "email-1", "exited": {"bored": 1}})
