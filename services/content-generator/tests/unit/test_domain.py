from __future__ import annotations

from datetime import UTC, datetime

import pytest

from content_generator.domain import (
    CampaignState,
    first_line,
    local_weekday,
    transition,
    wants_content,
)


@pytest.mark.parametrize(
    ("current", "target", "expected"),
    [
        ("active", "paused", "paused"),
        ("paused", "active", "active"),
        ("active", "active", "active"),
        ("cancelled", "active", "cancelled"),
        ("cancelled", "paused", "cancelled"),
        ("cancelled", "completed", "cancelled"),
        ("completed", "active", "completed"),
        ("completed", "paused", "completed"),
        ("completed", "cancelled", "cancelled"),
        ("paused", "completed", "completed"),
    ],
)
def test_lifecycle_transitions(
    current: CampaignState, target: CampaignState, expected: CampaignState
) -> None:
    assert transition(current, target) == expected


def test_only_cancelled_campaigns_get_no_more_content() -> None:
    assert [wants_content(s) for s in ("active", "paused", "completed", "cancelled")] == [
        True, True, True, False,
    ]


def test_weekday_is_taken_in_the_campaign_time_zone() -> None:
    moment = datetime(2026, 3, 2, 23, 30, tzinfo=UTC)
    assert local_weekday(moment, "UTC") == "Monday"
    assert local_weekday(moment, "Asia/Tokyo") == "Tuesday"
    assert local_weekday(moment, "America/Los_Angeles") == "Monday"


def test_first_line_skips_the_salutation_and_shortens_at_a_word() -> None:
    assert first_line("\nHi {{first_name}},\n\nOur starter is forty.\nMore") == (
        "Our starter is forty."
    )
    assert first_line("Dear friends of good bread,\nWelcome.") == "Welcome."
    assert first_line("Big news, everyone, and a long opening line follows here") == (
        "Big news, everyone, and a long opening line follows here"
    )
    assert first_line("word " * 50, limit=22) == "word word word word…"
    assert first_line("") == ""
