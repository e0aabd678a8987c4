"""Guessing API keys: failed attempts are limited per client address, with a Retry-After."""

from __future__ import annotations

import secrets

import httpx
from sqlalchemy.ext.asyncio import AsyncEngine

from campaign_api import usecases
from campaign_api.app import create_app

from .conftest import settings_for_tests


def _from(app: object, address: str, key: str) -> httpx.AsyncClient:
    transport = httpx.ASGITransport(app=app, client=(address, 40000))  # type: ignore[arg-type]
    return httpx.AsyncClient(transport=transport, base_url="http://api",
                             headers={"Authorization": f"Bearer {key}"})


async def test_random_keys_are_refused_with_429_past_the_failure_limit(
        api_engine: AsyncEngine) -> None:
    app = create_app(api_engine, [], settings=settings_for_tests(auth_failure_burst=5))
    answers = []
    for _ in range(8):
        async with _from(app, "198.51.100.7", f"cb_{secrets.token_urlsafe(24)}") as client:
            answers.append(await client.get("/api/workspace"))
    assert [r.status_code for r in answers] == [401] * 5 + [429] * 3
    assert int(answers[-1].headers["retry-after"]) >= 1
    assert answers[-1].headers["content-type"] == "application/problem+json"


async def test_a_limited_address_waits_even_with_a_valid_key_and_others_do_not(
        api_engine: AsyncEngine) -> None:
    app = create_app(api_engine, [], settings=settings_for_tests(auth_failure_burst=3))
    workspace = await usecases.create_workspace(api_engine, "acme")
    key = (await usecases.create_api_key(api_engine, workspace.id, "ops")).key
    for _ in range(3):
        async with _from(app, "198.51.100.7", "cb_wrong") as client:
            assert (await client.get("/api/workspace")).status_code == 401
    async with _from(app, "198.51.100.7", key) as client:
        assert (await client.get("/api/workspace")).status_code == 429
    async with _from(app, "203.0.113.9", key) as client:
        assert (await client.get("/api/workspace")).status_code == 200
    async with _from(app, "203.0.113.9", "cb_wrong") as client:
        assert (await client.get("/api/workspace")).status_code == 401


async def test_successful_requests_spend_nothing_of_the_failure_limit(
        api_engine: AsyncEngine) -> None:
    app = create_app(api_engine, [], settings=settings_for_tests(auth_failure_burst=1))
    workspace = await usecases.create_workspace(api_engine, "acme")
    key = (await usecases.create_api_key(api_engine, workspace.id, "ops")).key
    async with _from(app, "198.51.100.7", key) as client:
        for _ in range(5):
            assert (await client.get("/api/workspace")).status_code == 200
