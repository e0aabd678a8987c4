"""Which days a weekly cadence sends on when it has fewer emails a week than days, and how
weekdays are read."""

from __future__ import annotations

from itertools import combinations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from rules.weekdays import NOT_A_WEEKDAY, circular_gaps, send_days, weekday_number

day_sets = st.sets(st.integers(1, 7), min_size=1)


def test_the_designs_example_sends_on_monday_and_friday() -> None:
    assert send_days([1, 3, 5], 2) == (1, 5)
    assert send_days([5, 3, 1], 2) == (1, 5)


@pytest.mark.parametrize(
    ("days", "emails", "chosen"),
    [
        ([1, 2, 3, 4, 5, 6, 7], 2, (1, 4)),  # gaps 3 and 4; Mon-Fri (4, 3) is as even, later
        ([1, 2, 3, 4, 5, 6, 7], 3, (1, 3, 5)),  # gaps 2, 2, 3
        ([1, 2, 3, 4, 5], 2, (1, 4)),
        ([1, 2, 3, 4, 5], 3, (1, 3, 5)),
        ([2, 4, 6], 1, (2,)),  # one email a week: the first day, as any one day is as even
        ([6, 7], 1, (6,)),
        ([1, 2, 3], None, (1, 2, 3)),  # no limit: every day
        ([1, 2, 3], 5, (1, 2, 3)),  # more emails than days: every day
    ],
)
def test_the_days_spread_most_evenly_around_the_week_are_used(
    days: list[int], emails: int | None, chosen: tuple[int, ...]
) -> None:
    assert send_days(days, emails) == chosen


def test_gaps_are_counted_around_the_week() -> None:
    assert circular_gaps([1, 5]) == (4, 3)
    assert circular_gaps([7, 1]) == (6, 1)  # Monday to Sunday, then Sunday to Monday
    assert circular_gaps([3]) == (7,)
    assert sum(circular_gaps([1, 2, 6])) == 7


@given(days=day_sets, emails=st.integers(1, 7))
def test_the_chosen_days_are_that_many_of_the_given_ones(days: set[int], emails: int) -> None:
    chosen = send_days(days, emails)
    assert set(chosen) <= days
    assert len(chosen) == min(emails, len(days))
    assert list(chosen) == sorted(chosen)


@given(days=day_sets, emails=st.integers(1, 7))
def test_no_other_choice_has_a_larger_smallest_gap(days: set[int], emails: int) -> None:
    chosen = send_days(days, emails)
    best = min(circular_gaps(chosen))
    for other in combinations(sorted(days), len(chosen)):
        assert min(circular_gaps(other)) <= best


@given(days=day_sets, emails=st.integers(1, 7))
def test_of_equally_even_choices_the_earliest_in_the_week_wins(
    days: set[int], emails: int
) -> None:
    chosen = send_days(days, emails)
    evenness = sorted(circular_gaps(chosen))
    for other in combinations(sorted(days), len(chosen)):
        assert sorted(circular_gaps(other)) <= evenness
        if sorted(circular_gaps(other)) == evenness:
            assert chosen <= other


@given(days=st.lists(st.integers(1, 7), min_size=1, max_size=7, unique=True),
       emails=st.none() | st.integers(1, 7), data=st.data())
def test_the_order_the_days_are_given_in_does_not_matter(
    days: list[int], emails: int | None, data: st.DataObject
) -> None:
    shuffled = data.draw(st.permutations(days))
    assert send_days(shuffled, emails) == send_days(days, emails)


@pytest.mark.parametrize(("given_", "number"), [
    (1, 1), (7, 7), ("mon", 1), ("Tue", 2), ("WEDNESDAY", 3), (" sun ", 7), ("saturday", 6),
])
def test_weekdays_are_numbers_or_names(given_: object, number: int) -> None:
    assert weekday_number(given_) == number


@pytest.mark.parametrize("bad", [None, {}, [1], 1.5, 1.0, True, False, "", "tuesdayx", "tux",
                                 "1", b"mon"])
def test_anything_else_is_not_a_weekday(bad: object) -> None:
    with pytest.raises(ValueError, match="not a weekday"):
        weekday_number(bad)
    assert "1-7" in NOT_A_WEEKDAY
