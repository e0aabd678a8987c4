"""The life of a service process: connect, declare topology, run relay, consumers, HTTP and
the service's own loops, and stop cleanly on SIGTERM or when any of them fails."""

from __future__ import annotations

import asyncio
import contextlib
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

    def uow(self) -> UnitOfWork:
        return UnitOfWork(self.engine)


@dataclass
class ServiceParts:
    handlers: Handlers = field(default_factory=Handlers)
    # Per stream name: how many events of one batch may be handled at once (default 1: in order).
    concurrency: dict[str, int] = field(default_factory=dict)
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
    """How every service serves HTTP; X-Forwarded-* count from FORWARDED_ALLOW_IPS only."""
    return uvicorn.Config(app, host=settings.http_host, port=settings.http_port,
                          forwarded_allow_ips=settings.forwarded_allow_ips,
                          log_config=None, access_log=False, lifespan="on")


async def serve(
    settings: ServiceSettings,
    build: Build,
    *,
    stream_replicas: int | None = None,
    package: str | None = None,
) -> None:
    """Run the service until SIGTERM. `stream_replicas` defaults to `NATS_STREAM_REPLICAS`;
    with `package` (the CLI passes it) /readyz also requires its migrations to be current."""
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
    runtime = Runtime(settings, engine, nc, js, readiness)
    parts = await build(runtime)
    app = parts.http_app or health_app(readiness)
    server = _Server(http_config(app, settings))

    work: list[Coroutine[Any, Any, None]] = [
        OutboxRelay(engine, js, batch_size=settings.outbox_batch_size).run(),
        sample_consumer_lag(js, specs),
        *(Consumer(s, js, engine, parts.handlers,
                   concurrency=parts.concurrency.get(s.stream, 1)).run() for s in specs),
        *parts.loops,
    ]
    tasks = [asyncio.create_task(c) for c in work]
    http = asyncio.create_task(server.serve())
    stop = asyncio.create_task(_signalled())
    log.info("service.started", nats=settings.nats_url, http_port=settings.http_port)
    failed: list[BaseException] = []
    try:
        done, _ = await asyncio.wait([*tasks, http, stop], return_when=asyncio.FIRST_COMPLETED)
        failed = [e for t in done if t is not stop and (e := t.exception()) is not None]
        for exc in failed:
            log.error("service.task_failed", error=repr(exc), exc_info=exc)
    finally:
        # Stop taking work first, then let in-flight HTTP requests finish.
        for task in [*tasks, stop]:
            task.cancel()
        await asyncio.gather(*tasks, stop, return_exceptions=True)
        server.should_exit = True
        await asyncio.gather(http, return_exceptions=True)
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


async def _signalled() -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    signals = (signal.SIGTERM, signal.SIGINT)
    for sig in signals:
        loop.add_signal_handler(sig, stop.set)
    try:
        await stop.wait()
    finally:
        # Give the signals back, so a process that runs serve in its own loop (a test, a
        # harness) can still be interrupted once the service has stopped.
        for sig in signals:
            loop.remove_signal_handler(sig)
