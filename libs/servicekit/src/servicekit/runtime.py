"""The life of a service process: connect, declare topology, run relay, consumers, HTTP and
the service's own loops, and stop cleanly on SIGTERM or SIGINT or when any of them fails.

A stop drains (see servicekit.shutdown): consumers, loops and HTTP requests finish what they
hold within the grace, then the relay publishes what they wrote, then the connections close."""

from __future__ import annotations

import asyncio
import contextlib
import gc
import signal
from collections.abc import Awaitable, Callable, Coroutine, Iterator
from dataclasses import dataclass, field
from typing import Any

import structlog
import uvicorn
from nats.aio.client import Client
from nats.js import JetStreamContext
from sqlalchemy.ext.asyncio import AsyncEngine
from starlette.types import ASGIApp

from contracts.streams import TOPOLOGY
from servicekit.broker import connect, ensure_consumer, ensure_stream
from servicekit.consumer import Consumer, Handlers
from servicekit.db import UnitOfWork, create_engine
from servicekit.health import (
    ReadinessCheck,
    database_check,
    health_app,
    migrations_check,
    nats_check,
)
from servicekit.lag import sample_consumer_lag
from servicekit.logging import configure_logging
from servicekit.outbox import OutboxRelay
from servicekit.settings import ServiceSettings
from servicekit.shutdown import FLUSH_SECONDS, Shutdown
from servicekit.tracing import configure_tracing

log = structlog.get_logger(__name__)


@dataclass
class Runtime:
    """What a service's composition root receives to wire its handlers and loops."""

    settings: ServiceSettings
    engine: AsyncEngine
    nc: Client
    js: JetStreamContext
    # What /readyz checks: database, NATS, migrations current. A service serving its own
    # HTTP app mounts `health_routes(runtime.readiness)` to answer the same way.
    readiness: list[ReadinessCheck] = field(default_factory=list)
    # Set on SIGTERM or SIGINT: the service's loops stop taking work and return (see
    # servicekit.shutdown); a loop still running when the grace ends is cancelled.
    shutdown: Shutdown = field(default_factory=lambda: Shutdown(0.0))

    def uow(self) -> UnitOfWork:
        return UnitOfWork(self.engine)


@dataclass
class ServiceParts:
    handlers: Handlers = field(default_factory=Handlers)
    # Per stream name: how many events of one batch may be handled at once (default 1: in order).
    concurrency: dict[str, int] = field(default_factory=dict)
    # Each returns once `runtime.shutdown` is requested, after finishing what it holds.
    loops: list[Coroutine[Any, Any, None]] = field(default_factory=list)
    # The service's own ASGI app; None serves health and metrics only.
    http_app: ASGIApp | None = None
    on_stop: list[Callable[[], Awaitable[None]]] = field(default_factory=list)


Build = Callable[[Runtime], Awaitable[ServiceParts]]


class _Server(uvicorn.Server):
    """uvicorn without its own signal handling: the runtime owns SIGTERM."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


def http_config(app: ASGIApp, settings: ServiceSettings) -> uvicorn.Config:
    """How every service serves HTTP; X-Forwarded-* count from FORWARDED_ALLOW_IPS only, and
    on a stop, requests in progress get the service's grace to finish."""
    return uvicorn.Config(app, host=settings.http_host, port=settings.http_port,
                          forwarded_allow_ips=settings.forwarded_allow_ips,
                          log_config=None, access_log=False, lifespan="on",
                          timeout_graceful_shutdown=max(1, round(settings.shutdown_grace_seconds)))


async def serve(
    settings: ServiceSettings,
    build: Build,
    *,
    stream_replicas: int | None = None,
    package: str | None = None,
) -> None:
    """Run the service until SIGTERM or SIGINT, then drain. `stream_replicas` defaults to
    `NATS_STREAM_REPLICAS`; with `package` (the CLI passes it) /readyz also requires its
    migrations to be current."""
    configure_logging(settings.service_name, level=settings.log_level, fmt=settings.log_format)
    tracing = configure_tracing(settings.service_name, otlp_endpoint=settings.otlp_endpoint)
    engine = create_engine(settings.database_url, pool_size=settings.db_pool_size)
    nc = await connect(settings.nats_url, name=settings.service_name)
    js = nc.jetstream()
    replicas = settings.nats_stream_replicas if stream_replicas is None else stream_replicas
    for stream in TOPOLOGY.streams:
        await ensure_stream(js, stream, replicas=replicas)
    specs = TOPOLOGY.consumers_of(settings.service_name)
    for spec in specs:
        await ensure_consumer(js, spec)

    readiness = [database_check(engine), nats_check(nc)]
    if package is not None:
        readiness.append(migrations_check(engine, package))
    shutdown = Shutdown(settings.shutdown_grace_seconds)
    runtime = Runtime(settings, engine, nc, js, readiness, shutdown)
    parts = await build(runtime)
    app = parts.http_app or health_app(readiness)
    server = _Server(http_config(app, settings))

    relay = OutboxRelay(engine, js, batch_size=settings.outbox_batch_size)
    # Stopped after the rest: until then, what draining work writes is published as usual.
    relay_stop = Shutdown(FLUSH_SECONDS)
    relayed = asyncio.create_task(relay.run(relay_stop))
    lag = asyncio.create_task(sample_consumer_lag(js, specs))
    work: list[Coroutine[Any, Any, None]] = [
        *(Consumer(s, js, engine, parts.handlers,
                   concurrency=parts.concurrency.get(s.stream, 1)).run(shutdown) for s in specs),
        *parts.loops,
    ]
    tasks = [asyncio.create_task(c) for c in work]
    # What is loaded by now (modules, the app, the settings: hundreds of thousands of objects)
    # lives as long as the process: kept out of the collector's full passes, which a bulk write
    # (an import's batch of ten thousand rows and their events) would otherwise make rescan it
    # again and again (bench/contacts.py measures such an import).
    gc.freeze()
    http = asyncio.create_task(server.serve())
    stop = asyncio.create_task(_signalled(shutdown))
    log.info("service.started", nats=settings.nats_url, http_port=settings.http_port)
    failed: list[BaseException] = []
    try:
        done, _ = await asyncio.wait([*tasks, relayed, lag, http, stop],
                                     return_when=asyncio.FIRST_COMPLETED)
        failed = [e for t in done if t is not stop and (e := t.exception()) is not None]
        for exc in failed:
            log.error("service.task_failed", error=repr(exc), exc_info=exc)
    finally:
        # Cancelled from outside (a harness, a test): stop at once rather than drain.
        cancelled = (current := asyncio.current_task()) is not None and current.cancelling()
        shutdown.request(grace=0 if cancelled else None)
        log.info("service.stopping", grace=shutdown.remaining())
        # Stop taking work, and let the work in progress (handlers, loops, HTTP requests)
        # finish within the grace; then the relay publishes what they wrote.
        server.should_exit = True
        lag.cancel()
        failed += await _drain(tasks, shutdown.remaining())
        # uvicorn bounds its own wait for open requests by the grace.
        await asyncio.gather(http, return_exceptions=True)
        relay_stop.request(grace=0 if cancelled else None)
        failed += await _drain([relayed], relay_stop.remaining())
        stop.cancel()
        await asyncio.gather(stop, lag, return_exceptions=True)
        for hook in parts.on_stop:
            await hook()
        # Every ack follows a commit, so nothing is left to drain.
        with contextlib.suppress(Exception):
            await nc.close()
        tracing.force_flush(timeout_millis=5000)
        await engine.dispose()
        log.info("service.stopped")
    if failed:
        raise SystemExit(1)


async def _drain(tasks: list[asyncio.Task[None]], grace: float) -> list[BaseException]:
    """Wait up to `grace` seconds for `tasks` to end, then cancel the rest; the errors they
    ended with."""
    running = [t for t in tasks if not t.done()]
    if running:
        _, late = await asyncio.wait(running, timeout=grace)
        for task in late:
            log.warning("service.stop_grace_exceeded", task=repr(task.get_coro()))
            task.cancel()
        await asyncio.gather(*running, return_exceptions=True)
    errors = []
    for task in running:
        if not task.cancelled() and (exc := task.exception()) is not None:
            log.error("service.task_failed", error=repr(exc), exc_info=exc)
            errors.append(exc)
    return errors


async def _signalled(shutdown: Shutdown) -> None:
    """Requests the stop on the first SIGTERM or SIGINT, and leaves a second one to its default
    action: a second Ctrl-C ends a drain that takes too long."""
    loop = asyncio.get_running_loop()
    signals = (signal.SIGTERM, signal.SIGINT)
    for sig in signals:
        loop.add_signal_handler(sig, shutdown.request)
    try:
        await shutdown.wait()
    finally:
        # Give the signals back, so a process that runs serve in its own loop (a test, a
        # harness) can still be interrupted once the service has stopped.
        for sig in signals:
            loop.remove_signal_handler(sig)
