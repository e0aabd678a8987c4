"""`Idempotency-Key`: a retry gets the first answer, a concurrent one 409, and a claim whose owner
died (its sessions ended, as PostgreSQL ends them when a client dies) no longer blocks."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import pytest
import sqlalchemy as sa
from alembic import command
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from campaign_api.db import idempotency_keys
from servicekit.db import create_engine
from servicekit.migrations import alembic_config

from .conftest import ORIGINAL_PAYLOAD, MakeClient, ReadOutbox

KEY = {"Idempotency-Key": "create-1"}


@pytest.fixture
async def observer(api_engine: AsyncEngine) -> AsyncIterator[AsyncEngine]:
    """Another client of the app's database, with a pool of its own: what it does never waits
    for the app's connections."""
    engine = create_engine(api_engine.url.render_as_string(hide_password=False))
    yield engine
    await engine.dispose()


@asynccontextmanager
async def campaigns_locked(observer: AsyncEngine) -> AsyncIterator[AsyncConnection]:
    """Creating a campaign waits while this is open: its request stays in flight."""
    async with observer.connect() as conn:
        await conn.execute(sa.text("LOCK TABLE campaigns IN SHARE MODE"))
        yield conn
        await conn.rollback()


async def wait_for_creations(observer: AsyncEngine, count: int) -> None:
    """Until `count` creations wait on the lock of `campaigns_locked`."""
    deadline = time.monotonic() + 30
    query = sa.text("SELECT count(*) FROM pg_locks "
                    "WHERE relation = 'campaigns'::regclass AND NOT granted")
    while True:
        async with observer.connect() as conn:
            if (await conn.execute(query)).scalar_one() >= count:
                return
        assert time.monotonic() < deadline, f"{count} creations did not reach the database"
        await asyncio.sleep(0.02)


async def test_a_retried_post_with_the_same_key_acts_once(
    api_client: MakeClient, outbox_events: ReadOutbox
) -> None:
    client = await api_client()
    first = await client.post("/api/campaigns/", json=ORIGINAL_PAYLOAD, headers=KEY)
    again = await client.post("/api/campaigns/", json=ORIGINAL_PAYLOAD, headers=KEY)
    assert first.status_code == again.status_code == 201
    assert again.json() == first.json()
    assert again.headers["idempotent-replayed"] == "true"
    assert len(await outbox_events("campaign.created")) == 1

    changed = await client.post("/api/campaigns/", json={**ORIGINAL_PAYLOAD, "name": "Other"},
                                headers=KEY)
    assert changed.status_code == 422
    assert changed.json()["errors"][0]["field"] == "Idempotency-Key"
    # Keys belong to a workspace: another one may use the same key for its own request.
    other = await api_client("globex")
    theirs = await other.post("/api/campaigns/", json=ORIGINAL_PAYLOAD, headers=KEY)
    assert theirs.status_code == 201
    assert theirs.json()["id"] != first.json()["id"]


async def test_a_retry_while_the_first_is_being_answered_gets_409_then_the_first_answer(
    api_client: MakeClient, observer: AsyncEngine, outbox_events: ReadOutbox
) -> None:
    client = await api_client()
    async with campaigns_locked(observer):
        first = asyncio.create_task(
            client.post("/api/campaigns/", json=ORIGINAL_PAYLOAD, headers=KEY))
        await wait_for_creations(observer, 1)
        concurrent = await client.post("/api/campaigns/", json=ORIGINAL_PAYLOAD, headers=KEY)
        assert concurrent.status_code == 409
        assert "still being processed" in concurrent.json()["detail"]
        # Nothing of the claim is visible before its answer: it is committed with it.
        async with observer.connect() as conn:
            assert (await conn.execute(sa.select(idempotency_keys))).all() == []
    answered = await first
    assert answered.status_code == 201
    retried = await client.post("/api/campaigns/", json=ORIGINAL_PAYLOAD, headers=KEY)
    assert retried.status_code == 201
    assert retried.headers["idempotent-replayed"] == "true"
    assert retried.json() == answered.json()
    assert len(await outbox_events("campaign.created")) == 1


async def test_a_claim_whose_owner_died_no_longer_blocks_the_retry(
    api_client: MakeClient, observer: AsyncEngine, outbox_events: ReadOutbox
) -> None:
    client = await api_client()
    async with campaigns_locked(observer) as lock:
        owner = asyncio.create_task(
            client.post("/api/campaigns/", json=ORIGINAL_PAYLOAD, headers=KEY))
        await wait_for_creations(observer, 1)
        # The owner's process dies: every session it had ends, the one holding the claim and
        # the one creating the campaign, as PostgreSQL ends them when its client goes away (or
        # at a restart).
        locker = (await lock.execute(sa.text("SELECT pg_backend_pid()"))).scalar_one()
        async with observer.connect() as conn:
            ended = (await conn.execute(sa.text(
                "SELECT count(*) FILTER (WHERE pg_terminate_backend(pid)) FROM pg_stat_activity "
                "WHERE datname = current_database() AND pid NOT IN (pg_backend_pid(), :locker)"),
                {"locker": locker})).scalar_one()
        assert ended >= 2
        # The owner's own client got no answer of the request's (its connection broke).
        outcome = (await asyncio.gather(owner, return_exceptions=True))[0]
        assert isinstance(outcome, Exception) or outcome.status_code == 500
    assert await outbox_events("campaign.created") == []

    retried = await client.post("/api/campaigns/", json=ORIGINAL_PAYLOAD, headers=KEY)
    assert retried.status_code == 201
    assert "idempotent-replayed" not in retried.headers
    again = await client.post("/api/campaigns/", json=ORIGINAL_PAYLOAD, headers=KEY)
    assert again.headers["idempotent-replayed"] == "true"
    assert again.json() == retried.json()
    assert len(await outbox_events("campaign.created")) == 1


async def test_requests_in_flight_with_keys_leave_connections_for_their_use_cases(
    api_client: MakeClient, observer: AsyncEngine, outbox_events: ReadOutbox
) -> None:
    # The app's pool opens 5 connections and 5 more; each request with a key holds one for its claim
    # besides the one its creation takes. More requests than that are in flight at once.
    client = await api_client(db_pool_size=5)
    async with campaigns_locked(observer):
        requests = [asyncio.create_task(client.post(
            "/api/campaigns/", json={**ORIGINAL_PAYLOAD, "name": f"Campaign {n}"},
            headers={"Idempotency-Key": f"key-{n}"})) for n in range(12)]
        # Five claims at once, and each of their creations got its connection.
        await wait_for_creations(observer, 5)
    answers = await asyncio.gather(*requests)
    assert [a.status_code for a in answers] == [201] * 12
    assert len(await outbox_events("campaign.created")) == 12


async def test_the_upgrade_frees_the_unanswered_claims_committed_before(
    api_engine: AsyncEngine,
) -> None:
    # Before revision 0007 a claim was committed without its answer, and one whose request
    # died stayed "still being processed" for ever.
    config = alembic_config("campaign_api", api_engine.url.render_as_string(hide_password=False))
    await asyncio.to_thread(command.downgrade, config, "0006")
    workspace = uuid.uuid4()
    async with api_engine.begin() as conn:
        await conn.execute(sa.insert(idempotency_keys), [
            {"workspace_id": workspace, "key": "left", "request_hash": "h",
             "status_code": None, "response": None, "media_type": None},
            {"workspace_id": workspace, "key": "answered", "request_hash": "h",
             "status_code": 201, "response": b"{}", "media_type": "application/json"}])
    await asyncio.to_thread(command.upgrade, config, "head")
    async with api_engine.connect() as conn:
        keys = (await conn.execute(sa.select(idempotency_keys.c.key))).scalars().all()
    assert keys == ["answered"]
