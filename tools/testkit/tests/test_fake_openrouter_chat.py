from __future__ import annotations

import json
import time
from collections.abc import Callable

import httpx
import pytest

from testkit.fake_openrouter import (
    Disconnect,
    Empty,
    Error,
    ErrorInBody,
    FakeOpenRouter,
    Hang,
    Malformed,
    Reply,
    Truncated,
)

Chat = Callable[..., httpx.Response]


def test_default_reply_has_openrouter_shape_and_priced_usage(chat: Chat) -> None:
    response = chat()

    assert response.status_code == 200
    body = response.json()
    assert body["id"].startswith("gen-")
    assert body["object"] == "chat.completion"
    assert isinstance(body["created"], int)
    assert body["model"] == "openai/gpt-4o"
    assert body["provider"]
    (choice,) = body["choices"]
    assert choice["finish_reason"] == choice["native_finish_reason"] == "stop"
    assert choice["message"]["role"] == "assistant"
    email = json.loads(choice["message"]["content"])
    assert set(email) == {"subject", "preheader", "body_html", "body_text"}
    assert all(isinstance(value, str) and value for value in email.values())
    usage = body["usage"]
    assert usage["total_tokens"] == usage["prompt_tokens"] + usage["completion_tokens"]
    assert usage["cost"] == pytest.approx(
        usage["prompt_tokens"] * 1e-6 + usage["completion_tokens"] * 2e-6
    )
    assert usage["prompt_tokens_details"] == {"cached_tokens": 0}
    assert usage["completion_tokens_details"] == {"reasoning_tokens": 0}


def test_default_email_is_deterministic_and_varies_with_the_prompt(chat: Chat) -> None:
    def subject(prompt: str) -> str:
        body = chat(messages=[{"role": "user", "content": prompt}]).json()
        return str(json.loads(body["choices"][0]["message"]["content"])["subject"])

    assert subject("email 1 of 3") == subject("email 1 of 3")
    assert len({subject(f"email {n} of 3") for n in (1, 2, 3)}) == 3


def test_scripted_reply_sets_content_model_and_usage(fake: FakeOpenRouter, chat: Chat) -> None:
    fake.script(
        Reply({"subject": "Hi"}, "x/answered", prompt_tokens=10, completion_tokens=20, cost=0.5)
    )

    body = chat().json()

    assert json.loads(body["choices"][0]["message"]["content"]) == {"subject": "Hi"}
    assert body["model"] == "x/answered"
    assert body["usage"]["prompt_tokens"] == 10
    assert body["usage"]["completion_tokens"] == 20
    assert body["usage"]["total_tokens"] == 30
    assert body["usage"]["cost"] == 0.5


def test_script_items_are_consumed_first_in_first_out(fake: FakeOpenRouter, chat: Chat) -> None:
    fake.script(Reply("one"), Reply("two"))
    assert fake.pending() == 2

    contents = [chat().json()["choices"][0]["message"]["content"] for _ in range(3)]

    assert contents[:2] == ["one", "two"]
    assert json.loads(contents[2])["subject"]  # then the default responder
    assert fake.pending() == 0


def test_reply_delay_is_applied(fake: FakeOpenRouter, chat: Chat) -> None:
    fake.script(Reply("slow", delay=0.3))
    started = time.monotonic()
    assert chat().status_code == 200
    assert time.monotonic() - started >= 0.3


@pytest.mark.parametrize(
    ("headers", "message"),
    [
        ({}, "No auth credentials found"),
        ({"Authorization": "Bearer sk-or-v1-wrong"}, "User not found."),
    ],
)
def test_requests_without_the_key_get_401(
    fake: FakeOpenRouter, headers: dict[str, str], message: str
) -> None:
    body = {"model": "openai/gpt-4o", "messages": [{"role": "user", "content": "hi"}]}
    response = httpx.post(f"{fake.base_url}/chat/completions", json=body, headers=headers)

    assert response.status_code == 401
    assert response.json() == {"error": {"code": 401, "message": message}}


@pytest.mark.parametrize(
    "body",
    [
        {"model": "openai/gpt-4o"},
        {"model": "openai/gpt-4o", "messages": []},
        {"model": 7, "messages": [{"role": "user", "content": "hi"}]},
        {"models": "openai/gpt-4o", "messages": [{"role": "user", "content": "hi"}]},
        {"stream": True, "messages": [{"role": "user", "content": "hi"}]},
    ],
)
def test_invalid_requests_get_400(client: httpx.Client, body: dict[str, object]) -> None:
    response = client.post("/chat/completions", json=body)

    assert response.status_code == 400
    assert response.json()["error"]["code"] == 400


@pytest.mark.parametrize("status", [400, 401, 402, 403, 408, 429, 502, 503])
def test_scripted_error_statuses_use_openrouters_error_shape(
    fake: FakeOpenRouter, chat: Chat, status: int
) -> None:
    fake.script(Error(status))

    response = chat()

    assert response.status_code == status
    error = response.json()["error"]
    assert error["code"] == status
    assert error["message"]
    assert "retry-after" not in response.headers


@pytest.mark.parametrize("status", [429, 503])
def test_errors_can_carry_retry_after(fake: FakeOpenRouter, chat: Chat, status: int) -> None:
    fake.script(Error(status, retry_after=2))

    response = chat()

    assert response.status_code == status
    assert response.headers["retry-after"] == "2"


def test_moderation_error_carries_its_metadata(fake: FakeOpenRouter, chat: Chat) -> None:
    fake.script(Error(403))

    metadata = chat().json()["error"]["metadata"]

    assert metadata["reasons"]
    assert metadata["flagged_input"] == "Write email 2 of 5 for the spring sale."
    assert metadata["provider_name"]
    assert metadata["model_slug"] == "openai/gpt-4o"


def test_error_message_code_and_metadata_can_be_scripted(fake: FakeOpenRouter, chat: Chat) -> None:
    fake.script(Error(502, "upstream exploded", code=524, metadata={"provider_name": "P"}))

    response = chat()

    assert response.status_code == 502
    assert response.json() == {
        "error": {"code": 524, "message": "upstream exploded", "metadata": {"provider_name": "P"}}
    }


def test_error_in_body_comes_with_http_200(fake: FakeOpenRouter, chat: Chat) -> None:
    fake.script(ErrorInBody("provider crashed mid-generation"))

    response = chat()

    assert response.status_code == 200
    assert response.json() == {"error": {"code": 502, "message": "provider crashed mid-generation"}}


def test_error_in_choice_has_finish_reason_error(fake: FakeOpenRouter, chat: Chat) -> None:
    fake.script(ErrorInBody("stream broke", code=500, in_choice=True))

    response = chat()

    assert response.status_code == 200
    (choice,) = response.json()["choices"]
    assert choice["finish_reason"] == "error"
    assert choice["error"] == {"code": 500, "message": "stream broke"}
    assert choice["message"]["content"] == ""


def test_empty_truncated_and_malformed_content(fake: FakeOpenRouter, chat: Chat) -> None:
    fake.script(Empty(), Truncated(), Malformed())

    empty, truncated, malformed = (chat().json()["choices"][0] for _ in range(3))

    assert empty["message"]["content"] == ""
    assert empty["finish_reason"] == "stop"
    assert truncated["finish_reason"] == "length"
    assert truncated["message"]["content"].startswith('{"subject": ')
    for choice in (truncated, malformed):
        with pytest.raises(json.JSONDecodeError):
            json.loads(choice["message"]["content"])


def test_hang_trips_the_client_timeout(fake: FakeOpenRouter, client: httpx.Client) -> None:
    fake.script(Hang(10))
    started = time.monotonic()

    with pytest.raises(httpx.ReadTimeout):
        client.post(
            "/chat/completions",
            json={"messages": [{"role": "user", "content": "hi"}]},
            timeout=0.2,
        )

    assert time.monotonic() - started < 1.0
    deadline = time.monotonic() + 2.0
    while fake.requests[0].responded_at is None:  # the fake notices the client leaving
        assert time.monotonic() < deadline
        time.sleep(0.01)
    assert fake.requests[0].status is None


def test_short_hang_then_answers_as_the_default_responder(fake: FakeOpenRouter, chat: Chat) -> None:
    fake.script(Hang(0.1))

    response = chat()

    assert response.status_code == 200
    assert json.loads(response.json()["choices"][0]["message"]["content"])["subject"]


def test_disconnect_closes_the_connection_without_a_response(
    fake: FakeOpenRouter, chat: Chat
) -> None:
    fake.script(Disconnect())

    with pytest.raises(httpx.RemoteProtocolError):
        chat()

    (logged,) = fake.requests
    assert logged.status is None
    assert logged.responded_at is not None
    assert chat().status_code == 200  # the server itself is fine


def test_error_rejects_non_error_statuses() -> None:
    with pytest.raises(ValueError, match="4xx or 5xx"):
        Error(200)
