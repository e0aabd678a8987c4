"""Schedule rules: which local dates and times a campaign's emails go out. Pure, no I/O.

The scheduler plans with these rules and the dashboard's form previews with them; the rules
are documented in docs/architecture.md, "Scheduling semantics".

A campaign that starts now (`start_immediately`) sends email 1 at its start; every other
email takes the next cadence slot: `send_time` in the campaign's time zone on an allowed day.
A local date never gets two emails, so a campaign that starts now has its first cadence slot
on a later day. A cadence slot is never earlier than the start.

Weekly cadences: `weekly_days` are the allowed ISO weekdays; `weekly_emails` (when smaller)
says how many of them are used every week, the ones spread most evenly around the week
(`rules.weekdays.send_days`): 2 emails on days [1, 3, 5] send on Monday and Friday.

Daylight saving: a local send time that does not exist (spring forward) moves forward by the
gap (02:30 becomes 03:30); one that occurs twice (fall back) is sent at its first occurrence.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from itertools import chain, islice
from typing import Protocol
from zoneinfo import ZoneInfo

from dateutil.relativedelta import relativedelta
from dateutil.rrule import DAILY, WEEKLY, rrule, weekday

from rules.schedule import campaign_start
from rules.weekdays import cadence_days

# A year of daily emails; also bounds work on a pathological schedule.
MAX_EMAILS = 10_000


class ScheduleFields(Protocol):
    """What a schedule says; the events' `Schedule` is one."""

    @property
    def schedule_type(self) -> str: ...
    @property
    def weekly_days(self) -> Sequence[int]: ...
    @property
    def weekly_emails(self) -> int | None: ...
    @property
    def total_months(self) -> int | None: ...
    @property
    def total_emails(self) -> int | None: ...
    @property
    def start_at(self) -> datetime: ...
    @property
    def start_immediately(self) -> bool: ...
    @property
    def send_time(self) -> time: ...
    @property
    def timezone(self) -> str: ...


@dataclass(frozen=True)
class Rule:
    """A schedule resolved into rule form."""

    kind: str
    weekdays: tuple[int, ...]  # the ISO weekdays emails go out on
    start: datetime  # aware, in the campaign's time zone
    send_time: time
    zone: ZoneInfo
    total_emails: int | None
    end: datetime | None  # exclusive, in the campaign's time zone
    immediate: bool  # email 1 goes at the start itself

    @classmethod
    def from_schedule(cls, schedule: ScheduleFields) -> Rule:
        return cls.of(
            kind=schedule.schedule_type, weekly_days=schedule.weekly_days,
            weekly_emails=schedule.weekly_emails, total_months=schedule.total_months,
            total_emails=schedule.total_emails, start_at=schedule.start_at,
            immediate=schedule.start_immediately, send_time=schedule.send_time,
            timezone=schedule.timezone)

    @classmethod
    def of(
        cls, *, kind: str, weekly_days: Sequence[int], weekly_emails: int | None,
        total_months: int | None, total_emails: int | None, start_at: datetime,
        immediate: bool, send_time: time, timezone: str,
    ) -> Rule:
        zone = ZoneInfo(timezone)
        start = start_at.astimezone(zone)
        days = cadence_days(kind, weekly_days, weekly_emails)
        end = start + relativedelta(months=total_months) if total_months else None
        return cls(kind, days, start, send_time, zone, total_emails, end, immediate)


def resolve_local(day: date, send_time: time, zone: ZoneInfo) -> datetime:
    """The instant of `send_time` on `day` in `zone`, with the documented DST behaviour."""
    # fold=0 is the first of two repeated times; for a time inside a gap it carries the
    # offset from before the gap, so the round trip through UTC lands after the gap.
    local = datetime.combine(day, send_time, tzinfo=zone)
    return local.astimezone(UTC).astimezone(zone)


def _candidate_days(rule: Rule) -> Iterator[date]:
    """Allowed local dates from the start's date on, as dateutil's rrule enumerates them."""
    # rrule walks calendar dates, so DST never shifts the date.
    midnight = datetime.combine(rule.start.date(), time())
    if rule.kind == "daily":
        days = rrule(DAILY, dtstart=midnight)
    else:
        days = rrule(WEEKLY, dtstart=midnight, byweekday=[weekday(d - 1) for d in rule.weekdays])
    return (day.date() for day in days)


def _allowed_days_from(rule: Rule, first: date) -> Iterator[date]:
    """The same dates as `_candidate_days`, from `first` on, by stepping through the calendar:
    a short walk costs a fraction of building an rrule, and the property tests hold the two
    equal."""
    allowed = set(rule.weekdays)
    day = first
    while True:
        if day.isoweekday() in allowed:
            yield day
        day += _ONE_DAY


_ONE_DAY = timedelta(days=1)


def _slots(rule: Rule, days: Iterator[date]) -> Iterator[datetime]:
    """Cadence slots on the allowed local dates `days`, in the campaign's zone."""
    start = rule.start.astimezone(UTC)
    start_date = rule.start.date()
    for day in days:
        if rule.immediate and day == start_date:
            continue  # email 1 goes out on this date already
        at = resolve_local(day, rule.send_time, rule.zone)
        # Compared as instants: datetimes sharing a zone compare by wall clock, which puts
        # the first 02:30 of a fall-back day after a start at the second 02:15.
        if at.astimezone(UTC) >= start:
            yield at


def send_times(rule: Rule) -> Iterator[datetime]:
    """Every slot of the campaign in order, as aware UTC datetimes, up to its end date.

    A campaign that starts now has its first slot at its start; the others are cadence slots.
    The count limit (`total_emails`) is applied to sequence numbers, not here, because slots
    that pass while a campaign is paused are dropped without using up a sequence number.
    """
    times = _slots(rule, _candidate_days(rule))
    if rule.immediate:
        times = chain([rule.start], times)
    for at in islice(times, MAX_EMAILS * 2):
        if rule.end is not None and at >= rule.end:
            return
        yield at.astimezone(UTC)


def slot_time(rule: Rule, index: int) -> datetime | None:
    """The time of slot `index` (0-based), or None past the end. Walks every earlier slot:
    the reference for `slot_after`, and for the rare lookups that need an index."""
    return next(islice(send_times(rule), index, None), None)


def _following(rule: Rule, current: datetime, index: int) -> Iterator[datetime]:
    """The slots after slot `index`, which is at `current`, as aware UTC datetimes.

    Slots strictly increase and a local date has at most one cadence slot, so these are the
    cadence slots after `current`: a walk of a few days of the rule instead of every earlier
    slot. It begins the day before `current`'s local date because a send time pushed over
    midnight by a DST gap belongs to the day before.
    """
    first = current.astimezone(rule.zone).date() - _ONE_DAY
    for at in _slots(rule, _allowed_days_from(rule, max(first, rule.start.date()))):
        if index + 1 >= MAX_EMAILS * 2 or (rule.end is not None and at >= rule.end):
            return
        utc = at.astimezone(UTC)
        if utc > current:
            index += 1
            yield utc


def slot_after(rule: Rule, current: datetime, index: int) -> datetime | None:
    """`slot_time(rule, index + 1)` given slot `index` at `current`, in O(1) days of rule."""
    return next(_following(rule, current, index), None)


def upcoming(rule: Rule, current: datetime, index: int, count: int) -> list[datetime]:
    """Up to `count` slots from slot `index` (at `current`) on, in one walk."""
    return list(islice(chain([current], _following(rule, current, index)), count))


def slot_from(
    rule: Rule, moment: datetime, index: int, at: datetime
) -> tuple[int, datetime] | None:
    """The first slot at or after `moment`, walking on from slot `index` at `at`: what a
    resume needs, at the cost of the slots that passed while paused."""
    for offset, candidate in enumerate(chain([at], _following(rule, at, index))):
        if candidate >= moment:
            return index + offset, candidate
    return None


def first_slot_from(
    rule: Rule, moment: datetime, *, min_index: int = 0
) -> tuple[int, datetime] | None:
    """The first slot at or after `moment` whose index is at least `min_index`."""
    for index, at in enumerate(send_times(rule)):
        if index >= min_index and at >= moment:
            return index, at
    return None


def total_emails(rule: Rule) -> int:
    # Count no further than needed: walking all MAX_EMAILS slots of an open-ended schedule
    # costs tens of milliseconds of event-loop time per campaign event.
    limit = min(rule.total_emails or MAX_EMAILS, MAX_EMAILS)
    return sum(1 for _ in islice(send_times(rule), limit))


def planned_send_times(rule: Rule, count: int = 5) -> list[datetime]:
    return list(islice(send_times(rule), min(count, total_emails(rule))))


@dataclass(frozen=True)
class Draft:
    """A schedule as a form holds it before the campaign exists: the start may be missing
    or a wall-clock time in `timezone`, and it is resolved against the moment of asking."""

    schedule_type: str
    weekly_days: tuple[int, ...]
    weekly_emails: int | None
    total_months: int | None
    total_emails: int | None
    start_at: datetime | None  # wall clock in `timezone` when naive
    send_time: time
    timezone: str

    def rule(self, now: datetime) -> Rule:
        start, immediate = campaign_start(self.start_at, self.timezone, now)
        return Rule.of(
            kind=self.schedule_type, weekly_days=self.weekly_days,
            weekly_emails=self.weekly_emails, total_months=self.total_months,
            total_emails=self.total_emails, start_at=start, immediate=immediate,
            send_time=self.send_time, timezone=self.timezone)


def preview(draft: Draft, now: datetime, count: int = 5) -> list[datetime]:
    """The first `count` send times of a campaign created from `draft` at `now`, in the
    campaign's zone: what the scheduler would plan."""
    rule = draft.rule(now)
    return [at.astimezone(rule.zone) for at in planned_send_times(rule, count)]
