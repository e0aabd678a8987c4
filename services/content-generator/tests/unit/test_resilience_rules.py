"""The pure rules behind a bad LLM day: outage decisions, the circuit breaker, budgets."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from content_generator.domain import CircuitBreaker, after_outage, month_start, over_budget

SEND = datetime(2026, 3, 10, 9, 0, tzinfo=UTC)


def _decide(now: datetime, failures: int = 1, policy: str = "fail", **kw: object):
    options = {"max_failures": 7, "backoff": 5.0, **kw}
    return after_outage(now=now, send_at=SEND, failures=failures, policy=policy, **options)


def test_before_the_send_time_the_tries_left_are_spread_up_to_it() -> None:
    decision = _decide(SEND - timedelta(hours=6), failures=1)
    assert decision.action == "retry"
    assert decision.delay == pytest.approx(6 * 3600 / 6)  # six tries left over six hours


def test_a_retry_never_lands_after_the_send_time_nor_before_retry_after() -> None:
    assert _decide(SEND - timedelta(seconds=3)).delay == 3
    assert _decide(SEND - timedelta(hours=1), retry_after=900.0).delay == 900


@pytest.mark.parametrize(("policy", "action"),
                         [("fail", "fail"), ("offline_template", "offline"), ("delay", "retry")])
def test_at_the_send_time_the_policy_decides(policy: str, action: str) -> None:
    assert _decide(SEND, policy=policy).action == action


@pytest.mark.parametrize(("policy", "action"),
                         [("fail", "fail"), ("offline_template", "offline"), ("delay", "fail")])
def test_with_no_try_left_the_policy_decides_whatever_the_time(policy: str, action: str) -> None:
    assert _decide(SEND - timedelta(days=3), failures=7, policy=policy).action == action


def test_the_breaker_opens_after_consecutive_failures_then_lets_one_trial_through() -> None:
    breaker = CircuitBreaker(threshold=3, cooldown=timedelta(seconds=30))
    now = SEND
    for _ in range(2):
        breaker.failed("m", now)
    breaker.succeeded("m")  # not consecutive any more
    for _ in range(3):
        assert breaker.allows("m", now)
        breaker.failed("m", now)
    assert not breaker.allows("m", now + timedelta(seconds=29))
    assert breaker.reopens_in(("m",), now + timedelta(seconds=10)) == 20
    later = now + timedelta(seconds=30)
    assert breaker.allows("m", later)  # the trial
    assert not breaker.allows("m", later)  # only one at a time
    breaker.failed("m", later)  # a failed trial opens it again at once
    assert not breaker.allows("m", later + timedelta(seconds=29))
    assert breaker.allows("m", later + timedelta(seconds=30))
    breaker.succeeded("m")
    assert breaker.allows("m", later)
    assert breaker.allows("m", later)


def test_budgets_are_per_utc_month_and_none_means_no_limit() -> None:
    assert month_start(datetime(2026, 3, 31, 23, 30, tzinfo=UTC)) == datetime(2026, 3, 1,
                                                                               tzinfo=UTC)
    assert not over_budget(Decimal("1e9"), None)
    assert not over_budget(Decimal("0.99"), Decimal("1"))
    assert over_budget(Decimal("1"), Decimal("1"))
