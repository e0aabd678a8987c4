"""The frequency cap: properties against the rule as written (a count over a rolling period),
evaluated directly at the instants around the answer."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from rules.cap import DAY, WEEK, describe, next_fit

NOW = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)
# Sends within the last 8 days, a few a moment ahead of `now` (in flight on another clock).
SENT = st.lists(st.integers(-8 * 86_400, 120).map(lambda s: NOW + timedelta(seconds=s)),
                max_size=30)
CAPS = st.none() | st.integers(1, 6)


def fits_at(moment: datetime, sent: list[datetime], per_day: int | None,
            per_week: int | None) -> bool:
    """One more fits at `moment` when each rolling period ending then holds fewer than its
    cap (an email counts for a whole period from its instant)."""
    in_day = sum(1 for s in sent if s > moment - DAY)
    in_week = sum(1 for s in sent if s > moment - WEEK)
    return (per_day is None or in_day < per_day) and (per_week is None or in_week < per_week)


@given(SENT, CAPS, CAPS)
def test_none_exactly_when_one_more_fits_now_else_the_earliest_instant_it_fits(
    sent: list[datetime], per_day: int | None, per_week: int | None
) -> None:
    result = next_fit(sent, NOW, per_day=per_day, per_week=per_week)
    if result is None:
        assert fits_at(NOW, sent, per_day, per_week)
        return
    assert result > NOW
    assert fits_at(result, sent, per_day, per_week)
    # Counts only fall as time passes, so not fitting just before means not fitting earlier.
    assert not fits_at(result - timedelta(microseconds=1), sent, per_day, per_week)


def test_with_a_cap_of_one_a_day_the_second_email_waits_a_day_after_the_first() -> None:
    first = NOW - timedelta(minutes=1)
    assert next_fit([first], NOW, per_day=1, per_week=None) == first + DAY
    assert next_fit([], NOW, per_day=1, per_week=None) is None


def test_the_weekly_cap_can_hold_an_email_longer_than_the_daily_one() -> None:
    sent = [NOW - timedelta(days=d) for d in (1, 2, 3)]
    assert next_fit(sent, NOW, per_day=2, per_week=3) == NOW - timedelta(days=3) + WEEK


def test_no_cap_always_fits_and_a_cap_below_one_is_refused() -> None:
    assert next_fit([NOW] * 100, NOW, per_day=None, per_week=None) is None
    with pytest.raises(ValueError, match="at least 1"):
        next_fit([], NOW, per_day=0, per_week=None)


def test_the_recorded_reason_names_the_caps() -> None:
    assert describe(1, None) == "frequency cap: 1 a day"
    assert describe(2, 5) == "frequency cap: 2 a day, 5 a week"
