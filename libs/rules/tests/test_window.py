"""Send windows: properties over every known zone, daylight-saving days drawn on purpose, with the
openings and closings checked against dateutil's reading of the same IANA data (a second
implementation of the documented rule, so the rule is not checked against itself)."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from hypothesis import given
from hypothesis import strategies as st

from rules.window import is_inside, next_opening
from testkit.zones import CLOCKS, WEEKDAYS, ZONES, documented_instant, zone_instants


def documented_windows(
    around: datetime, start: time, end: time, weekdays: list[int], zone_name: str
) -> list[tuple[datetime, datetime]]:
    """Every non-empty [opening, closing) of the window from 3 dates before `around` to 17
    after, from the documentation's wording."""
    first = around.astimezone(ZoneInfo(zone_name)).date() - timedelta(days=3)
    found = []
    for offset in range(21):
        day = first + timedelta(days=offset)
        if day.isoweekday() not in weekdays:
            continue
        closes_on = day + timedelta(days=1) if end < start else day
        opening = documented_instant(day, start, zone_name)
        closing = documented_instant(closes_on, end, zone_name)
        if opening < closing:
            found.append((opening, closing))
    return found


def inside_documented(moment: datetime, windows: list[tuple[datetime, datetime]]) -> bool:
    return any(opening <= moment < closing for opening, closing in windows)


@given(zone_instants(), CLOCKS, CLOCKS, WEEKDAYS)
def test_the_next_opening_is_not_before_the_instant_is_inside_and_nothing_inside_comes_between(
    zone_instant: tuple[str, datetime], start: time, end: time, weekdays: list[int]
) -> None:
    zone, instant = zone_instant
    if start == end:
        return  # not a window (rules.schedule.check_window refuses it)
    result = next_opening(instant, start, end, weekdays, zone)
    windows = documented_windows(instant, start, end, weekdays, zone)
    assert result >= instant
    assert inside_documented(result, windows)
    # No window of the documentation overlaps [instant, result): nothing inside was skipped.
    assert not any(max(opening, instant) < min(closing, result) for opening, closing in windows)


@given(zone_instants(), CLOCKS, CLOCKS, WEEKDAYS)
def test_an_instant_inside_the_window_is_sent_at_once_and_one_outside_waits(
    zone_instant: tuple[str, datetime], start: time, end: time, weekdays: list[int]
) -> None:
    zone, instant = zone_instant
    if start == end:
        return
    windows = documented_windows(instant, start, end, weekdays, zone)
    assert is_inside(instant, start, end, weekdays, zone) == inside_documented(instant, windows)


@given(st.sampled_from(ZONES), st.dates(date(2021, 1, 1), date(2029, 12, 31)),
       st.integers(0, 1439), CLOCKS, CLOCKS, WEEKDAYS)
def test_away_from_clock_changes_inside_means_the_local_clock_and_weekday_are_in_the_window(
    zone: str, day: date, minute: int, start: time, end: time, weekdays: list[int]
) -> None:
    tz = ZoneInfo(zone)
    local = datetime.combine(day, time(minute // 60, minute % 60), tzinfo=tz)
    instant = local.astimezone(UTC)
    offsets = {(instant + timedelta(hours=h)).astimezone(tz).utcoffset() for h in range(-30, 31)}
    if start == end or len(offsets) != 1:
        return  # a clock change nearby: the other properties cover it
    clock = local.time()
    if end > start:
        expected = day.isoweekday() in weekdays and start <= clock < end
    else:  # spans midnight: the evening belongs to today, the small hours to yesterday
        expected = (day.isoweekday() in weekdays and clock >= start) or (
            (day - timedelta(days=1)).isoweekday() in weekdays and clock < end)
    assert is_inside(instant, start, end, weekdays, zone) == expected


def test_a_retry_due_on_friday_night_outside_a_weekday_morning_window_waits_for_monday() -> None:
    friday_night = datetime(2026, 3, 6, 22, 0, tzinfo=ZoneInfo("Europe/Berlin"))
    opening = next_opening(friday_night, time(9), time(17), [1, 2, 3, 4, 5], "Europe/Berlin")
    assert opening == datetime(2026, 3, 9, 8, 0, tzinfo=UTC)  # 09:00 CET


def test_a_window_spanning_midnight_keeps_the_weekday_it_opened_on() -> None:
    # Friday 22:00 to 06:00: Saturday 03:00 is inside, Saturday 23:00 is not.
    saturday_small_hours = datetime(2026, 3, 7, 3, 0, tzinfo=UTC)
    saturday_night = datetime(2026, 3, 7, 23, 0, tzinfo=UTC)
    assert is_inside(saturday_small_hours, time(22), time(6), [5], "UTC")
    assert next_opening(saturday_night, time(22), time(6), [5], "UTC") == datetime(
        2026, 3, 13, 22, 0, tzinfo=UTC)


def test_an_opening_in_a_spring_forward_gap_moves_forward_by_the_gap() -> None:
    # New York, 2026-03-08: 02:00 jumps to 03:00, so a 02:30 opening opens at 03:30 EDT.
    before = datetime(2026, 3, 8, 5, 0, tzinfo=UTC)  # 00:00 EST
    opening = next_opening(before, time(2, 30), time(5), [7], "America/New_York")
    assert opening == datetime(2026, 3, 8, 7, 30, tzinfo=UTC)
