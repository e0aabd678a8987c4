from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest

from testkit.fake_openrouter import FakeOpenRouter

MESSAGES = [
    {"role": "system", "content": "You write marketing emails as JSON."},
    {"role": "user", "content": "Write email 2 of 5 for the spring sale."},
]

Chat = Callable[..., httpx.Response]


@pytest.fixture(scope="session")
def shared_fake() -> Iterator[FakeOpenRouter]:
    with FakeOpenRouter() as fake:
        yield fake


@pytest.fixture
def fake(shared_fake: FakeOpenRouter) -> FakeOpenRouter:
    # One server for the session; each test starts from an empty script and log.
    shared_fake.reset()
    shared_fake.latency = 0.0
    return shared_fake


@pytest.fixture
def client(fake: FakeOpenRouter) -> Iterator[httpx.Client]:
    headers = {"Authorization": f"Bearer {fake.api_key}"}
    with httpx.Client(base_url=fake.base_url, headers=headers, timeout=5.0) as client:
        yield client


@pytest.fixture
def chat(client: httpx.Client) -> Chat:
    """Posts a chat completion; keyword arguments are merged into the request body."""

    def post(**body: Any) -> httpx.Response:
        request = {"model": "openai/gpt-4o", "messages": MESSAGES, **body}
        return client.post("/chat/completions", json=request)

    return post
