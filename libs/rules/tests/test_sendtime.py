"""Per-contact send times: properties over every known zone, with daylight-saving gaps and folds
drawn on purpose, checked against dateutil's reading of the same IANA data (a second
implementation, so the rule is checked against its documented behaviour, not against itself).
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time
from itertools import islice
from zoneinfo import ZoneInfo

from hypothesis import given, settings
from hypothesis import strategies as st

from rules.cadence import Rule, send_times
from rules.sendtime import (
    MAX_UTC_OFFSET,
    contact_due,
    contact_send_time,
    contact_zone,
    due_at,
    due_groups,
    earliest_due,
    email_date,
    first_due,
)
from testkit.zones import CLOCKS, ZONES, documented_instant, zone_days


@given(zone_days(), CLOCKS)
def test_a_contact_is_due_at_the_send_time_in_their_zone_gaps_forward_folds_first(
    zone_day: tuple[str, date], send_time: time
) -> None:
    zone, day = zone_day
    assert due_at(day, send_time, zone) == documented_instant(day, send_time, zone)


@given(zone_days(), CLOCKS)
def test_nobody_is_due_before_the_earliest_due_of_the_local_date(
    zone_day: tuple[str, date], send_time: time
) -> None:
    zone, day = zone_day
    assert due_at(day, send_time, zone) >= earliest_due(day, send_time)


@given(st.dates(date(2020, 1, 1), date(2030, 12, 31)), CLOCKS)
def test_the_earliest_due_is_the_send_time_in_the_zone_furthest_ahead(
    day: date, send_time: time
) -> None:
    # Kiritimati is at +14 all year: the bound is reached, so it is no earlier than needed.
    assert due_at(day, send_time, "Pacific/Kiritimati") == earliest_due(day, send_time)
    assert earliest_due(day, send_time) == (
        datetime.combine(day, send_time, tzinfo=UTC) - MAX_UTC_OFFSET)


@given(zone_days(), CLOCKS, st.sampled_from(["daily", "weekly"]))
def test_a_contact_in_the_campaign_zone_is_due_exactly_at_the_campaigns_send_time(
    zone_day: tuple[str, date], send_time: time, kind: str
) -> None:
    zone, day = zone_day
    rule = Rule.of(kind=kind, weekly_days=[1, 3, 5] if kind == "weekly" else [],
                   weekly_emails=None, total_months=None, total_emails=5,
                   start_at=datetime.combine(day, time(), ZoneInfo(zone)), immediate=False,
                   send_time=send_time, timezone=zone)
    for send_at in islice(send_times(rule), 5):
        local = email_date(send_at, send_time, zone)
        assert contact_due(local, send_time, None, zone) == send_at
        assert contact_due(local, send_time, zone, zone) == send_at


def test_a_send_time_pushed_over_midnight_by_a_gap_keeps_the_date_before() -> None:
    # Samoa skipped 2011-12-30 entirely: its 09:00 is sent at 09:00 on the 31st, and still
    # belongs to the 30th.
    zone = "Pacific/Apia"
    send_at = due_at(date(2011, 12, 30), time(9), zone)
    assert send_at.astimezone(ZoneInfo(zone)) == datetime(2011, 12, 31, 9, tzinfo=ZoneInfo(zone))
    assert email_date(send_at, time(9), zone) == date(2011, 12, 30)
    # An email of an ordinary day keeps its own date.
    assert email_date(due_at(date(2012, 1, 2), time(9), zone), time(9), zone) == date(2012, 1, 2)


@settings(max_examples=30)  # each example resolves all ~600 zones
@given(st.dates(date(2020, 1, 1), date(2030, 12, 31)), CLOCKS)
def test_every_zone_is_in_exactly_one_group_due_at_that_zones_own_time(
    day: date, send_time: time
) -> None:
    groups = due_groups(day, send_time)
    grouped = [zone for _, zones in groups for zone in zones]
    assert sorted(grouped) == ZONES
    instants = [at for at, _ in groups]
    assert instants == sorted(set(instants))
    assert instants[0] == earliest_due(day, send_time)
    for at, zones in groups:
        for zone in zones[:3]:
            assert due_at(day, send_time, zone) == at


def test_tokyo_berlin_and_new_york_are_due_at_nine_their_time() -> None:
    day = date(2030, 3, 4)
    assert contact_due(day, time(9), "Asia/Tokyo", "UTC") == datetime(2030, 3, 4, 0, tzinfo=UTC)
    assert contact_due(day, time(9), "Europe/Berlin", "UTC") == datetime(
        2030, 3, 4, 8, tzinfo=UTC)
    assert contact_due(day, time(9), "America/New_York", "UTC") == datetime(
        2030, 3, 4, 14, tzinfo=UTC)


def test_a_contact_without_a_known_zone_takes_the_campaigns() -> None:
    assert contact_zone(None, "Europe/Berlin") == "Europe/Berlin"
    assert contact_zone("Mars/Olympus_Mons", "Europe/Berlin") == "Europe/Berlin"
    assert contact_zone("Asia/Tokyo", "Europe/Berlin") == "Asia/Tokyo"
    day = date(2030, 3, 4)
    assert contact_due(day, time(9), None, "Europe/Berlin") == datetime(
        2030, 3, 4, 8, tzinfo=UTC)


def test_the_repeated_hour_is_sent_at_its_first_occurrence() -> None:
    # Berlin falls back at 03:00 CEST on 2030-10-27: 02:30 occurs at 00:30 and 01:30 UTC.
    assert due_at(date(2030, 10, 27), time(2, 30), "Europe/Berlin") == datetime(
        2030, 10, 27, 0, 30, tzinfo=UTC)


def test_the_missing_hour_moves_forward_by_the_gap() -> None:
    # New York springs forward at 02:00 on 2030-03-10: 02:30 is sent at 03:30 EDT.
    assert due_at(date(2030, 3, 10), time(2, 30), "America/New_York") == datetime(
        2030, 3, 10, 7, 30, tzinfo=UTC)


@given(zone_days(), CLOCKS, st.booleans(), st.sampled_from(ZONES))
def test_content_is_needed_before_any_contacts_due_time(
    zone_day: tuple[str, date], send_time: time, per_contact: bool, contacts_zone: str
) -> None:
    zone, day = zone_day
    send_at = due_at(day, send_time, zone)
    needed = first_due(send_at, send_time, zone, per_contact_time=per_contact)
    if not per_contact:
        assert needed == send_at
        return
    assert needed <= contact_due(day, send_time, contacts_zone, zone)
    assert needed == earliest_due(day, send_time)


@given(zone_days(), CLOCKS, st.sampled_from(ZONES), st.integers(0, 23))
def test_with_send_time_optimisation_content_is_needed_before_anyones_preferred_hour(
    zone_day: tuple[str, date], send_time: time, contacts_zone: str, hour: int
) -> None:
    zone, day = zone_day
    send_at = due_at(day, send_time, zone)
    needed = first_due(send_at, send_time, zone, per_contact_time=False,
                       send_time_optimization=True)
    assert needed <= due_at(day, time(hour), contacts_zone)
    assert needed <= contact_due(day, send_time, contacts_zone, zone)
    assert needed == min(send_at, earliest_due(day, time(0)))


def test_a_contacts_send_time_is_their_hour_of_the_emails_weekday_or_the_campaigns() -> None:
    hours = [7, 8, 9, 10, 11, 20, 21]
    assert contact_send_time(date(2030, 5, 6), time(9, 30), hours) == time(7)  # a Monday
    assert contact_send_time(date(2030, 5, 12), time(9, 30), hours) == time(21)  # a Sunday
    assert contact_send_time(date(2030, 5, 12), time(9, 30), None) == time(9, 30)


def test_a_start_now_email_is_needed_by_its_start_or_the_first_zones_send_time() -> None:
    # Email 1 of a campaign started now goes out at the start, not at a send time.
    evening = datetime(2030, 3, 4, 20, tzinfo=UTC)
    assert first_due(evening, time(9), "UTC", per_contact_time=True) == datetime(
        2030, 3, 3, 19, tzinfo=UTC)  # 09:00 at UTC+14 was yesterday evening: at once
    night = datetime(2030, 3, 4, 1, tzinfo=UTC)
    assert first_due(night, time(23), "UTC", per_contact_time=True) == night
