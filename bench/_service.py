"""Running one service process in a benchmark: start-up wait, its log, its peak memory."""

from __future__ import annotations

import asyncio
import os
import sys
import time
import uuid
from pathlib import Path

import nats
from nats.js.api import StreamConfig

from devstack.ports import free_port
from testkit.readiness import ServiceExitedError, until_ready


def profiled(variable: str) -> list[str]:
    """Interpreter arguments that run the service under cProfile when `variable` names a file."""
    path = os.environ.get(variable)
    return ["-m", "cProfile", "-o", path] if path else []


async def start_service(module: str, env: dict[str, str], log: Path, *,
                        profile: str) -> tuple[asyncio.subprocess.Process, str]:
    """`python -m <module> run` with `env` on top of this process's, on a free HTTP port, its
    output to `log` (under cProfile when `profile` names a file): the process and its URL."""
    port = free_port()
    variables = {**os.environ, **env, f"{module.upper()}_HTTP_PORT": str(port)}
    with log.open("wb") as out:
        process = await asyncio.create_subprocess_exec(
            sys.executable, *profiled(profile), "-m", module, "run",
            env=variables, stdout=out, stderr=asyncio.subprocess.STDOUT)
    return process, f"http://127.0.0.1:{port}"


async def wait_ready(url: str, process: asyncio.subprocess.Process, log: Path, *,
                     name: str) -> None:
    try:
        async with asyncio.timeout(30):
            await until_ready(url, process)
    except (TimeoutError, ServiceExitedError):
        raise RuntimeError(f"{name} not ready:\n{tail(log)}") from None


def tail(log: Path, chars: int = 3000) -> str:
    return log.read_text(errors="replace")[-chars:]


def peak_memory_mib(pid: int) -> float:
    """The process's VmHWM: its resident-memory high-water mark, read before it exits."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError("no VmHWM in /proc status")


async def bare_publish(nats_url: str, subject: str, bodies: list[tuple[uuid.UUID, bytes]],
                       in_flight: int) -> float:
    """The reference a service's emission is measured against: seconds for a bare nats-py
    loop to publish `bodies` (event id, payload) on `subject` of a stream of its own, with
    their ids as Nats-Msg-Id and at most `in_flight` acks awaited at once."""
    nc = await nats.connect(nats_url)
    try:
        js = nc.jetstream()
        await js.add_stream(StreamConfig(name="BENCH_REFERENCE", subjects=[subject],
                                         duplicate_window=120.0))
        window = asyncio.Semaphore(in_flight)

        async def publish(event_id: uuid.UUID, body: bytes) -> None:
            try:
                await js.publish(subject, body, headers={"Nats-Msg-Id": str(event_id)})
            finally:
                window.release()

        started = time.perf_counter()
        tasks = []
        for event_id, body in bodies:
            await window.acquire()
            tasks.append(asyncio.create_task(publish(event_id, body)))
        await asyncio.gather(*tasks)
        return time.perf_counter() - started
    finally:
        await nc.close()
