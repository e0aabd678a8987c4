"""What a valid schedule is, checked once for the API's requests, the dashboard's form and the
events that carry a schedule.

Every field is read strictly: a count is a JSON integer (not true, "3" or 3.0), a weekday is
an integer or a weekday's name, a send time is a wall-clock time written as text without an
offset ("09:00"): the time zone is the campaign's `timezone`, so an offset would be a second,
conflicting zone (and a number of seconds is no way to write a time of day).
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, time
from typing import Annotated
from zoneinfo import ZoneInfo

from pydantic import BeforeValidator, Field, Strict, WithJsonSchema

from rules.weekdays import weekday_number

DEFAULT_SEND_TIME = time(9, 0)

_LOCAL_TIME = re.compile(r"^([01][0-9]|2[0-3]):[0-5][0-9](:[0-5][0-9](\.[0-9]{1,6})?)?$")
NOT_A_LOCAL_TIME = "a time of day such as 09:00 or 09:00:00, without an offset"


def local_time(value: object) -> time:
    """A wall-clock time from "HH:MM[:SS[.ffffff]]" (or a naive `time`); ValueError else."""
    if isinstance(value, time) and value.tzinfo is None:
        return value
    if isinstance(value, str) and _LOCAL_TIME.match(value):
        return time.fromisoformat(value)
    raise ValueError(NOT_A_LOCAL_TIME)


def _text_or_datetime(value: object) -> object:
    # pydantic would read a number as seconds since 1970: a start is written as a date.
    if isinstance(value, str | datetime):
        return value
    raise ValueError("an ISO 8601 date and time such as 2026-03-02T09:00:00")


LocalTime = Annotated[time, BeforeValidator(local_time), WithJsonSchema({
    "type": "string", "pattern": _LOCAL_TIME.pattern,
    "description": "Local time of day in the campaign's time zone, without an offset"})]
Weekday = Annotated[int, BeforeValidator(weekday_number), Field(ge=1, le=7)]
IsoWeekday = Annotated[int, Strict(), Field(ge=1, le=7)]
StartAt = Annotated[datetime, BeforeValidator(_text_or_datetime)]
# Counts are whole numbers given as numbers: neither true nor "3" nor 3.0.
PerWeek = Annotated[int, Strict(), Field(ge=1, le=7)]
Months = Annotated[int, Strict(), Field(ge=1, le=120)]
EmailCount = Annotated[int, Strict(), Field(ge=1, le=10_000)]


def check_schedule(
    *, schedule_type: str, weekly_days: list[int], total_months: int | None,
    total_emails: int | None,
) -> None:
    """ValueError naming the field when the fields do not make a schedule together."""
    if schedule_type == "weekly" and not weekly_days:
        raise ValueError("weekly_days: a weekly schedule needs at least one weekday")
    if len(set(weekly_days)) != len(weekly_days):
        raise ValueError("weekly_days: weekdays must not repeat")
    if total_months is None and total_emails is None:
        raise ValueError("total_months: give total_months or total_emails")


def localise(moment: datetime, zone: str) -> datetime:
    """A start given without an offset means wall-clock time in the campaign's zone."""
    return moment if moment.tzinfo else moment.replace(tzinfo=ZoneInfo(zone))


def campaign_start(start_at: datetime | None, zone: str, now: datetime) -> tuple[datetime, bool]:
    """Where a new campaign starts, and whether it starts now: a start that is missing or not
    in the future sends email 1 at once (`now`), the rest follow the cadence from there."""
    if start_at is None:
        return now.astimezone(UTC), True
    start = localise(start_at, zone)
    if start <= now:
        return now.astimezone(UTC), True
    return start, False


def check_window(*, start: time, end: time, weekdays: list[int]) -> None:
    """ValueError naming the field when a send window's fields do not make a window."""
    if start == end:
        raise ValueError("send_window.end: the window must not be empty (end equals start)")
    if len(set(weekdays)) != len(weekdays):
        raise ValueError("send_window.weekdays: weekdays must not repeat")
