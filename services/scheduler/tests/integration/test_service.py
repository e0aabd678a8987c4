"""The scheduler as it runs in production: a process fed by JetStream, emitting to JetStream."""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import sys
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest
from nats.aio.client import Client
from nats.js import JetStreamContext

from contracts import CampaignCreated, EmailDue, deterministic_id, parse_event

CAMPAIGNS = 20
TOTAL_EMAILS = 3


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


class Service:
    def __init__(self, process: asyncio.subprocess.Process, port: int, log: Path) -> None:
        self.process = process
        self.url = f"http://127.0.0.1:{port}"
        self.log = log

    def output(self) -> str:
        return self.log.read_text(errors="replace")[-4000:]


@pytest.fixture
async def scheduler(
    clean_streams: None,
    nats_url: str,
    migrated_database: Callable[[str], Awaitable[str]],
    tmp_path: Path,
) -> AsyncIterator[Service]:
    port = free_port()
    env = {
        **os.environ,
        "SCHEDULER_DATABASE_URL": await migrated_database("scheduler"),
        "NATS_URL": nats_url,
        "SCHEDULER_HTTP_PORT": str(port),
        "SCHEDULER_LEAD_TIME_SECONDS": "0",
        "SCHEDULER_TICK_SECONDS": "0.2",
    }
    log = tmp_path / "scheduler.log"
    with log.open("wb") as out:
        process = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "scheduler", "run", env=env, stdout=out,
            stderr=asyncio.subprocess.STDOUT,
        )
    service = Service(process, port, log)
    try:
        try:
            async with asyncio.timeout(20):
                await wait_ready(service)
        except TimeoutError:
            pytest.fail(f"scheduler not ready within 20 s:\n{service.output()}")
        yield service
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()


async def wait_ready(service: Service) -> None:
    async with httpx.AsyncClient(base_url=service.url, timeout=1.0) as client:
        while True:
            if service.process.returncode is not None:
                pytest.fail(f"scheduler exited with {service.process.returncode}:\n"
                            f"{service.output()}")
            try:
                if (await client.get("/readyz")).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            await asyncio.sleep(0.1)


async def publish(js: JetStreamContext, event: CampaignCreated, msg_id: str) -> None:
    await js.publish(event.subject, event.model_dump_json().encode(),
                     headers={"Nats-Msg-Id": msg_id})


async def collect_due(js: JetStreamContext, expected: int, *, within: float = 15.0,
                      quiet: float = 1.0) -> list[EmailDue]:
    """Every email.due on SCHEDULE, read with an ephemeral consumer: waits for `expected`,
    then for `quiet` seconds more, so that extras would be seen too."""
    sub = await js.pull_subscribe("email.due", stream="SCHEDULE")
    found: list[EmailDue] = []
    deadline = time.monotonic() + within
    quiet_until: float | None = None
    try:
        while time.monotonic() < (quiet_until or deadline):
            try:
                msgs = await sub.fetch(100, timeout=0.2)
            except TimeoutError:  # nats raises its own subclass or asyncio's
                msgs = []
            for msg in msgs:
                event = parse_event(msg.data)
                assert isinstance(event, EmailDue)
                found.append(event)
                await msg.ack()
            if quiet_until is None and len(found) >= expected:
                quiet_until = time.monotonic() + quiet
    finally:
        await sub.unsubscribe()
    return found


async def test_each_created_campaign_gets_exactly_one_first_email_due(
    scheduler: Service, nats_client: Client, make_created: Callable[..., CampaignCreated]
) -> None:
    js = nats_client.jetstream()
    start = datetime.now(UTC).replace(microsecond=0)
    events = [
        make_created(schedule_type="daily", start_immediately=True, start_at=start,
                     total_emails=TOTAL_EMAILS, send_time="09:00", timezone="Europe/Berlin")
        for _ in range(CAMPAIGNS)
    ]
    for event in events:
        await publish(js, event, str(event.event_id))
        # The same event again under another message id: JetStream keeps both copies.
        await publish(js, event, f"{event.event_id}-again")

    dues = await collect_due(js, CAMPAIGNS)

    by_campaign = {d.payload.campaign_id: d for d in dues}
    assert len(dues) == len(by_campaign) == CAMPAIGNS
    for event in events:
        due = by_campaign[event.payload.campaign_id]
        assert due.event_id == deterministic_id("email.due", event.payload.campaign_id, 1)
        assert (due.payload.sequence, due.payload.total) == (1, TOTAL_EMAILS)
        assert due.payload.send_at == start
        assert due.correlation_id == event.correlation_id
    assert (await js.stream_info("SCHEDULE")).state.messages == CAMPAIGNS

    async with httpx.AsyncClient(base_url=scheduler.url) as client:
        assert (await client.get("/readyz")).status_code == 200

    stopping = time.monotonic()
    scheduler.process.send_signal(signal.SIGTERM)
    async with asyncio.timeout(10):
        returncode = await scheduler.process.wait()
    assert returncode == 0, scheduler.output()
    assert time.monotonic() - stopping < 5
