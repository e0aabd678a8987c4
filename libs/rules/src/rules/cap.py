"""The frequency cap: at most N campaign emails per contact in any rolling 24 hours and any
rolling 7 days, across a workspace's campaigns. Pure, no I/O.

An email counts from the instant it was sent (or claimed for sending) for exactly one period:
one sent Monday 10:00 counts against a daily cap until Tuesday 10:00, when the next one fits.
Transactional mail never counts; which emails count is the caller's to say.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime, timedelta

DAY = timedelta(days=1)
WEEK = timedelta(days=7)


def _fits_from(sent: list[datetime], cap: int | None, period: timedelta) -> datetime | None:
    """The earliest instant the rolling `period` holds fewer than `cap` of `sent`, which is
    sorted newest first; None when it already does (or there is no cap)."""
    if cap is None or len(sent) < cap:
        return None
    # Once the cap-th newest email is a whole period old, at most cap - 1 are within it.
    return sent[cap - 1] + period


def next_fit(
    sent: Iterable[datetime], now: datetime, *, per_day: int | None, per_week: int | None
) -> datetime | None:
    """None when one more email may go to the contact at `now`, else the earliest instant it
    may. `sent` are the instants the contact's capped emails were sent or are being sent;
    one later than `now` (a clock a little ahead) counts as if sent at that instant."""
    if (per_day is not None and per_day < 1) or (per_week is not None and per_week < 1):
        raise ValueError("a frequency cap is at least 1 (None: no cap)")
    newest_first = sorted(sent, reverse=True)
    fits = [at for at in (_fits_from(newest_first, per_day, DAY),
                          _fits_from(newest_first, per_week, WEEK)) if at is not None]
    earliest = max(fits, default=now)
    return earliest if earliest > now else None


def describe(per_day: int | None, per_week: int | None) -> str:
    """The reason a delivery over the cap records, naming the workspace's caps."""
    caps = [f"{per_day} a day" if per_day is not None else "",
            f"{per_week} a week" if per_week is not None else ""]
    return "frequency cap: " + ", ".join(c for c in caps if c)
