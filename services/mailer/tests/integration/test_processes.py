"""The real `python -m mailer run` processes against real NATS, PostgreSQL and an SMTP sink:
replicas share the work without sending anything twice, and a killed mailer loses nothing and
duplicates at most what was in flight when it died."""

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
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, Envelope, Session
from sqlalchemy.ext.asyncio import AsyncEngine

from devstack.ports import LOOPBACK, free_port
from mailer import db
from servicekit.db import UnitOfWork, create_engine
from servicekit.settings import async_url
from testkit.fixtures import CreateDatabase

_MESSAGE_ID = re.compile(rb"^Message-ID: (<[^>]+>)\r?$", re.MULTILINE | re.IGNORECASE)
BATCH_SIZE, PIPELINE_DEPTH = 100, 2


class CountingSink:
    """aiosmtpd handler counting accepted messages by Message-ID."""

    def __init__(self) -> None:
        self.counts: collections.Counter[str] = collections.Counter()
        self._lock = threading.Lock()

    async def handle_DATA(  # noqa: N802 - aiosmtpd's hook name
        self, server: SMTP, session: Session, envelope: Envelope
    ) -> str:
        assert isinstance(envelope.original_content, bytes)
        match = _MESSAGE_ID.search(envelope.original_content)
        assert match is not None
        with self._lock:
            self.counts[match.group(1).decode()] += 1
        return "250 2.0.0 Ok: queued"

    @property
    def received(self) -> int:
        with self._lock:
            return sum(self.counts.values())


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


async def due_deliveries(engine: AsyncEngine, count: int) -> dict[str, str]:
    """A campaign whose first email is due now for `count` members, written the way the
    handlers write it; returns Message-ID -> recipient."""
    campaign_id, audience_id, workspace_id = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
    now = datetime.now(UTC) - timedelta(seconds=1)
    async with UnitOfWork(engine) as uow:
        await db.upsert_campaign(
            uow.conn, campaign_id=campaign_id, workspace_id=workspace_id,
            audience_id=audience_id, name="Load", from_name="Shop",
            from_email="news@shop.example", reply_to=None,
        )
        members = [(f"r{i}@example.com", f"Reader {i}", {"city": "Utrecht"})
                   for i in range(count)]
        for start in range(0, count, 1_000):
            await db.upsert_members(uow.conn, audience_id, workspace_id,
                                    members[start:start + 1_000])
        await db.insert_content(
            uow.conn, campaign_id=campaign_id, sequence=1, correlation_id=campaign_id,
            send_at=now, subject="Hello {{first_name}}", preheader="News",
            body_html='<p>Dear {{name}}, see <a href="https://shop.example/">the shop</a>.</p>',
            body_text="Dear {{name}}.",
        )
        await db.create_deliveries(uow.conn, campaign_id=campaign_id, sequence=1,
                                   audience_id=audience_id, due_at=now,
                                   message_domain="shop.example")
        await uow.commit()
    async with engine.connect() as conn:
        rows = await conn.execute(sa.select(db.deliveries.c.message_id, db.deliveries.c.email))
        return {r.message_id: r.email for r in rows}


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


def start_mailer(
    database_url: str, nats_url: str, smtp_port: int, **extra: str
) -> Mailer:
    http_port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MAILER_", "SMTP_"))}
    env |= {
        "MAILER_DATABASE_URL": database_url, "NATS_URL": nats_url,
        "SMTP_HOST": LOOPBACK, "SMTP_PORT": str(smtp_port), "SMTP_TIMEOUT": "2",
        "MAILER_HTTP_PORT": str(http_port), "MAILER_LEASE_SECONDS": "10",
        "MAILER_POLL_INTERVAL": "0.2", "MAILER_BATCH_SIZE": str(BATCH_SIZE),
        "MAILER_PIPELINE_DEPTH": str(PIPELINE_DEPTH), "MAILER_SMTP_POOL_SIZE": "4",
        "LINK_SIGNING_KEY": "process-test-link-key-0123456789abcdef",
        "LOG_LEVEL": "WARNING",
    } | extra
    mailer = Mailer([sys.executable, "-m", "mailer", "run"], env=env, stdout=subprocess.DEVNULL)
    mailer.http_port = http_port
    return mailer


async def count_states(engine: AsyncEngine) -> dict[str, int]:
    async with engine.connect() as conn:
        rows = await conn.execute(
            sa.select(db.deliveries.c.state, sa.func.count()).group_by(db.deliveries.c.state)
        )
        return {state: n for state, n in rows.all()}


async def wait_until(condition: object, seconds: float, what: str) -> None:
    deadline = time.monotonic() + seconds
    while True:
        assert callable(condition)
        if await condition():
            return
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.2)


def stop(process: Mailer) -> None:
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


async def test_two_mailers_send_each_message_exactly_once(
    database: tuple[str, AsyncEngine], nats_url: str, sink: tuple[CountingSink, int]
) -> None:
    url, engine = database
    counter, port = sink
    expected = await due_deliveries(engine, 5_000)
    mailers = [start_mailer(url, nats_url, port, MAILER_BATCH_SIZE="250",
                            MAILER_SMTP_POOL_SIZE="8") for _ in range(2)]
    try:
        async def all_sent() -> bool:
            assert all(m.poll() is None for m in mailers), "a mailer exited"
            return (await count_states(engine)).get("sent", 0) == len(expected)

        await wait_until(all_sent, 80, "5,000 deliveries sent")
        shares = [m.sent() for m in mailers]
    finally:
        for mailer in mailers:
            stop(mailer)
    assert set(counter.counts) == set(expected)
    assert set(counter.counts.values()) == {1}
    # Both replicas took part, or this would not test sharing at all.
    assert sum(shares) == len(expected)
    assert min(shares) > 0


async def test_killed_mailer_loses_nothing_and_duplicates_only_what_was_in_flight(
    database: tuple[str, AsyncEngine], nats_url: str, sink: tuple[CountingSink, int]
) -> None:
    url, engine = database
    counter, port = sink
    expected = await due_deliveries(engine, 2_000)
    # Slowed down so that the kill lands in the middle of the run.
    mailer = start_mailer(url, nats_url, port, MAILER_SMTP_RATE="400")
    try:
        async def mid_batch() -> bool:
            # Some messages are out, and a claimed batch is on the wire.
            return counter.received >= 600 and (await count_states(engine)).get("sending", 0) > 0

        await wait_until(mid_batch, 30, "600 messages out and a batch in flight")
        mailer.send_signal(signal.SIGKILL)
        mailer.wait()
    finally:
        stop(mailer)
    before_restart = dict(counter.counts)
    states = await count_states(engine)
    in_flight = states.get("sending", 0)
    # What the design allows to be in doubt: every batch claimed by the sender loops.
    assert in_flight <= BATCH_SIZE * PIPELINE_DEPTH
    assert 0 < len(before_restart) < len(expected)

    restarted = start_mailer(url, nats_url, port)
    try:
        async def all_sent() -> bool:
            assert restarted.poll() is None, "the restarted mailer exited"
            return (await count_states(engine)).get("sent", 0) == len(expected)

        # The killed process's claims are taken over once their 10 s lease has run out.
        await wait_until(all_sent, 60, "every delivery sent after the restart")
    finally:
        stop(restarted)
    assert set(counter.counts) == set(expected)
    duplicates = sum(n - 1 for n in counter.counts.values())
    assert duplicates <= in_flight
    # A message received twice was one of those sent before the kill.
    assert all(mid in before_restart for mid, n in counter.counts.items() if n > 1)


def _children(pid: int) -> list[int]:
    """The processes whose parent is `pid`."""
    found = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                stat = Path(f"/proc/{entry}/stat").read_text()
            except OSError:
                continue
            if int(stat.rsplit(")", 1)[1].split()[1]) == pid:
                found.append(int(entry))
    return found


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # A zombie is gone but for its exit status.
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except FileNotFoundError:  # reaped meanwhile
        return False


async def test_one_mailer_with_sender_processes_sends_each_message_once_and_takes_them_along(
    database: tuple[str, AsyncEngine], nats_url: str, sink: tuple[CountingSink, int]
) -> None:
    url, engine = database
    counter, port = sink
    expected = await due_deliveries(engine, 3_000)
    metrics_port = free_port()
    mailer = start_mailer(url, nats_url, port, MAILER_SENDER_PROCESSES="2",
                          MAILER_BATCH_SIZE="250", MAILER_SENDER_METRICS_PORT=str(metrics_port))
    try:
        async def all_sent() -> bool:
            assert mailer.poll() is None, "the mailer exited"
            return (await count_states(engine)).get("sent", 0) == len(expected)

        await wait_until(all_sent, 80, "3,000 deliveries sent")

        async def counted_once() -> bool:
            # The `run` process's own metrics and the sender process's, on its own port:
            # between them, every message once (a count follows its commit by a moment).
            return mailer.sent() + mailer.sent(metrics_port) == len(expected)

        await wait_until(counted_once, 5, "the two processes' metrics to add up")
        own_share = mailer.sent()
        (sender,) = _children(mailer.pid)
        # Killed outright, the mailer cannot stop its sender process: that one notices.
        mailer.send_signal(signal.SIGKILL)
        mailer.wait()

        async def sender_gone() -> bool:
            return not _alive(sender)

        await wait_until(sender_gone, 10, "the sender process to stop after its mailer")
    finally:
        stop(mailer)
    assert set(counter.counts) == set(expected)
    assert set(counter.counts.values()) == {1}
    # Both processes sent: the `run` process did not send everything itself.
    assert 0 < own_share < len(expected)


async def test_the_mailer_is_ready_only_while_its_sender_processes_run(
    database: tuple[str, AsyncEngine], nats_url: str, sink: tuple[CountingSink, int]
) -> None:
    url, _ = database
    mailer = start_mailer(url, nats_url, sink[1], MAILER_SENDER_PROCESSES="2")
    seen: list[int] = []

    async def readiness_is(status: int) -> bool:
        assert mailer.poll() is None, "the mailer exited"
        code = await asyncio.to_thread(mailer.readiness)
        seen.append(code)
        return code == status

    try:
        await wait_until(lambda: readiness_is(200), 30, "the mailer to be ready")
        (sender,) = _children(mailer.pid)
        os.kill(sender, signal.SIGKILL)
        await wait_until(lambda: readiness_is(503), 10, "not ready without its sender process")
        await wait_until(lambda: readiness_is(200), 30, "ready again once it is restarted")
        (restarted,) = _children(mailer.pid)
        assert restarted != sender
    finally:
        stop(mailer)
