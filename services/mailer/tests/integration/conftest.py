"""Fixtures for the tests that run real `python -m mailer run` processes against real NATS,
PostgreSQL and an SMTP sink that counts what it accepts."""

from __future__ import annotations

import asyncio
import collections
import os
import re
import signal
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, Envelope, Session
from sqlalchemy.ext.asyncio import AsyncEngine

from devstack.ports import LOOPBACK, free_port
from mailer import db
from mailer.dispatcher import dispatch_due
from mailer.domain import Sender
from servicekit.db import UnitOfWork, create_engine
from servicekit.settings import async_url
from testkit.fixtures import CreateDatabase

_MESSAGE_ID = re.compile(rb"^Message-ID: (<[^>]+>)\r?$", re.MULTILINE | re.IGNORECASE)
BATCH_SIZE, PIPELINE_DEPTH = 100, 2


class CountingSink:
    """aiosmtpd handler counting accepted messages by Message-ID, with when each copy was
    accepted (time.monotonic)."""

    def __init__(self) -> None:
        self.counts: collections.Counter[str] = collections.Counter()
        self.accepted_at: dict[str, list[float]] = collections.defaultdict(list)
        self._lock = threading.Lock()

    async def handle_DATA(  # noqa: N802 - aiosmtpd's hook name
        self, server: SMTP, session: Session, envelope: Envelope
    ) -> str:
        assert isinstance(envelope.original_content, bytes)
        match = _MESSAGE_ID.search(envelope.original_content)
        assert match is not None
        with self._lock:
            message_id = match.group(1).decode()
            self.counts[message_id] += 1
            self.accepted_at[message_id].append(time.monotonic())
        return "250 2.0.0 Ok: queued"

    @property
    def received(self) -> int:
        with self._lock:
            return sum(self.counts.values())

    def snapshot(self) -> dict[str, int]:
        with self._lock:
            return dict(self.counts)

    @property
    def duplicates(self) -> int:
        with self._lock:
            return sum(n - 1 for n in self.counts.values())


@pytest.fixture
def sink() -> Iterator[tuple[CountingSink, int]]:
    handler = CountingSink()
    controller = Controller(handler, hostname=LOOPBACK, port=free_port())
    controller.start()
    yield handler, controller.port
    controller.stop()


@pytest.fixture
async def database(migrated_database: CreateDatabase) -> AsyncIterator[tuple[str, AsyncEngine]]:
    url = await migrated_database("mailer")
    engine = create_engine(async_url(url), pool_size=2)
    yield url, engine
    await engine.dispose()


class Mailer(subprocess.Popen[bytes]):
    http_port: int

    def sent(self, port: int | None = None) -> float:
        """A process's own count of accepted messages, from the /metrics on `port` (this
        process's HTTP port unless given)."""
        url = f"http://{LOOPBACK}:{port or self.http_port}/metrics"
        with urllib.request.urlopen(url, timeout=5) as response:
            text = response.read().decode()
        match = re.search(r'^mailer_deliveries_total\{outcome="sent"\} (\S+)$', text, re.M)
        return float(match.group(1)) if match else 0.0

    def readiness(self) -> int:
        """The status /readyz answers with; 0 while nothing listens yet."""
        url = f"http://{LOOPBACK}:{self.http_port}/readyz"
        try:
            with urllib.request.urlopen(url, timeout=2) as response:
                return int(response.status)
        except urllib.error.HTTPError as exc:
            return exc.code
        except OSError:
            return 0


class Mailers:
    """Starts mailer processes on the test's database, NATS and sink (`start(**env)`), and
    kills whatever is left of them after the test."""

    def __init__(self, database_url: str, engine: AsyncEngine, nats_url: str,
                 smtp_port: int) -> None:
        self.database_url, self.engine, self.nats_url = database_url, engine, nats_url
        self.smtp_port = smtp_port
        self.started: list[Mailer] = []

    def start(self, **extra: str) -> Mailer:
        http_port = free_port()
        env = {k: v for k, v in os.environ.items() if not k.startswith(("MAILER_", "SMTP_"))}
        env |= {
            "MAILER_DATABASE_URL": self.database_url, "NATS_URL": self.nats_url,
            "SMTP_HOST": LOOPBACK, "SMTP_PORT": str(self.smtp_port), "SMTP_TIMEOUT": "2",
            "MAILER_HTTP_PORT": str(http_port), "MAILER_LEASE_SECONDS": "10",
            "MAILER_POLL_INTERVAL": "0.2", "MAILER_BATCH_SIZE": str(BATCH_SIZE),
            "MAILER_PIPELINE_DEPTH": str(PIPELINE_DEPTH), "MAILER_SMTP_POOL_SIZE": "4",
            "LINK_SIGNING_KEY": "process-test-link-key-0123456789abcdef",
            "LOG_LEVEL": "WARNING",
        } | extra
        mailer = Mailer([sys.executable, "-m", "mailer", "run"], env=env,
                        stdout=subprocess.DEVNULL)
        mailer.http_port = http_port
        self.started.append(mailer)
        return mailer

    async def due(self, count: int) -> dict[str, str]:
        """A campaign whose first email is due now for `count` members, written the way the
        handlers write it; returns Message-ID -> recipient."""
        campaign_id, audience_id, workspace_id = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
        now = datetime.now(UTC) - timedelta(seconds=1)
        async with UnitOfWork(self.engine) as uow:
            await db.upsert_campaign(
                uow.conn, campaign_id=campaign_id, workspace_id=workspace_id,
                audience_id=audience_id, name="Load", from_name="Shop",
                from_email="news@shop.example", reply_to=None,
            )
            members = [(f"r{i}@example.com", f"Reader {i}", {"city": "Utrecht"})
                       for i in range(count)]
            for start in range(0, count, 1_000):
                await db.upsert_audience_members(uow.conn, audience_id, workspace_id,
                                                 members[start:start + 1_000], now)
            await db.insert_content(
                uow.conn, campaign_id=campaign_id, sequence=1, correlation_id=campaign_id,
                send_at=now, subject="Hello {{first_name}}", preheader="News",
                body_html='<p>Dear {{name}}, see <a href="https://shop.example/">the shop</a>.'
                          '</p>',
                body_text="Dear {{name}}.",
            )
            await db.insert_dispatches(uow.conn, campaign_id, 1, [(now, None)])
            await uow.commit()
        # What the dispatcher does at the send time.
        await dispatch_due(self.engine, now=now, default_sender=Sender("Shop", "news@shop.example"))
        async with self.engine.connect() as conn:
            rows = await conn.execute(sa.select(db.deliveries.c.message_id,
                                                db.deliveries.c.email))
            return {r.message_id: r.email for r in rows}

    async def states(self) -> dict[str, int]:
        async with self.engine.connect() as conn:
            rows = await conn.execute(
                sa.select(db.deliveries.c.state, sa.func.count())
                .group_by(db.deliveries.c.state)
            )
            return {state: n for state, n in rows.all()}

    async def sent_ids(self) -> set[str]:
        """The Message-IDs of the deliveries recorded as sent."""
        async with self.engine.connect() as conn:
            return set(await conn.scalars(sa.select(db.deliveries.c.message_id)
                                          .where(db.deliveries.c.state == "sent")))

    async def attempts(self) -> collections.Counter[int]:
        """How many deliveries took how many attempts."""
        async with self.engine.connect() as conn:
            rows = await conn.execute(sa.select(db.deliveries.c.attempts, sa.func.count())
                                      .group_by(db.deliveries.c.attempts))
            return collections.Counter({attempts: n for attempts, n in rows.all()})


@pytest.fixture
def mailers(
    database: tuple[str, AsyncEngine], nats_url: str, sink: tuple[CountingSink, int]
) -> Iterator[Mailers]:
    url, engine = database
    started = Mailers(url, engine, nats_url, sink[1])
    yield started
    for mailer in started.started:
        stop(mailer)


async def wait_until(condition: Callable[[], Awaitable[bool]], seconds: float,
                     what: str) -> None:
    deadline = time.monotonic() + seconds
    while not await condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.2)


def stop(process: subprocess.Popen[bytes], timeout: float = 10) -> int:
    """SIGTERM, then SIGKILL if it has not exited within `timeout` seconds; its exit code."""
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
    return process.returncode


@pytest.fixture
def until() -> Callable[..., Awaitable[None]]:
    """`await until(condition, seconds, what)`: poll the async `condition` until it holds."""
    return wait_until


@pytest.fixture
def terminate() -> Callable[..., int]:
    """`terminate(process, timeout)`: SIGTERM, SIGKILL after `timeout` s; the exit code."""
    return stop
