"""Scheduler processes as production runs them (`python -m scheduler run`), and readers of
what they publish."""

from __future__ import annotations

import asyncio
import os
import sys
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

import httpx
import pytest
from nats.js import JetStreamContext

from contracts import EmailDue, parse_event
from devstack.ports import free_port
from testkit.readiness import ServiceExitedError, until_ready


class Service:
    def __init__(self, process: asyncio.subprocess.Process, port: int, log: Path) -> None:
        self.process = process
        self.url = f"http://127.0.0.1:{port}"
        self.log = log

    def output(self) -> str:
        return self.log.read_text(errors="replace")[-4000:]

    async def metric(self, name: str) -> float:
        """A counter's value from the process's /metrics."""
        async with httpx.AsyncClient(base_url=self.url, timeout=2.0) as client:
            text = (await client.get("/metrics")).text
        values = [float(line.split()[-1]) for line in text.splitlines()
                  if line.startswith(name + " ")]
        assert values, f"{name} not exposed"
        return values[0]


StartScheduler = Callable[..., Awaitable[Service]]


@pytest.fixture
async def start_scheduler(nats_url: str, tmp_path: Path) -> AsyncIterator[StartScheduler]:
    """`await start_scheduler(database_url, **SCHEDULER_settings)`: a ready scheduler process;
    every one still running is killed at the end of the test."""
    started: list[Service] = []

    async def start(database_url: str, **settings: str) -> Service:
        port = free_port()
        env = {
            **os.environ,
            "SCHEDULER_DATABASE_URL": database_url,
            "NATS_URL": nats_url,
            "SCHEDULER_HTTP_PORT": str(port),
            "SCHEDULER_LEAD_TIME_SECONDS": "0",
            "SCHEDULER_TICK_SECONDS": "0.2",
            **{f"SCHEDULER_{k.upper()}": v for k, v in settings.items()},
        }
        log = tmp_path / f"scheduler-{len(started)}.log"
        with log.open("wb") as out:
            process = await asyncio.create_subprocess_exec(
                sys.executable, "-m", "scheduler", "run", env=env, stdout=out,
                stderr=asyncio.subprocess.STDOUT,
            )
        service = Service(process, port, log)
        started.append(service)
        try:
            async with asyncio.timeout(20):
                await until_ready(service.url, process)
        except TimeoutError:
            pytest.fail(f"scheduler not ready within 20 s:\n{service.output()}")
        except ServiceExitedError as exited:
            pytest.fail(f"scheduler exited with {exited.returncode}:\n{service.output()}")
        return service

    try:
        yield start
    finally:
        for service in started:
            if service.process.returncode is None:
                service.process.kill()
                await service.process.wait()


CollectDue = Callable[..., Awaitable[list[EmailDue]]]


@pytest.fixture
def collect_due() -> CollectDue:
    """`await collect_due(js, expected, within=15.0, quiet=1.0)`, see `read_due`."""
    return read_due


async def read_due(js: JetStreamContext, expected: int, *, within: float = 15.0,
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
                msgs = await sub.fetch(500, timeout=0.2)
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
