"""How a contact's preferred send hours are learned from their people's opens and clicks
(campaign_api.sendtime_learning): each name says the rule."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st

from campaign_api.sendtime_learning import (
    HOURS_OF_WEEK,
    SendTimePolicy,
    hour_of_week,
    preferred_hours,
    workspace_pattern,
)

UNIFORM = workspace_pattern([])
MONDAY, TUESDAY, SUNDAY = 0, 1, 6


def _counts(*events: tuple[int, int]) -> list[int]:
    """(weekday, hour) of each event."""
    counts = [0] * HOURS_OF_WEEK
    for day, hour in events:
        counts[day * 24 + hour] += 1
    return counts


def test_the_hour_of_the_week_is_local_and_starts_on_monday_at_midnight() -> None:
    # 2030-05-06 is a Monday; 22:30 UTC is Tuesday 00:30 in Berlin (summer time, UTC+2).
    assert hour_of_week(datetime(2030, 5, 6, 0, 10, tzinfo=UTC), "UTC") == 0
    assert hour_of_week(datetime(2030, 5, 6, 22, 30, tzinfo=UTC), "Europe/Berlin") == 24
    assert hour_of_week(datetime(2030, 5, 12, 23, 59, tzinfo=UTC), "UTC") == 167
    assert hour_of_week(datetime(2030, 5, 6, 23, 0, tzinfo=UTC), "America/New_York") == 19


def test_a_naive_moment_has_no_hour_of_the_week() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        hour_of_week(datetime(2030, 5, 6, 9), "UTC")


def test_the_workspace_pattern_is_each_hours_share_of_its_engagement() -> None:
    pattern = workspace_pattern(_counts((MONDAY, 9), (MONDAY, 9), (MONDAY, 9), (TUESDAY, 20)))
    assert pattern[9] == 0.75
    assert pattern[24 + 20] == 0.25
    assert sum(pattern) == pytest.approx(1.0)


def test_a_workspace_without_engagement_has_every_hour_equally() -> None:
    assert workspace_pattern([]) == workspace_pattern([0] * HOURS_OF_WEEK)
    assert set(UNIFORM) == {1 / HOURS_OF_WEEK}
    assert len(UNIFORM) == HOURS_OF_WEEK


def test_too_few_events_learn_nothing() -> None:
    assert preferred_hours(_counts((MONDAY, 19), (TUESDAY, 19)), UNIFORM) is None
    assert preferred_hours([0] * HOURS_OF_WEEK, UNIFORM) is None


def test_opens_at_one_hour_on_a_few_days_give_that_hour_on_every_day() -> None:
    hours = preferred_hours(_counts((MONDAY, 19), (TUESDAY, 19), (4, 19)), UNIFORM)
    assert hours == (19,) * 7


def test_a_weekday_with_its_own_habit_gets_its_own_hour() -> None:
    counts = _counts(*[(d, 8) for d in range(5)], *[(SUNDAY, 21)] * 3)
    hours = preferred_hours(counts, UNIFORM)
    assert hours == (8, 8, 8, 8, 8, 8, 21)


def test_the_workspace_pattern_decides_between_the_contacts_equal_hours() -> None:
    # One event each at 7, 12 and 19: the workspace reads at 12.
    counts = _counts((MONDAY, 7), (MONDAY, 12), (MONDAY, 19))
    prior = workspace_pattern(_counts(*[(d, 12) for d in range(7)]))
    assert preferred_hours(counts, prior) == (12,) * 7


def test_the_contacts_own_evidence_outweighs_the_workspace_pattern() -> None:
    counts = _counts((MONDAY, 19), (TUESDAY, 19), (3, 19))
    prior = workspace_pattern(_counts(*[(d, 12) for d in range(7)]))
    assert preferred_hours(counts, prior) == (19,) * 7
    # A prior worth far more than three events wins instead.
    assert preferred_hours(counts, prior, SendTimePolicy(prior_weight=100)) == (12,) * 7


def test_equal_scores_go_to_the_earlier_hour() -> None:
    counts = _counts((MONDAY, 7), (MONDAY, 12), (MONDAY, 19))
    assert preferred_hours(counts, UNIFORM, SendTimePolicy(weekday_weight=0)) == (7,) * 7


def test_the_minimum_of_events_is_the_policys() -> None:
    counts = _counts((MONDAY, 19))
    assert preferred_hours(counts, UNIFORM) is None
    assert preferred_hours(counts, UNIFORM, SendTimePolicy(min_events=1)) == (19,) * 7


def test_counts_and_prior_must_cover_the_week() -> None:
    with pytest.raises(ValueError, match="counts must have 168"):
        preferred_hours([1, 2, 3], UNIFORM)
    with pytest.raises(ValueError, match="prior must have 168"):
        preferred_hours([0] * HOURS_OF_WEEK, UNIFORM[:24])
    with pytest.raises(ValueError, match="negative"):
        workspace_pattern([-1] + [0] * (HOURS_OF_WEEK - 1))


def test_a_policy_needs_at_least_one_event_and_no_negative_weights() -> None:
    with pytest.raises(ValueError, match="min_events"):
        SendTimePolicy(min_events=0)
    with pytest.raises(ValueError, match="negative"):
        SendTimePolicy(prior_weight=-1)


@given(st.lists(st.integers(0, 5), min_size=HOURS_OF_WEEK, max_size=HOURS_OF_WEEK),
       st.lists(st.integers(0, 50), min_size=HOURS_OF_WEEK, max_size=HOURS_OF_WEEK))
def test_enough_events_give_seven_hours_of_the_day(counts: list[int], workspace: list[int]
                                                   ) -> None:
    hours = preferred_hours(counts, workspace_pattern(workspace))
    if sum(counts) < SendTimePolicy().min_events:
        assert hours is None
    else:
        assert hours is not None
        assert len(hours) == 7
        assert all(0 <= h <= 23 for h in hours)


@given(st.integers(0, HOURS_OF_WEEK - 1), st.integers(3, 20))
def test_a_contact_who_always_reads_at_one_hour_gets_it_whatever_the_workspace_does(
        bin_: int, events: int) -> None:
    counts = [0] * HOURS_OF_WEEK
    counts[bin_] = events
    prior = workspace_pattern([1] * HOURS_OF_WEEK)
    assert preferred_hours(counts, prior) == (bin_ % 24,) * 7
