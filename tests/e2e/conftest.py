from collections.abc import Iterator

import pytest

from testkit.fake_openrouter import FakeOpenRouter


@pytest.fixture(scope="module")
def fake_llm() -> Iterator[FakeOpenRouter]:
    """The LLM every end-to-end module's system talks to, scriptable per test."""
    with FakeOpenRouter() as fake:
        yield fake
