"""What happens to an enrollment at each step of a journey: when a wait is up, when an email
step's email goes, which way a branch goes and when to look again. Pure: the scheduler passes
the clock and the contact's facts in as plain data (`Facts`), and the dashboard's preview runs
the same code.

Zones: every local time is reckoned in the contact's zone, the journey's (its schedule's
`timezone`) where the contact has none or an unknown one (`rules.sendtime.contact_zone`).
Daylight saving is treated as the cadence treats it (`rules.cadence.resolve_local`): a time
inside a gap moves forward by the gap, one that occurs twice is taken at its first occurrence.

- A duration wait is up exactly `seconds` after the step was reached: elapsed time, so a wait
  of a day over a change of clocks is 24 hours, not the same wall-clock time (`duration_due`).
- A weekday wait is up at the first of its weekdays' `at` that is not before the step was
  reached (that very instant counts), in the contact's zone (`weekday_due`).
- A date-field wait is up at the field's date plus `offset_days` at `at`, or the step's own
  time when that has passed or the contact has no such date; a `yearly` one (and a date
  trigger) at the next anniversary not before then; 29 February is the 28th in other years
  (`date_field_due`, `field_date` reads a field's value).
- An email step's email goes when the step is reached, moved to the next opening of the
  journey's send window in the contact's zone (`email_send_at`, by `rules.window`).
- A branch on a fact in time (opened, clicked, a link clicked, an event) goes `then` as soon as
  the fact is known to have happened by `within` after the branch was reached, and `else` once
  that time is up without it; until then it is pending and is looked at again at its deadline,
  or sooner when a fact arrives (`branch_outcome`). A branch on a field, tag or segment is
  decided when reached. Only human engagement is passed in as `Facts`.
- Unsubscribed, bounced, complained and suppressed contacts always exit (`must_exit`); who may
  enter again follows the journey's re-entry policy (`may_enter`).
"""

from __future__ import annotations

import uuid
from collections.abc import Collection, Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import Literal, Protocol
from zoneinfo import ZoneInfo

from dateutil.relativedelta import relativedelta

from rules.cadence import resolve_local
from rules.sendtime import contact_zone
from rules.window import next_opening

FieldOp = Literal["equals", "not_equals", "contains", "greater", "less", "is_set", "is_not_set"]
FieldValue = str | float | bool | None
Way = Literal["then", "else"]
ReentryPolicy = Literal["once", "after_exit", "always"]
# Contact statuses that end every enrollment of the contact at once.
EXIT_STATUSES = frozenset({"unsubscribed", "bounced", "complained"})
_ONE_DAY = timedelta(days=1)


# --- conditions, as the graph's models give them (`contracts.journeys` `.rule()`) ----------


@dataclass(frozen=True)
class Engaged:
    """Opened (or clicked) email step `step`, humanly."""

    kind: Literal["opened", "clicked"]
    step: str
    within: timedelta


@dataclass(frozen=True)
class LinkClicked:
    """Clicked link `url` (exactly as written in the email) of email step `step`."""

    step: str
    url: str
    within: timedelta


@dataclass(frozen=True)
class EventSeen:
    name: str
    within: timedelta


@dataclass(frozen=True)
class FieldIs:
    field: str
    op: FieldOp
    value: FieldValue


@dataclass(frozen=True)
class HasTag:
    tag: str


@dataclass(frozen=True)
class InSegment:
    segment_id: uuid.UUID


Condition = Engaged | LinkClicked | EventSeen | FieldIs | HasTag | InSegment


@dataclass(frozen=True)
class Facts:
    """What a branch may ask about one enrollment's contact, as known at the moment of asking:
    the first time of each fact during this enrollment, and the contact's state now."""

    opened: Mapping[str, datetime] = field(default_factory=dict)  # email step id -> first open
    clicked: Mapping[str, datetime] = field(default_factory=dict)  # email step id -> first click
    links: Mapping[tuple[str, str], datetime] = field(default_factory=dict)  # (step id, url)
    events: Mapping[str, datetime] = field(default_factory=dict)  # name -> first since entry
    tags: Collection[str] = frozenset()
    fields: Mapping[str, object] = field(default_factory=dict)
    segments: Collection[uuid.UUID] = frozenset()


@dataclass(frozen=True)
class BranchOutcome:
    """`way` taken, or None while pending: then look again at `recheck_at` at the latest."""

    way: Way | None
    recheck_at: datetime | None = None


def branch_outcome(condition: Condition, facts: Facts, reached_at: datetime,
                   now: datetime) -> BranchOutcome:
    """Which way a branch reached at `reached_at` goes, asked at `now`."""
    if isinstance(condition, FieldIs):
        matched = field_matches(condition.op, condition.value,
                                facts.fields.get(condition.field))
        return BranchOutcome("then" if matched else "else")
    if isinstance(condition, HasTag):
        return BranchOutcome("then" if condition.tag in facts.tags else "else")
    if isinstance(condition, InSegment):
        return BranchOutcome("then" if condition.segment_id in facts.segments else "else")
    held_at = _held_at(condition, facts)
    deadline = reached_at.astimezone(UTC) + condition.within
    if held_at is not None and held_at <= deadline:
        return BranchOutcome("then")
    if now >= deadline:
        return BranchOutcome("else")
    return BranchOutcome(None, deadline)


def _held_at(condition: Engaged | LinkClicked | EventSeen, facts: Facts) -> datetime | None:
    if isinstance(condition, Engaged):
        seen = facts.opened if condition.kind == "opened" else facts.clicked
        opened = seen.get(condition.step)
        if condition.kind == "opened":
            # A click is an open too: an image-blocking client shows no open of its own.
            clicked = facts.clicked.get(condition.step)
            return min((t for t in (opened, clicked) if t is not None), default=None)
        return opened
    if isinstance(condition, LinkClicked):
        return facts.links.get((condition.step, condition.url))
    return facts.events.get(condition.name)


def _number(value: object) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value)


def field_matches(op: FieldOp, expected: FieldValue, actual: object) -> bool:
    """Whether a contact's field value `actual` satisfies `op expected`.

    Set means present and not empty text. Numbers compare as numbers, booleans only for
    (not) equal, text exactly (case-sensitive), ISO dates as their text (so greater and less
    order them); a value of another type than `expected` never matches, and not_equals is
    "set and not equal"."""
    is_set = actual is not None and actual != ""
    if op == "is_set":
        return is_set
    if op == "is_not_set":
        return not is_set
    if not is_set:
        return False
    if op == "not_equals":
        return not field_matches("equals", expected, actual)
    if isinstance(expected, bool) or isinstance(actual, bool):
        return (op == "equals" and isinstance(actual, bool) and isinstance(expected, bool)
                and actual == expected)
    want, have = _number(expected), _number(actual)
    if want is not None or have is not None:
        if want is None or have is None:
            return False
        return {"equals": have == want, "greater": have > want,
                "less": have < want}.get(op, False)
    if not isinstance(expected, str) or not isinstance(actual, str):
        return False
    return {"equals": actual == expected, "contains": expected in actual,
            "greater": actual > expected, "less": actual < expected}.get(op, False)


# --- waits and send times --------------------------------------------------------------------


def duration_due(reached_at: datetime, seconds: int) -> datetime:
    """When a duration wait reached at `reached_at` is up (UTC)."""
    # In UTC: arithmetic on a zoned datetime is wall-clock arithmetic, off by a change of clocks.
    return reached_at.astimezone(UTC) + timedelta(seconds=seconds)


def weekday_due(reached_at: datetime, weekdays: Collection[int], at: time,
                zone: str | None, journey_zone: str) -> datetime:
    """The first of `weekdays` (ISO) at local time `at` not before `reached_at` (UTC)."""
    if not weekdays:
        raise ValueError("weekdays: at least one")
    tz = ZoneInfo(contact_zone(zone, journey_zone))
    allowed = frozenset(weekdays)
    # From the date before: a time pushed over midnight by a gap belongs to the date before.
    day = reached_at.astimezone(tz).date() - _ONE_DAY
    while True:
        if day.isoweekday() in allowed:
            due = resolve_local(day, at, tz).astimezone(UTC)
            if due >= reached_at:
                return due
        day += _ONE_DAY


def field_date(value: object) -> date | None:
    """A date field's value as a date: a date, or ISO text ("1990-04-01", or a date and time);
    None for anything else, and a wait on it is then up at once."""
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    if isinstance(value, str):
        try:
            return date.fromisoformat(value.strip()[:10])
        except ValueError:
            return None
    return None


def anniversary(value: date, year: int) -> date:
    """`value`'s month and day in `year`; 29 February is the 28th in other years."""
    return value + relativedelta(years=year - value.year)


def date_field_due(reached_at: datetime, value: date | None, offset_days: int, at: time,
                   zone: str | None, journey_zone: str, *, yearly: bool) -> datetime:
    """When a wait until a date field (or a date trigger, `yearly`) reached at `reached_at`
    is up (UTC): see the module's rule."""
    start = reached_at.astimezone(UTC)
    if value is None:
        return start
    tz = ZoneInfo(contact_zone(zone, journey_zone))
    offset = timedelta(days=offset_days)
    if not yearly:
        return max(start, resolve_local(value + offset, at, tz).astimezone(UTC))
    year = reached_at.astimezone(tz).year
    # The offset moves a year's date by up to a year either way: three years each side cover
    # the next one after any instant.
    for candidate in range(year - 3, year + 4):
        due = resolve_local(anniversary(value, candidate) + offset, at, tz).astimezone(UTC)
        if due >= start:
            return due
    raise AssertionError("an anniversary comes every year")  # pragma: no cover


class WindowFields(Protocol):
    """A send window as `contracts.events.SendWindow` has it."""

    @property
    def start(self) -> time: ...
    @property
    def end(self) -> time: ...
    @property
    def weekdays(self) -> Collection[int]: ...


def email_send_at(reached_at: datetime, zone: str | None, journey_zone: str,
                  window: WindowFields | None) -> datetime:
    """When an email step reached at `reached_at` sends (UTC): at once, or at the window's
    next opening in the contact's zone when it is closed then."""
    start = reached_at.astimezone(UTC)
    if window is None:
        return start
    return next_opening(start, window.start, window.end, window.weekdays,
                        contact_zone(zone, journey_zone)).astimezone(UTC)


# --- entering and leaving -------------------------------------------------------------------


def must_exit(status: str, *, suppressed: bool) -> bool:
    """Whether a contact leaves every journey now, whatever its step."""
    return suppressed or status in EXIT_STATUSES


def may_enter(policy: ReentryPolicy, min_gap: timedelta, *, now: datetime,
              last_entered_at: datetime | None, last_exited_at: datetime | None,
              active: bool) -> bool:
    """Whether a contact the trigger fires for enters (again) at `now`.

    once: never entered before; after_exit: no enrollment active and `min_gap` since the last
    one ended; always: `min_gap` since the last entry, even with one still active (each
    entry its own enrollment)."""
    if last_entered_at is None:
        return True
    # Elapsed time, in UTC: zoned datetimes sharing a zone subtract by wall clock.
    now, last_entered_at = now.astimezone(UTC), last_entered_at.astimezone(UTC)
    if policy == "once":
        return False
    if policy == "after_exit":
        return not active and (last_exited_at is None
                               or now - last_exited_at.astimezone(UTC) >= min_gap)
    return now - last_entered_at >= min_gap
