"""Fixtures for servicekit's tests: a fresh database holding only the messaging tables, a
JetStream stream and consumer of each test's own, and a way to wait for something to happen."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from datetime import UTC, datetime

import asyncpg
import nats.js.errors
import pytest
import structlog
from nats.aio.client import Client
from nats.js import JetStreamContext
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine

from contracts import CampaignPaused, deterministic_id
from contracts.events import CampaignRef
from contracts.streams import TOPOLOGY, ConsumerSpec, StreamSpec
from servicekit.broker import ensure_consumer, ensure_stream
from servicekit.db import create_engine, metadata
from servicekit.logging import configure_logging

WORKSPACE = uuid.UUID("00000000-0000-4000-8000-000000000001")

Condition = Callable[[], Awaitable[bool]]


@pytest.fixture(scope="session", autouse=True)
def _service_logging() -> Iterator[None]:
    """Log as services do: JSON lines with plain tracebacks. The console renderer's rich
    tracebacks of a failed handler take seconds to render, which would slow every retry."""
    configure_logging("servicekit-tests", level="INFO", fmt="json")
    yield
    # The handlers write to pytest's capture stream, which is closed before exit handlers log.
    logging.getLogger().handlers.clear()
    structlog.reset_defaults()


async def _eventually(condition: Condition, *, seconds: float = 5.0, what: str = "") -> float:
    start = time.monotonic()
    while not await condition():
        if time.monotonic() - start > seconds:
            pytest.fail(f"not within {seconds} s: {what}")
        await asyncio.sleep(0.02)
    return time.monotonic() - start


@pytest.fixture
def eventually() -> Callable[..., Awaitable[float]]:
    """`took = await eventually(condition, seconds=5, what="...")`: wait until the async
    `condition()` holds and return how long it took; fail the test on timeout."""
    return _eventually


def _event(n: int = 1, *, campaign: uuid.UUID | None = None) -> CampaignPaused:
    campaign = campaign or uuid.uuid4()
    return CampaignPaused.create(
        CampaignRef(campaign_id=campaign),
        workspace_id=WORKSPACE,
        event_id=deterministic_id("servicekit.test", campaign, n),
        occurred_at=datetime.now(UTC),
    )


@pytest.fixture
def make_event() -> Callable[..., CampaignPaused]:
    """`make_event(n, campaign=...)`: a small valid event (subject `campaign.paused`) whose id
    is deterministic in (campaign, n)."""
    return _event


async def _admin(server_url: str, sql: str) -> None:
    dsn = make_url(server_url).set(drivername="postgresql").render_as_string(hide_password=False)
    conn = await asyncpg.connect(dsn)
    try:
        await conn.execute(sql)
    finally:
        await conn.close()


@pytest.fixture
async def database_url(postgres_server_url: str) -> AsyncIterator[str]:
    """A new database holding only servicekit's messaging tables (outbox, inbox,
    parked_events), dropped after the test."""
    name = f"sk_{uuid.uuid4().hex[:12]}"
    await _admin(postgres_server_url, f'CREATE DATABASE "{name}"')
    try:
        url = make_url(postgres_server_url).set(drivername="postgresql+asyncpg", database=name)
        rendered = url.render_as_string(hide_password=False)
        engine = create_engine(rendered, pool_size=1)
        try:
            async with engine.begin() as conn:
                await conn.run_sync(metadata.create_all)
        finally:
            await engine.dispose()
        yield rendered
    finally:
        await _admin(postgres_server_url, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture
async def engine(database_url: str) -> AsyncIterator[AsyncEngine]:
    engine = create_engine(database_url)
    yield engine
    await engine.dispose()


@pytest.fixture
def js(nats_client: Client) -> JetStreamContext:
    return nats_client.jetstream()


@pytest.fixture
async def own_stream(js: JetStreamContext) -> AsyncIterator[StreamSpec]:
    """A stream of the test's own, on subjects no other test uses: `<prefix>.>`."""
    token = uuid.uuid4().hex[:10]
    spec = StreamSpec(f"SKTEST_{token.upper()}", (f"sktest.{token}.>",), "servicekit test")
    await ensure_stream(js, spec)
    yield spec
    with contextlib.suppress(nats.js.errors.NotFoundError):
        await js.delete_stream(spec.name)


@pytest.fixture
def consumer_spec(own_stream: StreamSpec) -> ConsumerSpec:
    """Small numbers so that retries, parking and redelivery take fractions of a second.
    Batches of one: a fetch returns as soon as a message is there instead of waiting for a
    fuller batch until its timeout."""
    return ConsumerSpec(
        service="sktest",
        stream=own_stream.name,
        filter_subjects=own_stream.subjects,
        ack_wait_seconds=2,
        max_deliver=3,
        backoff_seconds=(0.3,),
        batch_size=1,
    )


@pytest.fixture
async def durable(js: JetStreamContext, consumer_spec: ConsumerSpec) -> ConsumerSpec:
    await ensure_consumer(js, consumer_spec)
    return consumer_spec


@pytest.fixture
async def quiet_streams(clean_streams: None, js: JetStreamContext) -> AsyncIterator[None]:
    """The system's streams, empty before the test and purged after it, so that events a test
    publishes on real subjects reach no other test's consumers."""
    yield
    for spec in TOPOLOGY.streams:
        await js.purge_stream(spec.name)
