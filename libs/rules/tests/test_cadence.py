"""Schedule maths: properties over random cadences, zones, starts and send times, plus the
documented cases (the design's example, daylight-saving gaps and folds).

The daylight-saving oracle is dateutil's tz module: a second implementation over the same IANA
data, so the rules are checked against the documented behaviour and not against themselves.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from functools import cache
from itertools import islice, pairwise
from zoneinfo import ZoneInfo

from dateutil import tz as dtz
from dateutil.relativedelta import relativedelta
from hypothesis import example, given, settings
from hypothesis import strategies as st
from pydantic import AwareDatetime, BaseModel, Field

from rules.cadence import (
    MAX_EMAILS,
    Rule,
    first_slot_from,
    planned_send_times,
    resolve_local,
    send_times,
    slot_after,
    slot_from,
    slot_time,
    total_emails,
    upcoming,
)
from rules.schedule import DEFAULT_SEND_TIME, EmailCount, IsoWeekday, LocalTime, Months, PerWeek
from rules.weekdays import send_days


class Schedule(BaseModel):
    """A schedule as the events carry one (`contracts.Schedule` has these fields)."""

    schedule_type: str
    weekly_days: list[IsoWeekday] = Field(default_factory=list)
    weekly_emails: PerWeek | None = None
    total_months: Months | None = None
    total_emails: EmailCount | None = None
    start_at: AwareDatetime
    start_immediately: bool = False
    send_time: LocalTime = DEFAULT_SEND_TIME
    timezone: str = "UTC"

ZONES = (
    "UTC",
    "Europe/Berlin",
    "Europe/London",
    "America/New_York",
    "America/Santiago",  # switches at local midnight: 00:30 can be missing
    "Australia/Lord_Howe",  # 30-minute daylight saving
    "Australia/Sydney",
    "Pacific/Chatham",  # +12:45 / +13:45, switches at 02:45
    "Asia/Kathmandu",  # +05:45
    "Asia/Kolkata",  # +05:30
    "Asia/Tokyo",
)

# Times that hit gaps or folds somewhere in ZONES, and some that never do.
NOTABLE_TIMES = tuple(
    time(h, m)
    for h, m in [(2, 30), (2, 0), (2, 15), (2, 45), (1, 30), (1, 45), (3, 0), (3, 15),
                 (0, 0), (0, 30), (23, 30), (9, 0)]
)


@cache
def transition_days(zone_name: str) -> tuple[date, ...]:
    """Local dates in 2020-2035 on which the zone's UTC offset changes."""
    zone = ZoneInfo(zone_name)
    days: list[date] = []
    day = date(2020, 1, 1)
    before = datetime.combine(day, time(12), zone).utcoffset()
    while day < date(2036, 1, 1):
        day += timedelta(days=1)
        offset = datetime.combine(day, time(12), zone).utcoffset()
        if offset != before:
            days.append(day)
        before = offset
    return tuple(days)


@st.composite
def schedules(draw: st.DrawFn) -> Schedule:
    zone_name = draw(st.sampled_from(ZONES))
    shifts = transition_days(zone_name)
    if shifts and draw(st.booleans()):
        # Start on or shortly before a daylight-saving change, so short campaigns cross it.
        offset = draw(st.one_of(st.just(0), st.integers(-10, 1)))
        start_day = draw(st.sampled_from(shifts)) + timedelta(days=offset)
    else:
        start_day = draw(st.dates(date(2020, 1, 1), date(2035, 12, 31)))
    # Minutes, as a person sets them; times parsed from JSON always have fold=0.
    clock = st.sampled_from(NOTABLE_TIMES) | st.builds(time, st.integers(0, 23), st.integers(0, 59))
    local_start = datetime.combine(start_day, draw(clock), ZoneInfo(zone_name))
    # Events carry an instant; a local start that does not exist still names one.
    start_at = local_start.replace(fold=draw(st.integers(0, 1))).astimezone(UTC)

    kind = draw(st.sampled_from(["daily", "weekly"]))
    weekly_days = draw(st.lists(st.integers(1, 7), min_size=1, max_size=7, unique=True)) if (
        kind == "weekly") else []
    weekly_emails = draw(st.none() | st.integers(1, 7)) if kind == "weekly" else None
    emails = st.integers(1, 60)
    months = st.integers(1, 14)
    total_emails_, total_months = draw(st.one_of(
        st.tuples(emails, st.none()), st.tuples(st.none(), months), st.tuples(emails, months)
    ))
    return Schedule(
        schedule_type=kind,
        weekly_days=weekly_days,
        weekly_emails=weekly_emails,
        total_emails=total_emails_,
        total_months=total_months,
        start_at=start_at,
        start_immediately=draw(st.booleans()),
        send_time=draw(clock),
        timezone=zone_name,
    )


def allowed_weekdays(schedule: Schedule) -> set[int]:
    if schedule.schedule_type == "daily":
        return set(range(1, 8))
    return set(send_days(schedule.weekly_days, schedule.weekly_emails))


def expected_send(day: date, send_time: time, zone_name: str) -> datetime:
    """The documented instant of `send_time` on `day`, computed with dateutil."""
    zone = dtz.gettz(zone_name)
    wall = datetime.combine(day, send_time).replace(tzinfo=zone)
    if not dtz.datetime_exists(wall):
        return dtz.resolve_imaginary(wall).astimezone(UTC)  # moved forward by the gap
    # Of a time that occurs twice, the first occurrence.
    return min(wall.replace(fold=0).astimezone(UTC), wall.replace(fold=1).astimezone(UTC))


def check_schedule(schedule: Schedule) -> None:
    rule = Rule.from_schedule(schedule)
    zone = ZoneInfo(schedule.timezone)
    start = schedule.start_at.astimezone(UTC)
    end = (
        start.astimezone(zone) + relativedelta(months=schedule.total_months)
        if schedule.total_months else None
    )
    count = total_emails(rule)
    # With an end date every slot, else one beyond the emails the campaign sends.
    slots = list(send_times(rule) if end else islice(send_times(rule), count + 1))

    if schedule.total_months is None:
        assert count == schedule.total_emails
    else:
        assert count == min(len(slots), schedule.total_emails or len(slots))
    assert len(slots) >= count >= 1
    assert all(at.utcoffset() == timedelta(0) for at in slots)
    assert all(a < b for a, b in pairwise(slots)), "not strictly increasing"
    local_days = [at.astimezone(zone).date() for at in slots]
    assert len(set(local_days)) == len(local_days), "two sends on one local date"

    cadence = slots
    if schedule.start_immediately:
        assert slots[0] == start
        cadence = slots[1:]
    allowed = allowed_weekdays(schedule)
    for at in cadence:
        day = at.astimezone(zone).date()
        assert day.isoweekday() in allowed, f"{at} is not on an allowed weekday"
        assert at == expected_send(day, schedule.send_time, schedule.timezone)
        assert at >= start
    if end is not None:
        assert all(at.astimezone(zone).replace(tzinfo=None) < end.replace(tzinfo=None)
                   for at in slots)

    # No allowed slot is left out: every allowed date from the start up to the end (or, with
    # no end, up to the last slot) has its email, or its time is before the start or the end.
    horizon = end.date() if end is not None else local_days[-1]
    sent_days = set(local_days[1:] if schedule.start_immediately else local_days)
    day = start.astimezone(zone).date()
    while day <= horizon:
        if day.isoweekday() in allowed and day not in sent_days:
            at = expected_send(day, schedule.send_time, schedule.timezone)
            passed = at < start or (schedule.start_immediately and day == local_days[0])
            too_late = end is not None and (
                at.astimezone(zone).replace(tzinfo=None) >= end.replace(tzinfo=None))
            assert passed or too_late, f"slot on {day} was left out"
        day += timedelta(days=1)


def _schedule(**fields: object) -> Schedule:
    return Schedule.model_validate(fields)


@settings(max_examples=200, deadline=None)
@given(schedules())
# A "start now" during the repeated hour of a fall-back day, after the first 02:30 passed.
@example(_schedule(schedule_type="daily", total_emails=3, start_immediately=True,
                   start_at="2026-10-25T02:15:00+01:00", send_time="02:30",
                   timezone="Europe/Berlin"))
@example(_schedule(schedule_type="daily", total_emails=3, start_immediately=False,
                   start_at="2026-10-25T02:15:00+01:00", send_time="02:30",
                   timezone="Europe/Berlin"))
# A "start now" earlier on a day whose send time is still to come.
@example(_schedule(schedule_type="weekly", weekly_days=[1, 4], total_months=1,
                   start_immediately=True, start_at="2026-03-02T08:00:00+01:00",
                   send_time="09:00", timezone="Europe/Berlin"))
def test_send_times_follow_the_cadence(schedule: Schedule) -> None:
    check_schedule(schedule)


@settings(max_examples=200, deadline=None)
@given(schedules())
@example(_schedule(schedule_type="daily", total_emails=3, start_immediately=True,
                   start_at="2026-10-25T02:15:00+01:00", send_time="02:30",
                   timezone="Europe/Berlin"))
@example(_schedule(schedule_type="daily", total_months=1, start_at="2026-09-01T00:00:00Z",
                   send_time="00:30", timezone="America/Santiago"))
def test_the_next_slot_from_the_current_one_equals_the_full_enumeration(
    schedule: Schedule,
) -> None:
    rule = Rule.from_schedule(schedule)
    limit = total_emails(rule) + 5
    reference = list(islice(send_times(rule), limit))
    for index, (current, following) in enumerate(pairwise(reference)):
        assert slot_after(rule, current, index) == following, f"after slot {index}"
    if len(reference) < limit:  # the end date came first: nothing follows
        assert slot_after(rule, reference[-1], len(reference) - 1) is None
    assert upcoming(rule, reference[0], 0, 5) == reference[:5]
    if len(reference) > 2:
        assert upcoming(rule, reference[1], 1, 2) == reference[1:3]
        # A resume walks on from the slot it stopped at; the reference walks from the start.
        moment = reference[1] + (reference[-1] - reference[1]) / 2
        assert slot_from(rule, moment, 1, reference[1]) == first_slot_from(
            rule, moment, min_index=1)


def test_no_slot_follows_the_last_one_of_an_open_ended_rule() -> None:
    rule = Rule.from_schedule(_schedule(
        schedule_type="daily", total_emails=3, start_at="2026-05-04T09:00:00Z",
        send_time="09:00", timezone="UTC",
    ))
    last = slot_time(rule, 2 * MAX_EMAILS - 1)
    assert last is not None
    assert slot_after(rule, last, 2 * MAX_EMAILS - 1) is None


def test_design_example_sends_on_monday_and_friday() -> None:
    schedule = _schedule(
        schedule_type="weekly", weekly_emails=2, weekly_days=[5, 1, 3], total_months=3,
        start_at="2026-03-02T00:00:00+01:00", send_time="09:00", timezone="Europe/Berlin",
    )
    rule = Rule.from_schedule(schedule)
    sends = list(send_times(rule))
    berlin = ZoneInfo("Europe/Berlin")
    assert {at.astimezone(berlin).isoweekday() for at in sends} == {1, 5}
    # 14 Mondays (2 Mar - 1 Jun) and 13 Fridays (6 Mar - 29 May) before 2 Jun.
    assert total_emails(rule) == len(sends) == 27
    assert planned_send_times(rule, 4) == [
        datetime(2026, 3, 2, 8, tzinfo=UTC),
        datetime(2026, 3, 6, 8, tzinfo=UTC),
        datetime(2026, 3, 9, 8, tzinfo=UTC),
        datetime(2026, 3, 13, 8, tzinfo=UTC),
    ]
    # Across the spring change the local time stays 09:00, so UTC moves an hour earlier.
    assert datetime(2026, 3, 30, 7, tzinfo=UTC) in sends
    assert sends[-1] == datetime(2026, 6, 1, 7, tzinfo=UTC)


def test_missing_local_time_moves_forward_by_the_gap() -> None:
    berlin = ZoneInfo("Europe/Berlin")
    at = resolve_local(datetime(2026, 3, 29), time(2, 30), berlin)
    assert (at.hour, at.minute, at.utcoffset()) == (3, 30, timedelta(hours=2))
    rule = Rule.from_schedule(_schedule(
        schedule_type="daily", total_emails=3, start_at="2026-03-28T00:00:00+01:00",
        send_time="02:30", timezone="Europe/Berlin",
    ))
    assert planned_send_times(rule) == [
        datetime(2026, 3, 28, 1, 30, tzinfo=UTC),  # 02:30 CET
        datetime(2026, 3, 29, 1, 30, tzinfo=UTC),  # 03:30 CEST: 02:30 does not exist
        datetime(2026, 3, 30, 0, 30, tzinfo=UTC),  # 02:30 CEST
    ]


def test_half_hour_gap_moves_forward_by_half_an_hour() -> None:
    lord_howe = ZoneInfo("Australia/Lord_Howe")
    # 4 Oct 2026: 02:00 becomes 02:30 (+10:30 to +11:00).
    at = resolve_local(datetime(2026, 10, 4), time(2, 15), lord_howe)
    assert (at.hour, at.minute, at.utcoffset()) == (2, 45, timedelta(hours=11))


def test_repeated_local_time_is_sent_at_its_first_occurrence() -> None:
    rule = Rule.from_schedule(_schedule(
        schedule_type="daily", total_emails=3, start_at="2026-10-24T00:00:00+02:00",
        send_time="02:30", timezone="Europe/Berlin",
    ))
    assert planned_send_times(rule) == [
        datetime(2026, 10, 24, 0, 30, tzinfo=UTC),  # 02:30 CEST
        datetime(2026, 10, 25, 0, 30, tzinfo=UTC),  # 02:30 CEST, the first of two
        datetime(2026, 10, 26, 1, 30, tzinfo=UTC),  # 02:30 CET
    ]


def test_start_in_the_repeated_hour_never_schedules_before_the_start() -> None:
    # 02:15 CET is the second 02:15 of the day; the first 02:30 (CEST) has already passed.
    start = "2026-10-25T02:15:00+01:00"
    for immediate in (True, False):
        rule = Rule.from_schedule(_schedule(
            schedule_type="daily", total_emails=2, start_immediately=immediate,
            start_at=start, send_time="02:30", timezone="Europe/Berlin",
        ))
        first_cadence = datetime(2026, 10, 26, 1, 30, tzinfo=UTC)  # 02:30 CET next day
        expected = [datetime(2026, 10, 25, 1, 15, tzinfo=UTC), first_cadence] if immediate else [
            first_cadence, first_cadence + timedelta(days=1)]
        assert planned_send_times(rule) == expected


def test_start_now_sends_email_one_at_the_start_and_the_rest_on_later_days() -> None:
    rule = Rule.from_schedule(_schedule(
        schedule_type="daily", total_emails=3, start_immediately=True,
        start_at="2026-05-04T06:00:00Z", send_time="09:00", timezone="UTC",
    ))
    assert planned_send_times(rule) == [
        datetime(2026, 5, 4, 6, tzinfo=UTC),
        datetime(2026, 5, 5, 9, tzinfo=UTC),
        datetime(2026, 5, 6, 9, tzinfo=UTC),
    ]


def test_without_start_now_a_slot_at_the_start_itself_counts() -> None:
    rule = Rule.from_schedule(_schedule(
        schedule_type="daily", total_emails=2, start_at="2026-05-04T09:00:00Z",
        send_time="09:00", timezone="UTC",
    ))
    assert slot_time(rule, 0) == datetime(2026, 5, 4, 9, tzinfo=UTC)
    assert slot_time(rule, 1) == datetime(2026, 5, 5, 9, tzinfo=UTC)


def test_slot_time_is_none_past_the_end() -> None:
    rule = Rule.from_schedule(_schedule(
        schedule_type="weekly", weekly_days=[2], total_months=1,
        start_at="2026-06-01T00:00:00Z", send_time="10:00", timezone="UTC",
    ))
    # Tuesdays 2, 9, 16, 23 and 30 June; 1 July is the exclusive end.
    assert total_emails(rule) == 5
    assert slot_time(rule, 4) == datetime(2026, 6, 30, 10, tzinfo=UTC)
    assert slot_time(rule, 5) is None
