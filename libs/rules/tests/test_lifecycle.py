"""The campaign lifecycle: what a request may change, and what an arriving event changes."""

from __future__ import annotations

import pytest

from rules.lifecycle import STATUSES, TransitionRefused, follow, is_running, request


def test_a_person_may_pause_resume_and_cancel_a_running_campaign() -> None:
    assert request("active", "pause") == "paused"
    assert request("paused", "resume") == "active"
    assert request("active", "cancel") == "cancelled"
    assert request("paused", "cancel") == "cancelled"


def test_asking_for_the_status_a_campaign_already_has_changes_nothing() -> None:
    assert request("paused", "pause") is None
    assert request("active", "resume") is None
    assert request("cancelled", "cancel") is None


@pytest.mark.parametrize(("status", "change"), [
    ("cancelled", "resume"), ("cancelled", "pause"), ("completed", "pause"),
    ("completed", "resume"), ("completed", "cancel"),
])
def test_a_finished_campaign_refuses_requests(status: str, change: str) -> None:
    with pytest.raises(TransitionRefused, match=f"a {status} campaign cannot"):
        request(status, change)  # type: ignore[arg-type]


def test_events_change_what_they_apply_to_and_nothing_else() -> None:
    assert follow("active", "pause") == "paused"
    assert follow("paused", "resume") == "active"
    assert follow("paused", "cancel") == "cancelled"
    assert follow("active", "complete") == "completed"
    # A cancel that crossed the scheduler's completion still stops what is left.
    assert follow("completed", "cancel") == "cancelled"
    # A completion that crossed a pause: the scheduler had planned the last email already.
    assert follow("paused", "complete") == "completed"
    assert follow("paused", "pause") is None
    assert follow("active", "resume") is None
    assert follow("cancelled", "resume") is None
    assert follow("cancelled", "complete") is None


def test_only_active_and_paused_campaigns_are_running() -> None:
    assert [s for s in STATUSES if is_running(s)] == ["active", "paused"]
