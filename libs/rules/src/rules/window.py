"""Send windows: the hours and weekdays a campaign may deliver in, reckoned in a zone. Pure.

A window (`start`, `end`, `weekdays`) opens on every local date whose ISO weekday is in
`weekdays`, at `start` on that date, and closes at `end` on that date; when `end` is before
`start` it spans midnight and closes at `end` on the next date (the weekday is the one of the
date it opened on: a Friday 22:00-06:00 window runs from Friday night into Saturday morning).

A window's opening and closing are instants, found as the cadence finds a send time
(`rules.cadence.resolve_local`): a time inside a daylight-saving gap moves forward by the gap
(an opening at 02:30 on a spring-forward night opens at 03:30), and a time that occurs twice
is taken at its first occurrence. An instant is inside when it lies in [opening, closing) of
some date. On the rare night a gap swallows a window whole (02:15-02:45 when 02:00 jumps to
03:00) the window has no opening that date.

`next_opening` is what a delivery due outside the window is moved to; the validity of a window
(not empty, weekdays once each) is `rules.schedule.check_window`.
"""

from __future__ import annotations

from collections.abc import Collection, Iterator
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from rules.cadence import resolve_local

_ONE_DAY = timedelta(days=1)
# Every weekday recurs within a week, and a gap swallows a window on at most a date or two a
# year; a search past this many dates means the window has no opening at all.
_SEARCH_DAYS = 400


def spans_midnight(start: time, end: time) -> bool:
    """Whether a window with these bounds closes on the date after it opens."""
    return end < start


def _occurrence(
    day: date, start: time, end: time, zone: ZoneInfo
) -> tuple[datetime, datetime] | None:
    """The window opened on local date `day` as [opening, closing) in UTC; None when a
    daylight-saving gap leaves it empty."""
    opening = resolve_local(day, start, zone).astimezone(UTC)
    closes_on = day + _ONE_DAY if spans_midnight(start, end) else day
    closing = resolve_local(closes_on, end, zone).astimezone(UTC)
    return (opening, closing) if opening < closing else None


def occurrences(
    after: datetime, start: time, end: time, weekdays: Collection[int], zone: str
) -> Iterator[tuple[datetime, datetime]]:
    """The window's non-empty occurrences, in order, from the last one that may still be open
    at `after` on: every one that closes after `after` is among them."""
    tz = ZoneInfo(zone)
    allowed = frozenset(weekdays)
    # Two dates back: a window that spans midnight opened the date before, and a fold at
    # midnight can show an instant a local date later than an earlier-opened window's.
    day = after.astimezone(tz).date() - 2 * _ONE_DAY
    for _ in range(_SEARCH_DAYS):
        if day.isoweekday() in allowed:
            found = _occurrence(day, start, end, tz)
            if found is not None:
                yield found
        day += _ONE_DAY


def next_opening(
    instant: datetime, start: time, end: time, weekdays: Collection[int], zone: str
) -> datetime:
    """`instant` itself when it is inside the window, else the window's next opening (UTC).

    `instant` must be aware; ValueError when the window never opens (no weekdays).
    """
    if instant.tzinfo is None:
        raise ValueError("instant: an aware datetime")
    for opening, closing in occurrences(instant, start, end, weekdays, zone):
        if instant < closing:
            return instant if opening <= instant else opening
    raise ValueError("send_window: the window never opens")


def is_inside(
    instant: datetime, start: time, end: time, weekdays: Collection[int], zone: str
) -> bool:
    """Whether `instant` lies inside the window."""
    return next_opening(instant, start, end, weekdays, zone) == instant
