"""The preview of a campaign not yet created: the send times the scheduler would plan."""

from __future__ import annotations

from datetime import UTC, datetime, time
from zoneinfo import ZoneInfo

from hypothesis import given
from hypothesis import strategies as st

from rules.cadence import Draft, preview

BERLIN = ZoneInfo("Europe/Berlin")
NOW = datetime(2026, 3, 2, 12, 0, tzinfo=UTC)  # a Monday


def cadence(**changes: object) -> Draft:
    values: dict[str, object] = {
        "schedule_type": "weekly", "weekly_days": (1, 3, 5), "weekly_emails": None,
        "total_emails": None, "total_months": None, "start_at": None,
        "send_time": time(9, 0), "timezone": "Europe/Berlin",
    }
    return Draft(**(values | changes))  # type: ignore[arg-type]


def next_send_times(draft: Draft, now: datetime, count: int = 5) -> list[datetime]:
    return preview(draft, now, count)


def local(times: list[datetime]) -> list[str]:
    return [f"{t:%a %Y-%m-%d %H:%M %Z}" for t in times]


def test_starting_now_sends_at_once_then_never_twice_that_day() -> None:
    times = next_send_times(cadence(), NOW)
    assert times[0] == NOW
    assert local(times[1:]) == ["Wed 2026-03-04 09:00 CET", "Fri 2026-03-06 09:00 CET",
                                "Mon 2026-03-09 09:00 CET", "Wed 2026-03-11 09:00 CET"]


def test_weekly_emails_take_the_most_evenly_spread_days() -> None:
    # The design's own example: 2 emails a week on [5, 1, 3] sends Monday and Friday.
    times = next_send_times(cadence(weekly_days=(5, 1, 3), weekly_emails=2,
                                    start_at=datetime(2026, 3, 9)), NOW)
    assert [t.strftime("%a %d") for t in times] == ["Mon 09", "Fri 13", "Mon 16", "Fri 20",
                                                    "Mon 23"]


def test_a_start_in_the_past_starts_now() -> None:
    times = next_send_times(cadence(start_at=datetime(2026, 2, 1)), NOW)
    assert times[0] == NOW


def test_a_future_start_waits_for_its_first_slot() -> None:
    times = next_send_times(cadence(schedule_type="daily", start_at=datetime(2026, 4, 1)), NOW)
    assert local(times)[:2] == ["Wed 2026-04-01 09:00 CEST", "Thu 2026-04-02 09:00 CEST"]


def test_a_send_time_in_the_spring_gap_moves_forward() -> None:
    times = next_send_times(cadence(schedule_type="daily", send_time=time(2, 30),
                                    start_at=datetime(2026, 3, 28)), NOW)
    assert local(times)[:3] == ["Sat 2026-03-28 02:30 CET", "Sun 2026-03-29 03:30 CEST",
                                "Mon 2026-03-30 02:30 CEST"]


def test_a_repeated_time_on_the_autumn_day_is_sent_at_its_first_occurrence() -> None:
    times = next_send_times(cadence(schedule_type="daily", send_time=time(2, 30),
                                    start_at=datetime(2026, 10, 25)), NOW)
    # Compared in UTC: an ambiguous local time never equals an instant of another zone.
    assert times[0].astimezone(UTC) == datetime(2026, 10, 25, 0, 30, tzinfo=UTC)  # CEST


def test_length_in_emails_or_months_ends_the_list() -> None:
    assert len(next_send_times(cadence(total_emails=2), NOW)) == 2
    month = next_send_times(cadence(schedule_type="daily", total_months=1,
                                    start_at=datetime(2026, 3, 30)), NOW, count=40)
    assert month[-1].astimezone(BERLIN).date().isoformat() == "2026-04-29"


@given(days=st.sets(st.integers(1, 7), min_size=1), per_week=st.none() | st.integers(1, 7),
       hour=st.integers(0, 23), zone=st.sampled_from(["UTC", "Europe/Berlin", "Asia/Tokyo",
                                                      "America/Santiago"]))
def test_times_are_increasing_on_allowed_days_at_most_one_a_day(
        days: set[int], per_week: int | None, hour: int, zone: str) -> None:
    c = cadence(weekly_days=tuple(days), weekly_emails=per_week, send_time=time(hour),
                timezone=zone)
    times = next_send_times(c, NOW)
    assert len(times) == 5
    assert times == sorted(times)
    dates = [t.astimezone(ZoneInfo(zone)).date() for t in times]
    assert len(set(dates)) == len(dates)
    for t in times[1:]:
        assert t.astimezone(ZoneInfo(zone)).isoweekday() in c.rule(NOW).weekdays
    assert set(c.rule(NOW).weekdays) <= days
