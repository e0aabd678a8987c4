"""The request log, the key endpoint, embeddings and unknown paths."""

from __future__ import annotations

import math
import time
from collections.abc import Callable

import httpx
import pytest

from testkit.fake_openrouter import Error, FakeOpenRouter

Chat = Callable[..., httpx.Response]


def test_every_request_is_logged_with_its_outcome(
    fake: FakeOpenRouter, client: httpx.Client, chat: Chat
) -> None:
    before_wall, before = time.time(), time.monotonic()
    fake.script(Error(429))
    chat(max_tokens=500)
    chat()
    client.get("/key")
    httpx.get(f"{fake.base_url}/key")

    logged = fake.requests

    assert [(r.method, r.path, r.status) for r in logged] == [
        ("POST", "/api/v1/chat/completions", 429),
        ("POST", "/api/v1/chat/completions", 200),
        ("GET", "/api/v1/key", 200),
        ("GET", "/api/v1/key", 401),
    ]
    first = logged[0]
    assert first.headers["authorization"] == f"Bearer {fake.api_key}"
    assert first.body["max_tokens"] == 500
    assert first.usage is None
    assert before <= first.received_at <= (first.responded_at or 0.0) <= time.monotonic()
    assert before_wall <= first.received_wall <= time.time()
    assert logged[1].usage is not None
    assert len(fake.chat_requests()) == 2


def test_app_attribution_headers_are_logged(fake: FakeOpenRouter, client: httpx.Client) -> None:
    client.post(
        "/chat/completions",
        json={"messages": [{"role": "user", "content": "hi"}]},
        headers={"HTTP-Referer": "https://campaigns.example", "X-Title": "Campaign Builder"},
    )

    (logged,) = fake.chat_requests()
    assert logged.headers["http-referer"] == "https://campaigns.example"
    assert logged.headers["x-title"] == "Campaign Builder"


def test_logged_costs_add_up_to_what_was_billed(
    fake: FakeOpenRouter, client: httpx.Client, chat: Chat
) -> None:
    billed = [chat(messages=[{"role": "user", "content": f"email {n}"}]) for n in range(5)]
    billed_cost = sum(r.json()["usage"]["cost"] for r in billed)

    assert fake.total_cost() == pytest.approx(billed_cost)
    assert sum(r.usage["cost"] for r in fake.chat_requests() if r.usage) == pytest.approx(
        billed_cost
    )
    key = client.get("/key").json()["data"]
    assert key["usage"] == pytest.approx(billed_cost)
    assert key["limit_remaining"] == pytest.approx(key["limit"] - billed_cost)


def test_key_endpoint_describes_the_key(fake: FakeOpenRouter, client: httpx.Client) -> None:
    for path in ("/key", "/auth/key"):
        data = client.get(path).json()["data"]
        assert data["label"].startswith(fake.api_key[:10])
        assert data["is_free_tier"] is False
        assert data["limit"] == 100.0
        assert data["usage"] == 0


def test_embeddings_are_normalised_and_similar_for_similar_texts(client: httpx.Client) -> None:
    texts = [
        "spring sale on garden furniture",
        "garden furniture spring sale now on",
        "quarterly tax filing deadline",
    ]

    model = "openai/text-embedding-3-small"
    response = client.post("/embeddings", json={"model": model, "input": texts})

    assert response.status_code == 200
    body = response.json()
    assert body["object"] == "list"
    assert body["model"] == model
    assert body["usage"]["prompt_tokens"] == body["usage"]["total_tokens"] > 0
    assert [d["index"] for d in body["data"]] == [0, 1, 2]
    assert all(d["object"] == "embedding" for d in body["data"])
    vectors = [d["embedding"] for d in body["data"]]
    assert all(len(v) == 64 for v in vectors)
    assert all(math.isclose(math.hypot(*v), 1.0) for v in vectors)

    def cosine(a: list[float], b: list[float]) -> float:
        return sum(x * y for x, y in zip(a, b, strict=True))

    assert cosine(vectors[0], vectors[1]) > 0.9
    assert cosine(vectors[0], vectors[2]) < 0.5
    again = client.post("/embeddings", json={"input": texts[0]}).json()["data"][0]["embedding"]
    assert again == vectors[0]


@pytest.mark.parametrize("payload", [{}, {"input": ""}, {"input": []}, {"input": [1]}])
def test_embeddings_reject_missing_input(client: httpx.Client, payload: dict[str, object]) -> None:
    response = client.post("/embeddings", json=payload)

    assert response.status_code == 400
    assert response.json()["error"]["code"] == 400


def test_embedding_dimensions_are_configurable() -> None:
    with FakeOpenRouter(embedding_dimensions=8) as fake:
        response = httpx.post(
            f"{fake.base_url}/embeddings",
            json={"input": "hello"},
            headers={"Authorization": f"Bearer {fake.api_key}"},
        )
    assert len(response.json()["data"][0]["embedding"]) == 8


def test_unknown_paths_get_404_in_openrouters_error_shape(client: httpx.Client) -> None:
    response = client.get("/models/nope")

    assert response.status_code == 404
    assert response.json() == {"error": {"code": 404, "message": "Not Found"}}
