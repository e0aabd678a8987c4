"""OpenRouter's `models` fallback routing: an error moves on to the next model, in order."""

from __future__ import annotations

from collections.abc import Callable

import httpx

from testkit.fake_openrouter import DEFAULT_MODEL, Error, ErrorInBody, FakeOpenRouter, Reply

Chat = Callable[..., httpx.Response]
PRIMARY, SECONDARY, LAST = "openai/gpt-4o", "anthropic/claude-3.5-sonnet", "meta/llama-3-70b"


def test_an_error_falls_back_to_the_next_model(fake: FakeOpenRouter, chat: Chat) -> None:
    fake.script(Error(503), model=PRIMARY)

    response = chat(models=[PRIMARY, SECONDARY])

    assert response.status_code == 200
    assert response.json()["model"] == SECONDARY
    (logged,) = fake.chat_requests()
    assert logged.attempted_models == (PRIMARY, SECONDARY)
    assert logged.model == SECONDARY


def test_when_every_model_fails_the_last_error_is_returned(
    fake: FakeOpenRouter, chat: Chat
) -> None:
    fake.script(Error(503), model=PRIMARY)
    fake.script(Error(429, retry_after=3), model=SECONDARY)

    response = chat(models=[PRIMARY, SECONDARY])

    assert response.status_code == 429
    assert response.headers["retry-after"] == "3"
    assert fake.chat_requests()[0].attempted_models == (PRIMARY, SECONDARY)


def test_an_error_after_generation_started_does_not_fall_back(
    fake: FakeOpenRouter, chat: Chat
) -> None:
    fake.script(ErrorInBody(), model=PRIMARY)

    response = chat(models=[PRIMARY, SECONDARY])

    assert response.status_code == 200
    assert response.json()["error"]["code"] == 502
    assert fake.chat_requests()[0].attempted_models == (PRIMARY,)


def test_each_attempt_consumes_one_shared_item(fake: FakeOpenRouter, chat: Chat) -> None:
    fake.script(Error(502), Error(502))

    response = chat(models=[PRIMARY, SECONDARY, LAST])

    assert response.json()["model"] == LAST
    assert fake.pending() == 0


def test_model_queues_take_precedence_over_the_shared_queue(
    fake: FakeOpenRouter, chat: Chat
) -> None:
    fake.script(Reply("shared"))
    fake.script(Reply("own"), model=PRIMARY)

    assert chat().json()["choices"][0]["message"]["content"] == "own"
    assert chat().json()["choices"][0]["message"]["content"] == "shared"


def test_model_is_tried_first_and_models_once_each(fake: FakeOpenRouter, chat: Chat) -> None:
    fake.script(Error(503), model=PRIMARY)

    response = chat(model=PRIMARY, models=[PRIMARY, SECONDARY])

    assert response.json()["model"] == SECONDARY
    assert fake.chat_requests()[0].attempted_models == (PRIMARY, SECONDARY)


def test_a_request_without_a_model_uses_the_default(fake: FakeOpenRouter) -> None:
    headers = {"Authorization": f"Bearer {fake.api_key}"}
    body = {"messages": [{"role": "user", "content": "hi"}]}

    response = httpx.post(f"{fake.base_url}/chat/completions", json=body, headers=headers)

    assert response.json()["model"] == DEFAULT_MODEL
