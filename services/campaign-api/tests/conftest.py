"""The REST API against a real, migrated database; events are read from the outbox."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from typing import Any

import httpx
import pytest
import sqlalchemy as sa
import uvicorn
from sqlalchemy.ext.asyncio import AsyncEngine

from campaign_api import usecases
from campaign_api.app import create_app
from campaign_api.settings import Settings
from servicekit.db import create_engine, outbox
from servicekit.runtime import http_config
from testkit.fixtures import CreateDatabase

ORIGINAL_PAYLOAD: dict[str, Any] = {
    "name": "Product Launch Series",
    "description": "Weekly emails about our new product features",
    "schedule_type": "weekly", "weekly_emails": 2, "weekly_days": [1, 3, 5], "total_months": 3,
    "ai_agent_id": "openai/gpt-4", "recipient_emails": ["user@example.com"],
}

LINK_KEY = "k" * 40
ERASURE_KEY = "e" * 40

MakeClient = Callable[..., Awaitable[httpx.AsyncClient]]


@pytest.fixture
async def api_engine(migrated_database: CreateDatabase) -> AsyncIterator[AsyncEngine]:
    engine = create_engine(await migrated_database("campaign_api"))
    yield engine
    await engine.dispose()


def settings_for_tests(**overrides: Any) -> Settings:
    values: dict[str, Any] = {"database_url": "postgresql://unused/unused",
                              "link_signing_key": LINK_KEY, "erasure_key": ERASURE_KEY,
                              "environment": "test", **overrides}
    return Settings(**values)


@pytest.fixture
async def api_client(api_engine: AsyncEngine) -> AsyncIterator[MakeClient]:
    """`client = await api_client("acme")`: a client with a new key of that workspace."""
    clients: list[httpx.AsyncClient] = []

    async def make(workspace: str = "acme", *, app: Any = None,
                   **settings: Any) -> httpx.AsyncClient:
        found = await usecases.create_workspace(api_engine, workspace)
        key = (await usecases.create_api_key(api_engine, found.id, "test")).key
        app = app or create_app(api_engine, [], settings=settings_for_tests(**settings))
        client = httpx.AsyncClient(transport=httpx.ASGITransport(app=app),
                                   base_url="http://api",
                                   headers={"Authorization": f"Bearer {key}"})
        clients.append(client)
        return client

    yield make
    for client in clients:
        await client.aclose()


ReadOutbox = Callable[..., Awaitable[list[dict[str, Any]]]]


@pytest.fixture
def outbox_events(api_engine: AsyncEngine) -> ReadOutbox:
    """`await outbox_events("campaign.updated")`: the events written so far, oldest first."""

    async def read(subject: str | None = None) -> list[dict[str, Any]]:
        query = sa.select(outbox.c.subject, outbox.c.data).order_by(outbox.c.id)
        if subject:
            query = query.where(outbox.c.subject == subject)
        async with api_engine.connect() as conn:
            return [json.loads(r.data) for r in (await conn.execute(query)).all()]

    return read


@pytest.fixture
def original_payload() -> dict[str, Any]:
    """The original design's create payload."""
    return dict(ORIGINAL_PAYLOAD)


Serve = Callable[..., AbstractAsyncContextManager[httpx.AsyncClient]]


@pytest.fixture
def served(api_engine: AsyncEngine) -> Serve:
    """`async with served(FORWARDED_ALLOW_IPS) as client`: the app on a real socket, reached
    from 127.0.0.1."""

    @asynccontextmanager
    async def serve(trusted: str, **settings: object) -> AsyncIterator[httpx.AsyncClient]:
        config = settings_for_tests(http_port=0, forwarded_allow_ips=trusted, **settings)
        server = uvicorn.Server(http_config(create_app(api_engine, [], settings=config), config))
        task = asyncio.create_task(server.serve())
        deadline = time.monotonic() + 30
        while not server.started:
            assert not task.done(), "the server stopped during start-up"
            assert time.monotonic() < deadline, "the server did not start"
            await asyncio.sleep(0.02)
        port = server.servers[0].sockets[0].getsockname()[1]
        try:
            async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}") as client:
                yield client
        finally:
            server.should_exit = True
            await task

    return serve
