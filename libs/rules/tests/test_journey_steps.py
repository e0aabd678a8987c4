"""The journey step rules: properties over waits, send windows, every known zone and the days
clocks change (drawn on purpose), checked against dateutil's reading of the same IANA data, a
second implementation of the documented daylight-saving rule; and the branches' outcomes."""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given
from hypothesis import strategies as st

from rules.journey_steps import (
    BranchOutcome,
    Engaged,
    EventSeen,
    Facts,
    FieldIs,
    HasTag,
    InSegment,
    LinkClicked,
    anniversary,
    branch_outcome,
    date_field_due,
    duration_due,
    email_send_at,
    field_date,
    field_matches,
    may_enter,
    must_exit,
    weekday_due,
)
from rules.journeys import MAX_WAIT, MIN_WAIT
from rules.window import is_inside
from testkit.zones import CLOCKS, WEEKDAYS, documented_instant, zone_instants

JOURNEY_ZONE = "Europe/Berlin"
REACHED = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)

# --- waits ----------------------------------------------------------------------------------


@given(zone_instants(), st.integers(int(MIN_WAIT.total_seconds()),
                                    int(MAX_WAIT.total_seconds())))
def test_a_duration_wait_is_up_exactly_its_duration_later(
    zone_instant: tuple[str, datetime], seconds: int
) -> None:
    zone, reached = zone_instant
    reached = reached.astimezone(ZoneInfo(zone))
    due = duration_due(reached, seconds)
    assert due.tzinfo is UTC
    assert (due - reached).total_seconds() == seconds


@given(zone_instants(), WEEKDAYS, CLOCKS)
def test_a_weekday_wait_is_up_at_the_first_of_its_weekdays_local_time_not_before_it_began(
    zone_instant: tuple[str, datetime], weekdays: list[int], at: time
) -> None:
    zone, reached = zone_instant
    due = weekday_due(reached, weekdays, at, zone, JOURNEY_ZONE)
    local_day = reached.astimezone(ZoneInfo(zone)).date()
    candidates = [documented_instant(day, at, zone)
                  for day in (local_day + timedelta(days=n) for n in range(-2, 10))
                  if day.isoweekday() in weekdays]
    assert due == min(c for c in candidates if c >= reached)
    assert due >= reached
    assert due - reached <= timedelta(days=7, hours=3)


def test_a_weekday_wait_that_begins_at_its_very_time_is_up_at_once() -> None:
    # 2026-03-02 is a Monday; 10:00 in Berlin is 09:00 UTC.
    assert weekday_due(REACHED, [1], time(10), None, JOURNEY_ZONE) == REACHED
    assert weekday_due(REACHED, [1], time(9, 59), None, JOURNEY_ZONE) == REACHED + timedelta(
        days=7, minutes=-1)


def test_a_weekday_wait_inside_a_spring_forward_gap_moves_forward_by_the_gap() -> None:
    # Berlin springs forward on Sunday 2026-03-29: 02:30 does not exist, it is 03:30 CEST.
    due = weekday_due(REACHED, [7], time(2, 30), None, JOURNEY_ZONE)
    assert due == datetime(2026, 3, 8, 1, 30, tzinfo=UTC)  # a week before: CET
    due = weekday_due(datetime(2026, 3, 23, tzinfo=UTC), [7], time(2, 30), None, JOURNEY_ZONE)
    assert due == datetime(2026, 3, 29, 1, 30, tzinfo=UTC)
    assert due.astimezone(ZoneInfo(JOURNEY_ZONE)).time() == time(3, 30)


def test_a_contact_without_a_known_zone_waits_in_the_journeys_zone() -> None:
    for zone in (None, "Mars/Olympus"):
        assert weekday_due(REACHED, [2], time(9), zone, JOURNEY_ZONE) == weekday_due(
            REACHED, [2], time(9), JOURNEY_ZONE, JOURNEY_ZONE)
    assert weekday_due(REACHED, [2], time(9), "America/New_York", JOURNEY_ZONE) == datetime(
        2026, 3, 3, 14, tzinfo=UTC)


@given(zone_instants(), st.dates(date(1950, 1, 1), date(2030, 12, 31)),
       st.integers(-365, 365), CLOCKS)
def test_a_date_field_wait_is_up_on_its_date_at_its_time_or_at_once_once_past(
    zone_instant: tuple[str, datetime], value: date, offset: int, at: time
) -> None:
    zone, reached = zone_instant
    due = date_field_due(reached, value, offset, at, zone, JOURNEY_ZONE, yearly=False)
    assert due == max(reached, documented_instant(value + timedelta(days=offset), at, zone))


@given(zone_instants(), st.dates(date(1950, 1, 1), date(2030, 12, 31)),
       st.integers(-365, 365), CLOCKS)
def test_a_yearly_date_wait_is_up_at_the_next_anniversary_not_before_it_began(
    zone_instant: tuple[str, datetime], value: date, offset: int, at: time
) -> None:
    zone, reached = zone_instant
    due = date_field_due(reached, value, offset, at, zone, JOURNEY_ZONE, yearly=True)
    shift = timedelta(days=offset)
    year = reached.astimezone(ZoneInfo(zone)).year
    occurrences = [documented_instant(anniversary(value, y) + shift, at, zone)
                   for y in range(year - 3, year + 4)]
    assert due == min(o for o in occurrences if o >= reached)


def test_a_birthday_on_29_february_comes_round_on_the_28th_in_other_years() -> None:
    due = date_field_due(REACHED, date(2000, 2, 29), 0, time(9), "UTC", "UTC", yearly=True)
    assert due == datetime(2027, 2, 28, 9, tzinfo=UTC)


def test_a_date_wait_without_a_date_is_up_at_once() -> None:
    assert date_field_due(REACHED, None, 0, time(9), None, "UTC", yearly=True) == REACHED


@pytest.mark.parametrize(("value", "read"), [
    ("1990-04-01", date(1990, 4, 1)), ("1990-04-01T10:00:00+02:00", date(1990, 4, 1)),
    (date(1990, 4, 1), date(1990, 4, 1)), (datetime(1990, 4, 1, 23), date(1990, 4, 1)),
    ("01/04/1990", None), ("", None), (19900401, None), (None, None)])
def test_a_date_fields_value_is_read_as_a_date_or_none(value: object, read: date | None) -> None:
    assert field_date(value) == read


# --- email steps in the send window ---------------------------------------------------------


class Window:
    def __init__(self, start: time, end: time, weekdays: list[int]) -> None:
        self.start, self.end, self.weekdays = start, end, weekdays


@given(zone_instants(), CLOCKS, CLOCKS, WEEKDAYS)
def test_an_email_step_sends_at_once_inside_the_window_else_at_its_next_opening(
    zone_instant: tuple[str, datetime], start: time, end: time, weekdays: list[int]
) -> None:
    zone, reached = zone_instant
    if start == end:
        return  # not a window (rules.schedule.check_window)
    window = Window(start, end, weekdays)
    try:
        at = email_send_at(reached, zone, JOURNEY_ZONE, window)
    except ValueError:
        return  # a gap swallows every opening: no window to send in
    assert at >= reached
    assert is_inside(at, start, end, weekdays, zone)
    if at != reached:
        assert not is_inside(reached, start, end, weekdays, zone)
        assert not is_inside(at - timedelta(microseconds=1), start, end, weekdays, zone)


def test_an_email_step_without_a_window_sends_when_reached() -> None:
    assert email_send_at(REACHED, "Asia/Tokyo", JOURNEY_ZONE, None) == REACHED


def test_an_email_step_keeps_to_the_window_in_the_contacts_own_zone() -> None:
    window = Window(time(9), time(17), [1, 2, 3, 4, 5])
    # Monday 09:00 UTC: 18:00 in Tokyo (closed: Tuesday 09:00 there), 10:00 in Berlin (open).
    assert email_send_at(REACHED, "Asia/Tokyo", JOURNEY_ZONE, window) == datetime(
        2026, 3, 3, 0, tzinfo=UTC)
    assert email_send_at(REACHED, None, JOURNEY_ZONE, window) == REACHED


# --- branches -------------------------------------------------------------------------------

TIMED = st.sampled_from(["opened", "clicked", "link", "event"])


def timed(kind: str, within: timedelta) -> Engaged | LinkClicked | EventSeen:
    if kind in ("opened", "clicked"):
        return Engaged(kind, "email-1", within)  # type: ignore[arg-type]
    if kind == "link":
        return LinkClicked("email-1", "https://shop.example/a", within)
    return EventSeen("order.paid", within)


def facts_at(kind: str, moment: datetime) -> Facts:
    if kind == "opened":
        return Facts(opened={"email-1": moment})
    if kind == "clicked":
        return Facts(clicked={"email-1": moment})
    if kind == "link":
        return Facts(links={("email-1", "https://shop.example/a"): moment})
    return Facts(events={"order.paid": moment})


@given(TIMED, st.integers(0, 86_400 * 3), st.integers(-86_400, 86_400 * 4),
       st.none() | st.integers(-86_400, 86_400 * 4))
def test_a_branch_in_time_goes_then_once_the_fact_is_in_time_else_when_time_is_up(
    kind: str, within_s: int, now_s: int, fact_s: int | None
) -> None:
    within, now = timedelta(seconds=within_s), REACHED + timedelta(seconds=now_s)
    facts = Facts() if fact_s is None else facts_at(kind, REACHED + timedelta(seconds=fact_s))
    outcome = branch_outcome(timed(kind, within), facts, REACHED, now)
    deadline = REACHED + within
    if fact_s is not None and REACHED + timedelta(seconds=fact_s) <= deadline:
        assert outcome == BranchOutcome("then")
    elif now >= deadline:
        assert outcome == BranchOutcome("else")
    else:
        assert outcome == BranchOutcome(None, deadline)


def test_a_click_counts_as_an_open() -> None:
    clicked = Facts(clicked={"email-1": REACHED})
    assert branch_outcome(Engaged("opened", "email-1", timedelta()), clicked, REACHED,
                          REACHED).way == "then"
    opened = Facts(opened={"email-1": REACHED})
    assert branch_outcome(Engaged("clicked", "email-1", timedelta()), opened, REACHED,
                          REACHED).way == "else"


def test_a_link_is_matched_exactly_and_for_its_own_step() -> None:
    facts = Facts(links={("email-2", "https://shop.example/a"): REACHED})
    assert branch_outcome(LinkClicked("email-1", "https://shop.example/a", timedelta()), facts,
                          REACHED, REACHED).way == "else"


def test_a_tag_segment_or_field_branch_is_decided_when_reached() -> None:
    segment = uuid.UUID(int=9)
    facts = Facts(tags={"vip"}, segments={segment}, fields={"plan": "pro", "score": 4})
    later = REACHED + timedelta(days=1)
    assert branch_outcome(HasTag("vip"), facts, REACHED, REACHED) == BranchOutcome("then")
    assert branch_outcome(HasTag("new"), facts, REACHED, REACHED) == BranchOutcome("else")
    assert branch_outcome(InSegment(segment), facts, REACHED, later).way == "then"
    assert branch_outcome(InSegment(uuid.UUID(int=1)), facts, REACHED, REACHED).way == "else"
    assert branch_outcome(FieldIs("score", "greater", 3), facts, REACHED, REACHED).way == "then"
    assert branch_outcome(FieldIs("plan", "equals", "free"), facts, REACHED,
                          REACHED).way == "else"


@pytest.mark.parametrize(("op", "expected", "actual", "matches"), [
    ("is_set", None, "x", True), ("is_set", None, "", False), ("is_set", None, None, False),
    ("is_not_set", None, None, True), ("is_not_set", None, 0, False),
    ("equals", "pro", "pro", True), ("equals", "pro", "Pro", False),
    ("equals", 3, 3.0, True), ("equals", 3, "3", False), ("equals", True, True, True),
    ("equals", True, 1, False), ("equals", 1, True, False),
    ("not_equals", "pro", "free", True), ("not_equals", "pro", None, False),
    ("contains", "ro", "pro", True), ("contains", 1, 12, False),
    ("greater", 3, 4, True), ("greater", 3, 3, False), ("less", 3, 2.5, True),
    ("greater", "2026-01-01", "2026-03-02", True), ("less", "2026-01-01", "2026-03-02", False),
    ("greater", True, True, False),
])
def test_a_field_condition_compares_like_values_only(
    op: str, expected: object, actual: object, matches: bool
) -> None:
    assert field_matches(op, expected, actual) is matches  # type: ignore[arg-type]


# --- entering and leaving -------------------------------------------------------------------


def test_unsubscribed_bounced_complained_and_suppressed_contacts_always_exit() -> None:
    for status in ("unsubscribed", "bounced", "complained"):
        assert must_exit(status, suppressed=False)
    assert must_exit("subscribed", suppressed=True)
    assert not must_exit("subscribed", suppressed=False)


DAY = timedelta(days=1)


def test_once_lets_a_contact_in_only_the_first_time() -> None:
    assert may_enter("once", DAY, now=REACHED, last_entered_at=None, last_exited_at=None,
                     active=False)
    assert not may_enter("once", timedelta(), now=REACHED, last_entered_at=REACHED - 9 * DAY,
                         last_exited_at=REACHED - 8 * DAY, active=False)


def test_after_exit_waits_for_the_last_enrollment_to_end_and_the_gap_to_pass() -> None:
    kwargs = {"now": REACHED, "last_entered_at": REACHED - 5 * DAY}
    assert not may_enter("after_exit", DAY, last_exited_at=None, active=True, **kwargs)
    assert not may_enter("after_exit", DAY, last_exited_at=REACHED - DAY / 2, active=False,
                         **kwargs)
    assert may_enter("after_exit", DAY, last_exited_at=REACHED - DAY, active=False, **kwargs)


def test_always_lets_a_contact_in_again_the_gap_after_the_last_entry() -> None:
    assert may_enter("always", DAY, now=REACHED, last_entered_at=REACHED - DAY,
                     last_exited_at=None, active=True)
    assert not may_enter("always", DAY, now=REACHED, last_entered_at=REACHED - DAY / 2,
                         last_exited_at=None, active=True)


def test_a_branchs_time_and_a_reentry_gap_are_elapsed_time_over_a_change_of_clocks() -> None:
    berlin = ZoneInfo(JOURNEY_ZONE)
    # 01:30 CET on the night Berlin springs forward: 01:30 the next night is a day later by
    # the wall clock but only 23 hours later.
    reached = datetime(2026, 3, 29, 1, 30, tzinfo=berlin)
    outcome = branch_outcome(EventSeen("order.paid", DAY), Facts(), reached, reached)
    assert outcome.recheck_at == reached.astimezone(UTC) + DAY
    assert not may_enter("always", DAY, now=datetime(2026, 3, 30, 1, 30, tzinfo=berlin),
                         last_entered_at=reached, last_exited_at=None, active=True)
