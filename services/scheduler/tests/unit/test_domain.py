"""The scheduler's decision for a slot that has fallen due: send it, or record it as missed."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from scheduler.domain import Decision, on_due

SEND_AT = datetime(2026, 5, 4, 9, tzinfo=UTC)
WINDOW = timedelta(hours=6)


@pytest.mark.parametrize(
    ("now", "decision"),
    [
        (SEND_AT - timedelta(minutes=30), Decision(emit=True, skipped=False)),  # the lead time
        (SEND_AT, Decision(emit=True, skipped=False)),
        (SEND_AT + timedelta(hours=2), Decision(emit=True, skipped=False)),  # caught up
        (SEND_AT + WINDOW, Decision(emit=True, skipped=False)),  # the window is inclusive
        (SEND_AT + WINDOW + timedelta(seconds=1), Decision(emit=False, skipped=True)),
        (SEND_AT + timedelta(days=3), Decision(emit=False, skipped=True)),
    ],
)
def test_on_due_catches_up_within_the_window_only(now: datetime, decision: Decision) -> None:
    assert on_due(SEND_AT, now, WINDOW) == decision


def test_on_due_with_no_window_sends_only_what_is_not_late() -> None:
    assert on_due(SEND_AT, SEND_AT, timedelta(0)).emit
    assert on_due(SEND_AT, SEND_AT + timedelta(seconds=1), timedelta(0)).skipped
