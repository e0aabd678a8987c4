"""What a valid schedule is: strict fields, and the checks across them."""

from __future__ import annotations

from datetime import UTC, datetime, time

import pytest
from pydantic import BaseModel, ValidationError

from rules.schedule import (
    EmailCount,
    LocalTime,
    StartAt,
    Weekday,
    campaign_start,
    check_schedule,
    local_time,
)


class _Body(BaseModel):
    send_time: LocalTime | None = None
    weekly_days: list[Weekday] = []
    total_emails: EmailCount | None = None
    start_at: StartAt | None = None


@pytest.mark.parametrize(("text", "expected"), [
    ("09:00", time(9)), ("23:59:59", time(23, 59, 59)), ("00:00:00.5", time(0, 0, 0, 500_000)),
])
def test_a_send_time_is_a_wall_clock_time(text: str, expected: time) -> None:
    assert local_time(text) == expected
    assert _Body.model_validate({"send_time": text}).send_time == expected


@pytest.mark.parametrize("bad", ["09:00+02:00", "09:00Z", "9:00", "24:00", "09:60", "", 32400,
                                 9.5, True, None, [], {}])
def test_a_send_time_with_an_offset_or_as_a_number_is_refused(bad: object) -> None:
    with pytest.raises(ValidationError) as info:
        _Body.model_validate({"send_time": bad} if bad is not None else {"send_time": []})
    assert info.value.errors()[0]["loc"] == ("send_time",)


@pytest.mark.parametrize("bad", [None, {}, [1], 1.5, True, "someday", 0, 8])
def test_a_weekday_that_is_not_one_is_refused_naming_its_place(bad: object) -> None:
    with pytest.raises(ValidationError) as info:
        _Body.model_validate({"weekly_days": [1, bad]})
    assert info.value.errors()[0]["loc"] == ("weekly_days", 1)


@pytest.mark.parametrize("bad", [True, "3", 3.0, 0, 10_001])
def test_a_count_is_a_whole_number_in_range(bad: object) -> None:
    with pytest.raises(ValidationError):
        _Body.model_validate({"total_emails": bad})


def test_a_start_is_written_as_a_date_not_a_number() -> None:
    with pytest.raises(ValidationError):
        _Body.model_validate({"start_at": 1_780_000_000})
    assert _Body.model_validate({"start_at": "2026-03-02T09:00:00"}).start_at == datetime(
        2026, 3, 2, 9)


@pytest.mark.parametrize(("fields", "message"), [
    ({"schedule_type": "weekly", "weekly_days": [], "total_emails": 3}, "weekly_days: a weekly"),
    ({"schedule_type": "weekly", "weekly_days": [1, 1], "total_emails": 3}, "must not repeat"),
    ({"schedule_type": "daily", "weekly_days": [], "total_emails": None}, "total_months: give"),
])
def test_the_fields_must_make_a_schedule_together(fields: dict[str, object], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        check_schedule(total_months=None, **fields)  # type: ignore[arg-type]


NOW = datetime(2026, 3, 2, 12, tzinfo=UTC)


def test_a_start_in_the_future_is_kept_and_a_missing_or_past_one_means_now() -> None:
    assert campaign_start(datetime(2026, 3, 9, 9), "Europe/Berlin", NOW) == (
        datetime(2026, 3, 9, 8, tzinfo=UTC), False)
    assert campaign_start(None, "UTC", NOW) == (NOW, True)
    assert campaign_start(datetime(2026, 3, 1), "UTC", NOW) == (NOW, True)
