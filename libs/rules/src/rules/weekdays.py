"""ISO weekdays as people give them, and which of a weekly cadence's days are used.

`weekly_emails` smaller than the number of `weekly_days` means that many emails a week on
some of those days. The days used are the ones spread most evenly around the week: of all
choices of that many days, the one whose gaps between consecutive days (counted around the
week, Sunday to Monday included) are most even, that is whose smallest gap is largest, then
whose second-smallest gap is largest, and so on. Of equally even choices the one that comes
first in the week wins (the smallest list of ISO weekdays), so the choice never depends on
the order the days were given in. The design's example, 2 emails on Monday, Wednesday and
Friday, sends on Monday and Friday (gaps of 4 and 3 days), not Monday and Wednesday (2 and 5).
"""

from __future__ import annotations

from collections.abc import Iterable
from functools import cache
from itertools import combinations

NAMES = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
# "mon" and "monday" (any case) both name Monday.
_BY_NAME = {name: number for number, full in enumerate(NAMES, start=1)
            for name in (full, full[:3])}
ABBREVIATIONS = tuple(full[:3].capitalize() for full in NAMES)

NOT_A_WEEKDAY = "not a weekday; use 1-7 (Monday is 1) or mon..sun"


def weekday_number(value: object) -> int:
    """An ISO weekday from 1..7 or a name ("tue", "Tuesday"); ValueError for anything else.

    Only an integer or a string is read: JSON's true, 1.5, null, [] and {} are refused here
    rather than coerced (pydantic would take true for 1). The range is checked after this.
    """
    if isinstance(value, bool):
        raise ValueError(NOT_A_WEEKDAY)
    if isinstance(value, int):
        return value
    if isinstance(value, str):
        number = _BY_NAME.get(value.strip().lower())
        if number is not None:
            return number
    raise ValueError(NOT_A_WEEKDAY)


def circular_gaps(days: Iterable[int]) -> tuple[int, ...]:
    """Days from each of `days` to the next one around the week; one day alone: (7,)."""
    ordered = sorted(set(days))
    return tuple((ordered[(i + 1) % len(ordered)] - day) % 7 or 7
                 for i, day in enumerate(ordered))


def send_days(weekly_days: Iterable[int], weekly_emails: int | None) -> tuple[int, ...]:
    """The ISO weekdays a weekly cadence sends on, in week order (see the module's rule)."""
    return _choose(tuple(sorted(set(weekly_days))), weekly_emails)


def cadence_days(
    schedule_type: str, weekly_days: Iterable[int], weekly_emails: int | None
) -> tuple[int, ...]:
    """The ISO weekdays a schedule sends on: every day for a daily one."""
    return send_days(weekly_days, weekly_emails) if schedule_type == "weekly" else EVERY_DAY


EVERY_DAY = (1, 2, 3, 4, 5, 6, 7)


@cache
def _choose(days: tuple[int, ...], count: int | None) -> tuple[int, ...]:
    if count is None or count >= len(days):
        return days
    if count < 1:
        raise ValueError("weekly_emails: at least 1")
    # At most 35 choices (7 days choose 3 or 4): trying them all is cheap and plainly right.
    # combinations() yields in lexicographic order and max() keeps the first of equals.
    return max(combinations(days, count), key=lambda c: sorted(circular_gaps(c)))
