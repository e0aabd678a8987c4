"""The rules that keep an email's performance counters and order its summaries (pure)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from campaign_api.performance import RecipientTally, counter_changes, next_as_of

NOW = datetime(2026, 12, 3, 9, tzinfo=UTC)


def test_an_address_first_open_counts_once_among_the_unique_opens() -> None:
    assert counter_changes(RecipientTally(), RecipientTally(opens=1, human_opens=1)) == {
        "opens": 1, "unique_opens": 1, "human_opens": 1, "unique_human_opens": 1}
    assert counter_changes(RecipientTally(opens=1, human_opens=1),
                           RecipientTally(opens=2, human_opens=2)) == {
        "opens": 1, "human_opens": 1}


def test_a_click_relabelled_a_machine_takes_back_the_person_it_had_counted() -> None:
    before = RecipientTally(clicks=1, human_clicks=1)
    after = RecipientTally(clicks=2, human_clicks=0)
    assert counter_changes(before, after) == {
        "clicks": 1, "human_clicks": -1, "unique_human_clicks": -1}


def test_nothing_changes_when_the_tally_is_the_same() -> None:
    tally = RecipientTally(opens=3, human_opens=1, clicks=2, human_clicks=2)
    assert counter_changes(tally, tally) == {}


def test_as_of_is_now_unless_that_is_not_after_the_previous_summary() -> None:
    assert next_as_of(NOW, None) == NOW
    assert next_as_of(NOW, NOW - timedelta(minutes=1)) == NOW
    # A replica whose clock is behind still orders the email's summaries.
    assert next_as_of(NOW - timedelta(seconds=1), NOW) > NOW
    assert next_as_of(NOW, NOW) > NOW
