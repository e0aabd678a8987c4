"""Which field a validation error is about: one rule for the REST API, the use cases and the
dashboard. The field a check names in its text wins when it is a field of the model the check ran
on, or a dotted path into one; otherwise the error stays where pydantic put it, word for word."""

from __future__ import annotations

from typing import Any

import httpx
import pydantic
import pytest
from fastapi import FastAPI
from pydantic_core import PydanticCustomError

from campaign_api import errors
from campaign_api.failures import Invalid
from campaign_api.schemas import CampaignCreate
from campaign_api.validation import locate, named
from contracts.campaigns import CampaignDefinition


class Line(pydantic.BaseModel):
    sku: str
    quantity: int = 1

    @pydantic.field_validator("sku")
    @classmethod
    def _sku(cls, value: str) -> str:
        if value == "names a sibling":
            raise ValueError("quantity: the sku names another field")
        return value


class Order(pydantic.BaseModel):
    """A model whose check raises whatever `complaint` says, to try the wordings on."""

    complaint: str = ""
    custom: bool = False
    lines: list[Line] = []
    tags: dict[str, Line] = {}

    @pydantic.model_validator(mode="after")
    def _check(self) -> Order:
        if self.complaint and self.custom:
            raise PydanticCustomError("order", self.complaint)
        if self.complaint:
            raise ValueError(self.complaint)
        return self


def _only_error(model: type[pydantic.BaseModel], data: dict[str, Any]) -> dict[str, Any]:
    with pytest.raises(pydantic.ValidationError) as caught:
        model.model_validate(data)
    [error] = caught.value.errors()
    return dict(error)


def _located(data: dict[str, Any]) -> tuple[tuple[str | int, ...], str]:
    return locate(_only_error(Order, data), Order)


def test_a_model_check_naming_one_of_the_models_fields_is_that_fields_error() -> None:
    assert _located({"complaint": "lines: at least one line"}) == (("lines",),
                                                                    "at least one line")


def test_a_dotted_path_into_the_models_fields_is_kept_whole() -> None:
    # It used to be the first name only ("lines") in the use cases, and the whole text under
    # the model's location in the API and the dashboard.
    complaint = "lines.1.sku: repeats lines.0"
    assert _located({"complaint": complaint, "lines": [{"sku": "a"}, {"sku": "a"}]}) == (
        ("lines", 1, "sku"), "repeats lines.0")
    assert _located({"complaint": "tags.gift.quantity: at most 1"}) == (
        ("tags", "gift", "quantity"), "at most 1")


@pytest.mark.parametrize("complaint", [
    "hint: not a field",                    # an identifier that is no field of the model
    "Lines: a field's name in another case",
    "0: an index where a field goes",
    "lines.0.colour: no such field of a line",
    "complaint.x: a path into a text",
])
def test_a_name_that_is_no_field_of_the_model_leaves_the_error_where_pydantic_put_it(
        complaint: str) -> None:
    # The API and the dashboard used to take any single word before a colon for a field.
    assert _located({"complaint": complaint}) == ((), complaint)


def test_words_before_the_colon_are_part_of_the_message() -> None:
    # The use cases used to take "lines" for the field and drop "must not be empty".
    complaint = "lines must not be empty: add one"
    assert _located({"complaint": complaint}) == ((), complaint)


def test_only_a_value_error_names_its_field() -> None:
    # The dashboard used to split any error's text, whatever raised it.
    error = _only_error(Order, {"complaint": "lines: a custom error", "custom": True})
    assert locate(error, Order) == ((), "lines: a custom error")


def test_a_field_check_naming_another_field_keeps_the_location_pydantic_gives() -> None:
    # The use cases used to move it to the field named; a field's own check speaks of itself.
    error = _only_error(Order, {"lines": [{"sku": "names a sibling"}]})
    assert locate(error, Order) == (("lines", 0, "sku"),
                                    "quantity: the sku names another field")


def test_the_check_of_a_nested_model_is_put_under_that_models_field() -> None:
    # A definition's schedule checks its own fields: the API and the dashboard used to leave
    # such an error at "schedule", the use cases moved it to the top level. It is the field of
    # the schedule; the use cases then call it by the name the API's bodies give it.
    definition = {"campaign_id": "00000000-0000-0000-0000-000000000001",
                  "audience_id": "00000000-0000-0000-0000-000000000002", "name": "n",
                  "description": "",
                  "model": "openai/gpt-4o-mini",
                  "schedule": {"schedule_type": "weekly", "weekly_days": [],
                               "total_emails": 3, "start_at": "2026-03-02T09:00:00Z"}}
    with pytest.raises(pydantic.ValidationError) as caught:
        CampaignDefinition.model_validate(definition)
    [error] = caught.value.errors()
    assert locate(error, CampaignDefinition) == (
        ("schedule", "weekly_days"), "a weekly schedule needs at least one weekday")
    [field_error] = Invalid.from_validation(caught.value, CampaignDefinition).errors
    assert (field_error.field, field_error.message) == (
        "weekly_days", "a weekly schedule needs at least one weekday")


def test_the_text_of_a_check_called_directly_names_its_field_the_same_way() -> None:
    assert named((), "weekly_days: weekdays must not repeat", CampaignCreate) == (
        ("weekly_days",), "weekdays must not repeat")
    assert named((), "hint: no field", CampaignCreate) == ((), "hint: no field")


async def test_the_api_names_the_field_a_check_of_the_body_names() -> None:
    app = FastAPI()
    errors.install(app)

    @app.post("/orders")
    async def make_order(body: Order) -> dict[str, str]:
        return {}

    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        answers = [await client.post("/orders", json={"complaint": complaint})
                   for complaint in ("tags.gift.sku: taken", "hint: not a field")]
    assert [a.status_code for a in answers] == [422, 422]
    assert [a.json()["errors"] for a in answers] == [
        [{"field": "tags.gift.sku", "message": "taken"}],
        [{"field": "body", "message": "hint: not a field"}]]
