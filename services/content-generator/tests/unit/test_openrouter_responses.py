"""How one OpenRouter response is read: what it answered, or which fault it is."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from email.utils import format_datetime
from typing import Any

import httpx
import pytest

from content_generator.providers import ProviderError
from content_generator.providers.openrouter_responses import (
    classify,
    read_completion,
    retry_after_seconds,
)

EMAIL = {"subject": "Hello", "preheader": "", "body_html": "<p>Hi</p>", "body_text": "Hi"}


def _completion(content: str | None, **extra: Any) -> dict[str, Any]:
    return {
        "id": "gen-1", "model": "anthropic/claude-3.5-haiku",
        "choices": [{"finish_reason": "stop", "message": {"role": "assistant",
                                                          "content": content}}],
        "usage": {"prompt_tokens": 120, "completion_tokens": 80, "cost": 0.00042},
        **extra,
    }


def _response(status: int, body: Any, headers: dict[str, str] | None = None) -> httpx.Response:
    return httpx.Response(status, content=json.dumps(body).encode(), headers=headers)


def test_a_completion_gives_the_email_the_model_that_answered_and_the_usage() -> None:
    email, model, usage = read_completion(_response(200, _completion(json.dumps(EMAIL))), "a/b")

    assert (email.subject, email.body_text) == ("Hello", "Hi")
    assert model == "anthropic/claude-3.5-haiku"
    assert (usage.prompt_tokens, usage.completion_tokens) == (120, 80)
    assert usage.cost == Decimal("0.00042")


@pytest.mark.parametrize(
    ("status", "reason", "retryable"),
    [(400, "bad_request", False), (401, "bad_key", False), (402, "out_of_credits", False),
     (403, "moderation", False), (404, "bad_request", False), (408, "unavailable", True),
     (429, "unavailable", True), (500, "unavailable", True), (502, "unavailable", True),
     (503, "unavailable", True)],
)
def test_statuses_map_to_a_reason_and_a_retry_decision(
    status: int, reason: str, retryable: bool
) -> None:
    assert classify(status) == (reason, retryable)
    with pytest.raises(ProviderError) as caught:
        read_completion(_response(status, {"error": {"code": status, "message": "nope"}}), "a/b")
    assert (caught.value.reason, caught.value.retryable) == (reason, retryable)
    assert caught.value.http_status == status
    assert "nope" in str(caught.value)


def test_retry_after_is_read_from_the_header() -> None:
    with pytest.raises(ProviderError) as caught:
        read_completion(_response(429, {"error": {"code": 429, "message": "slow down"}},
                                  {"Retry-After": "7"}), "a/b")
    assert caught.value.retry_after == 7.0


def test_retry_after_may_be_an_http_date() -> None:
    later = datetime.now(UTC) + timedelta(seconds=30)
    seconds = retry_after_seconds(format_datetime(later, usegmt=True))
    assert seconds is not None
    assert 25 <= seconds <= 30
    assert retry_after_seconds("not a date") is None
    assert retry_after_seconds(None) is None


@pytest.mark.parametrize(
    ("body", "reason", "retryable"),
    [
        ({"error": {"code": 502, "message": "Provider returned error"}}, "unavailable", True),
        ({"error": {"code": 403, "message": "flagged"}}, "moderation", False),
        ({"error": {"code": "server_error", "message": "?"}}, "unavailable", True),
        (_completion("", choices=[{"finish_reason": "error", "message": {"content": ""},
                                   "error": {"code": 502, "message": "cut"}}]),
         "unavailable", True),
    ],
)
def test_an_error_inside_a_200_body_is_a_fault(
    body: dict[str, Any], reason: str, retryable: bool
) -> None:
    with pytest.raises(ProviderError) as caught:
        read_completion(_response(200, body), "a/b")
    assert (caught.value.reason, caught.value.retryable) == (reason, retryable)


@pytest.mark.parametrize(
    ("body", "problem"),
    [
        (_completion(""), "empty answer"),
        (_completion(None), "empty answer"),
        (_completion("Sure! Here is a great email."), "unusable answer"),
        (_completion('{"subject": "Hi", "body_html": "<p>cut', choices=[{
            "finish_reason": "length", "message": {"content": '{"subject": "Hi", "body'}}]),
         "cut off by max_tokens"),
        (_completion(json.dumps({**EMAIL, "subject": ""})), "subject: empty"),
        ({"id": "gen-1", "choices": []}, "without a message"),
        ({"model": 42, "choices": "many"}, "malformed response"),
        ("just a string", "malformed response"),
    ],
)
def test_unusable_answers_are_retryable_invalid_output(body: Any, problem: str) -> None:
    with pytest.raises(ProviderError, match=problem) as caught:
        read_completion(_response(200, body), "a/b")
    assert (caught.value.reason, caught.value.retryable) == ("invalid_output", True)


def test_a_billed_but_unusable_answer_keeps_its_usage() -> None:
    with pytest.raises(ProviderError) as caught:
        read_completion(_response(200, _completion("no json here")), "a/b")
    assert caught.value.usage.cost == Decimal("0.00042")
    assert caught.value.model == "anthropic/claude-3.5-haiku"


def test_a_refusal_is_a_moderation_failure() -> None:
    body = _completion(None)
    body["choices"][0]["message"]["refusal"] = "I can't help with that."
    with pytest.raises(ProviderError, match="refused") as caught:
        read_completion(_response(200, body), "a/b")
    assert (caught.value.reason, caught.value.retryable) == ("moderation", False)
