"""Sender processes: with `MAILER_SENDER_PROCESSES` above 1, the mailer's `run` process starts
that many minus one `send` processes beside itself. Each claims and sends like the sender loops
of `run` (SKIP LOCKED keeps them apart, as it keeps replicas apart) with its share of the SMTP
sessions and rate; the outbox rows they write are published by the relay of `run`.

Rendering and SMTP cost CPU, and one Python process uses one core: more processes are how one
mailer uses more than one.
"""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from collections.abc import Coroutine
from typing import Any

import structlog
from prometheus_client import start_http_server
from sqlalchemy.ext.asyncio import AsyncEngine

from mailer.leases import Leases
from mailer.sender import sender_loop
from mailer.settings import Settings
from mailer.smtp import SmtpPool
from servicekit.db import create_engine
from servicekit.logging import configure_logging
from servicekit.shutdown import Shutdown
from servicekit.tracing import configure_tracing

log = structlog.get_logger(__name__)

_RESTART_DELAY = 1.0  # seconds before a sender process that exited is started again
# Seconds a sender process gets beyond the grace before it is killed: it heard of the stop
# a moment after this process.
_KILL_AFTER = 3.0
_STARTED = b"started"  # what a sender process writes to its `--started-fd` once it runs


def sending(
    engine: AsyncEngine, settings: Settings, process: int, shutdown: Shutdown
) -> tuple[SmtpPool, Coroutine[Any, Any, None]]:
    """Sender process `process`'s share of the SMTP sessions (0 is the `run` process), and its
    sending: several sender loops claim batches side by side, so a batch is claimed and
    rendered while another one is on the wire (SKIP LOCKED keeps them apart), and a heartbeat
    renews the leases of what they hold. It returns once the loops have drained."""
    pool = SmtpPool(settings.smtp_config(), size=settings.smtp_sessions(process))
    options = settings.send_options()
    leases = Leases(engine, options.lease)

    async def send() -> None:
        heartbeat = asyncio.create_task(leases.heartbeat())
        try:
            await asyncio.gather(*(
                sender_loop(engine, pool, options, settings.poll_interval, shutdown=shutdown,
                            leases=leases)
                for _ in range(settings.pipeline_depth)))
        finally:
            # Only now: a send finishing during the drain still has its lease renewed.
            heartbeat.cancel()
            await asyncio.gather(heartbeat, return_exceptions=True)

    return pool, send()


class Supervisor:
    """Keeps sender processes 1 .. count-1 running, restarting one that exits.

    Each child says it has started on a pipe it inherits: until all have, `readiness`
    reports the mailer not ready, as it runs below the capacity it was configured for.
    """

    def __init__(self, count: int) -> None:
        self._count = count
        self._started: dict[int, bool] = dict.fromkeys(range(1, count), False)

    async def readiness(self) -> str | None:
        waiting = [index for index, started in self._started.items() if not started]
        return f"sender processes {waiting} not started" if waiting else None

    async def run(self, shutdown: Shutdown) -> None:
        """Until `shutdown` is requested; then the children are asked to stop (they drain as
        this process does, with the same grace) and waited for."""
        children: dict[int, asyncio.subprocess.Process] = {}
        watchers: set[asyncio.Task[None]] = set()
        try:
            while not shutdown.requested:
                for index in range(1, self._count):
                    child = children.get(index)
                    if child is not None and child.returncode is None:
                        continue
                    if child is not None:
                        log.error("mailer.sender_process_exited", process=index,
                                  code=child.returncode)
                    self._started[index] = False
                    children[index], started = await _start(index)
                    watcher = asyncio.create_task(self._watch(index, started))
                    watchers.add(watcher)
                    watcher.add_done_callback(watchers.discard)
                await shutdown.sleep(_RESTART_DELAY)
            running = [c for c in children.values() if c.returncode is None]
            for child in running:
                child.terminate()
            await asyncio.gather(*(child.wait() for child in running))
        finally:
            for watcher in list(watchers):
                watcher.cancel()
            # Cancelled (the grace is over, or no orderly stop): the children get a moment
            # more, as they heard of the stop a little later, then are killed.
            running = [c for c in children.values() if c.returncode is None]
            for child in running:
                child.terminate()
            for child in running:
                try:
                    await asyncio.wait_for(child.wait(), _KILL_AFTER)
                except TimeoutError:
                    child.kill()
                    await child.wait()

    async def _watch(self, index: int, started_pipe: int) -> None:
        # A child that died before starting closes the pipe without writing to it.
        reader = asyncio.StreamReader()
        transport, _ = await asyncio.get_running_loop().connect_read_pipe(
            lambda: asyncio.StreamReaderProtocol(reader), os.fdopen(started_pipe, "rb"))
        try:
            self._started[index] = await reader.read() == _STARTED
        finally:
            transport.close()


async def _start(index: int) -> tuple[asyncio.subprocess.Process, int]:
    """Sender process `index`, and the read end of the pipe it tells it runs on."""
    read_end, write_end = os.pipe()
    try:
        # The same settings: the child reads the same environment.
        child = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "mailer", "send", str(index), "--started-fd", str(write_end),
            pass_fds=(write_end,))
    except BaseException:
        os.close(read_end)
        raise
    finally:
        os.close(write_end)
    return child, read_end


async def run_sender_process(settings: Settings, index: int, started_fd: int | None) -> None:
    """Sender process `index` of the mailer: its loops until SIGTERM, or until the `run`
    process that started it is gone. `started_fd` tells that process when it runs."""
    configure_logging(f"{settings.service_name}-sender-{index}", level=settings.log_level,
                      fmt=settings.log_format)
    tracing = configure_tracing(settings.service_name, otlp_endpoint=settings.otlp_endpoint)
    engine = create_engine(settings.database_url, pool_size=settings.db_pool_size)
    metrics_port = settings.metrics_port(index)
    if metrics_port is not None:
        # Its own sends, counted where it counts them: the `run` process serves only its own.
        start_http_server(metrics_port, addr=settings.http_host)
    shutdown = Shutdown(settings.shutdown_grace_seconds)
    pool, work = sending(engine, settings, index, shutdown)
    parent = os.getppid()
    senders = asyncio.create_task(work)
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, shutdown.request)
    log.info("mailer.sender_process_started", process=index, sessions=pool.concurrency)
    if started_fd is not None:
        os.write(started_fd, _STARTED)
        os.close(started_fd)
    try:
        # A parent killed outright cannot stop us: a new parent means it is gone.
        while not await shutdown.sleep(1.0) and not senders.done():
            if os.getppid() != parent:
                shutdown.request()
        # Drained as a service is (servicekit.shutdown): the sends under way finish and are
        # recorded, the rest is released; what outlasts the grace is cut off.
        _, late = await asyncio.wait([senders], timeout=shutdown.remaining())
        for task in late:
            task.cancel()
        await asyncio.gather(senders, return_exceptions=True)
    finally:
        senders.cancel()
        await asyncio.gather(senders, return_exceptions=True)
        await pool.close()
        tracing.force_flush(timeout_millis=5000)
        await engine.dispose()
        log.info("mailer.sender_process_stopped", process=index)
