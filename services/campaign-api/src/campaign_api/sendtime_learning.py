"""Send-time optimisation: the hour of the day a contact reads their email, learned from their
own opens and clicks, people's only (`engagement_rules`). Pure: counts in, hours out; the
service gathers the counts and keeps what is learned with the contact, for the mailer to use
as the contact's due time.

A contact's engagement is counted in 168 bins, one per local hour of the week in the contact's
zone: `hour_of_week` (Monday 00:00-00:59 is 0, Sunday 23:00-23:59 is 167). A contact opens a
few emails a month at most, so their week is sparse: most bins are empty, and one open says
little. Two things make a few events enough:

- pooling by hour of day: an open at 19:00 on a Tuesday says the contact reads at 19:00 on
  other days too, so every weekday's choice counts the contact's events at that hour on all
  weekdays, and those on the same weekday once more (`SendTimePolicy.weekday_weight`);
- the workspace's own pattern as a prior (`workspace_pattern`: the shares of all its contacts'
  people's engagement over the week), worth `SendTimePolicy.prior_weight` events spread over
  the bins by its shares: with little evidence the workspace's habit decides the ties and the
  near ties, with more the contact's own.

Below `SendTimePolicy.min_events` events nothing is learned (`preferred_hours` is None) and the
contact gets the campaign's send time.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from zoneinfo import ZoneInfo

HOURS_OF_WEEK = 168
HOURS_OF_DAY = 24
DAYS_OF_WEEK = 7
# Scores are compared rounded, so that sums of float shares that are equal in exact arithmetic
# tie (and the tie goes to the earlier hour) rather than differ in their last bit.
_SCORE_DIGITS = 9


@dataclass(frozen=True)
class SendTimePolicy:
    """How much evidence a contact's preferred hours need.

    min_events: people's opens and clicks a contact needs before their hours are learned.
    prior_weight: how many events the workspace's pattern is worth, spread over the week by its
        shares (0: the contact's own events alone; ties then go to the earlier hour).
    weekday_weight: how much more an event counts for its own weekday than for the others
        (0: every weekday gets the same hour, the contact's best hour of the day).
    """

    min_events: int = 3
    prior_weight: float = 2.0
    weekday_weight: float = 1.0

    def __post_init__(self) -> None:
        if self.min_events < 1:
            raise ValueError("min_events must be at least 1")
        if self.prior_weight < 0 or self.weekday_weight < 0:
            raise ValueError("prior_weight and weekday_weight must not be negative")


def hour_of_week(moment: datetime, zone: str) -> int:
    """The bin of an aware `moment`: its local hour of the week in `zone`, Monday 00:00 = 0."""
    if moment.tzinfo is None:
        raise ValueError("moment must be timezone-aware")
    local = moment.astimezone(ZoneInfo(zone))
    return local.weekday() * HOURS_OF_DAY + local.hour


def workspace_pattern(counts: Sequence[int]) -> tuple[float, ...]:
    """The shares of a workspace's people's engagement per hour of the week, summing to 1:
    `counts` has one count per bin, or nothing (then every bin has the same share)."""
    if not counts:
        return (1.0 / HOURS_OF_WEEK,) * HOURS_OF_WEEK
    _check_counts(counts)
    total = sum(counts)
    if total == 0:
        return (1.0 / HOURS_OF_WEEK,) * HOURS_OF_WEEK
    return tuple(c / total for c in counts)


def preferred_hours(
    counts: Sequence[int], prior: Sequence[float], policy: SendTimePolicy = SendTimePolicy()
) -> tuple[int, ...] | None:
    """A contact's best local hour (0..23) for each weekday, Monday..Sunday, from `counts`
    (their people's events per hour of the week) and `prior` (`workspace_pattern`); None
    below `policy.min_events` events.

    The rule: each bin's evidence is e(b) = counts[b] + prior_weight * prior[b]. Weekday d's
    hour is the h that maximises
        score(d, h) = sum over all weekdays d' of e(d'*24 + h) + weekday_weight * e(d*24 + h),
    the earliest such h on a tie.
    """
    _check_counts(counts)
    if len(prior) != HOURS_OF_WEEK:
        raise ValueError(f"prior must have {HOURS_OF_WEEK} shares, not {len(prior)}")
    if sum(counts) < policy.min_events:
        return None
    evidence = [c + policy.prior_weight * p for c, p in zip(counts, prior, strict=True)]
    by_hour = [sum(evidence[d * HOURS_OF_DAY + h] for d in range(DAYS_OF_WEEK))
               for h in range(HOURS_OF_DAY)]

    def best(day: int) -> int:
        def score(hour: int) -> float:
            same_day = evidence[day * HOURS_OF_DAY + hour]
            return round(by_hour[hour] + policy.weekday_weight * same_day, _SCORE_DIGITS)
        # max keeps the first of equal scores: the earlier hour.
        return max(range(HOURS_OF_DAY), key=score)

    return tuple(best(day) for day in range(DAYS_OF_WEEK))


def _check_counts(counts: Sequence[int]) -> None:
    if len(counts) != HOURS_OF_WEEK:
        raise ValueError(f"counts must have {HOURS_OF_WEEK} bins, not {len(counts)}")
    if any(c < 0 for c in counts):
        raise ValueError("counts must not be negative")
