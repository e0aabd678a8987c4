"""The next send times of a campaign being edited, for the form's live preview. Pure.

The scheduler owns these rules (docs/architecture.md, "Scheduling semantics") and services do not
import each other, so this is a compact second implementation of the same rules:

- a start that is missing or not in the future sends email 1 at once, and no other email goes
  out on that local date;
- every other email takes `send_time` in the campaign's zone on the next allowed date; weekly
  cadences use the first `weekly_emails` of the sorted ISO weekdays;
- a send time in a spring-forward gap moves forward by the gap, a repeated one takes its first
  occurrence;
- the campaign ends after `total_emails` emails or before `start + total_months`.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from itertools import islice
from typing import Literal
from zoneinfo import ZoneInfo

from dateutil.relativedelta import relativedelta

# Far enough to find five slots of any valid cadence, short enough to bound a request.
_HORIZON_DAYS = 400


@dataclass(frozen=True)
class Cadence:
    schedule_type: Literal["daily", "weekly"]
    weekly_days: tuple[int, ...]
    weekly_emails: int | None
    total_emails: int | None
    total_months: int | None
    start_at: datetime | None  # wall clock in `zone` when naive
    send_time: time
    zone: ZoneInfo

    def allowed_weekdays(self) -> frozenset[int]:
        if self.schedule_type == "daily":
            return frozenset(range(1, 8))
        days = sorted(set(self.weekly_days))
        return frozenset(days[: self.weekly_emails or len(days)])


def wall_clock(day: date, at: time, zone: ZoneInfo) -> datetime:
    """`at` on `day` in `zone`; fold=0 plus a round trip through UTC gives the DST rules above."""
    return datetime.combine(day, at, tzinfo=zone).astimezone(UTC).astimezone(zone)


def _slots(cadence: Cadence, start: datetime, immediate: bool) -> Iterator[datetime]:
    allowed = cadence.allowed_weekdays()
    if immediate:
        yield start
    for offset in range(_HORIZON_DAYS):
        day = start.date() + timedelta(days=offset)
        if day.isoweekday() not in allowed or (immediate and day == start.date()):
            continue
        at = wall_clock(day, cadence.send_time, cadence.zone)
        if at >= start:  # aware datetimes compare as instants
            yield at


def next_send_times(cadence: Cadence, now: datetime, count: int = 5) -> list[datetime]:
    """The first `count` send times, in the campaign's zone."""
    given = cadence.start_at
    if given is not None and given.tzinfo is None:
        given = given.replace(tzinfo=cadence.zone)
    immediate = given is None or given <= now
    start = now.astimezone(cadence.zone) if given is None or immediate else given.astimezone(
        cadence.zone)
    end = start + relativedelta(months=cadence.total_months) if cadence.total_months else None
    limit = min(count, cadence.total_emails) if cadence.total_emails else count
    times = (at for at in _slots(cadence, start, immediate) if end is None or at < end)
    return list(islice(times, limit))
