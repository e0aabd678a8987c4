"""The service's handlers over a real migrated database, writing through the fake OpenRouter."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from typing import Any

import httpx
import pytest
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine

from content_generator import db
from content_generator.app import handler_table
from content_generator.embeddings import HashingEmbedder
from content_generator.handlers import Ports
from content_generator.providers import EmailProvider, OpenRouterProvider, RetryPolicy
from contracts import Event, parse_event
from servicekit.consumer import Handlers, apply
from servicekit.db import create_engine, outbox
from testkit.fake_openrouter import FakeOpenRouter

# Real backoff shape, test-sized waits; Retry-After is still honoured in full.
FAST_RETRY = RetryPolicy(attempts=3, initial_wait=0.01, max_wait=0.05, max_retry_after=5.0)
APP_URL = "https://campaigns.example"
APP_TITLE = "Campaign Builder tests"
CONSUMER = "content-generator-tests"


@pytest.fixture(scope="session")
def fake_openrouter() -> Iterator[FakeOpenRouter]:
    with FakeOpenRouter() as fake:
        yield fake


@pytest.fixture
def openrouter(fake_openrouter: FakeOpenRouter) -> FakeOpenRouter:
    fake_openrouter.reset()
    fake_openrouter.latency = 0.0
    return fake_openrouter


@pytest.fixture
async def engine(
    migrated_database: Callable[[str], Awaitable[str]],
) -> AsyncIterator[AsyncEngine]:
    engine = create_engine(await migrated_database("content_generator"))
    yield engine
    await engine.dispose()


@pytest.fixture
async def http_client() -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient() as client:
        yield client


@pytest.fixture
def make_provider(
    openrouter: FakeOpenRouter, http_client: httpx.AsyncClient
) -> Callable[..., OpenRouterProvider]:
    """`make_provider(api_key=..., timeout=...)`: OpenRouterProvider pointed at the fake."""

    def make(**overrides: Any) -> OpenRouterProvider:
        options: dict[str, Any] = {
            "api_key": openrouter.api_key, "base_url": openrouter.base_url, "timeout": 2.0,
            "app_url": APP_URL, "app_title": APP_TITLE, "retry": FAST_RETRY, **overrides,
        }
        return OpenRouterProvider(http_client, **options)

    return make


class Service:
    """Handles events as the service's consumers do: the step outside any transaction, then
    one unit of work each, committed with the event's inbox mark."""

    def __init__(self, engine: AsyncEngine, provider: EmailProvider, **options: Any) -> None:
        self.engine = engine
        self.provider = provider
        self._options = options
        self.ports = Ports(provider=provider, call_log=db.CallLog(engine),
                           # As db.create_reader's engine: autocommit.
                           database=engine.execution_options(isolation_level="AUTOCOMMIT"),
                           **{"embedder": HashingEmbedder(), **options})
        self._handlers = handler_table(self.ports)

    def using(self, provider: EmailProvider | None = None, **options: Any) -> Service:
        """The same service with another provider or other `Ports` options."""
        return Service(self.engine, provider or self.provider, **{**self._options, **options})

    @property
    def handlers(self) -> Handlers:
        return self._handlers

    async def handle(self, *events: Event) -> list[str]:
        """Each event's outcome: "handled", or "duplicate" for an event already handled."""
        outcomes = []
        for event in events:
            steps = self._handlers.steps(event.type)
            assert steps is not None, f"no handler for {event.type}"
            outcomes.append(await apply(self.engine, CONSUMER, event, steps))
        return outcomes

    async def rows(self, table: sa.Table) -> list[sa.Row[Any]]:
        order = table.c.id if "id" in table.c else sa.text("1")
        async with self.engine.connect() as conn:
            return list((await conn.execute(sa.select(table).order_by(order))).all())

    async def published(self) -> list[Event]:
        """Events in the outbox, oldest first."""
        async with self.engine.connect() as conn:
            rows = await conn.execute(sa.select(outbox.c.data).order_by(outbox.c.id))
            return [parse_event(r.data) for r in rows]


@pytest.fixture
def service(engine: AsyncEngine, make_provider: Callable[..., OpenRouterProvider]) -> Service:
    return Service(engine, make_provider())
