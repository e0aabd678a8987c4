"""The REST API against a real, migrated database; events are read from the outbox."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import httpx
import pytest
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine

from campaign_api import usecases
from campaign_api.app import create_app
from campaign_api.settings import Settings
from servicekit.db import create_engine, outbox
from testkit.fixtures import CreateDatabase

ORIGINAL_PAYLOAD: dict[str, Any] = {
    "name": "Product Launch Series",
    "description": "Weekly emails about our new product features",
    "schedule_type": "weekly", "weekly_emails": 2, "weekly_days": [1, 3, 5], "total_months": 3,
    "ai_agent_id": "openai/gpt-4", "recipient_emails": ["user@example.com"],
}

LINK_KEY = "k" * 40

MakeClient = Callable[..., Awaitable[httpx.AsyncClient]]


@pytest.fixture
async def api_engine(migrated_database: CreateDatabase) -> AsyncIterator[AsyncEngine]:
    engine = create_engine(await migrated_database("campaign_api"))
    yield engine
    await engine.dispose()


def settings_for_tests(**overrides: Any) -> Settings:
    values: dict[str, Any] = {"database_url": "postgresql://unused/unused",
                              "link_signing_key": LINK_KEY, "environment": "test", **overrides}
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
