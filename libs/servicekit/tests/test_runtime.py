"""`serve`: a service's life from start to a clean stop, with health, readiness and metrics."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import subprocess
import sys
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from pathlib import Path

import httpx
import pytest
import sqlalchemy as sa
from pydantic_settings import SettingsConfigDict
from sqlalchemy.ext.asyncio import AsyncEngine

from contracts import EmailOpened, deterministic_id
from contracts.events import EngagementRef
from devstack.ports import LOOPBACK, free_port, is_listening
from servicekit.db import create_engine, outbox
from servicekit.runtime import Runtime, ServiceParts, serve
from servicekit.settings import ServiceSettings

Eventually = Callable[..., Awaitable[float]]

DEMO_SERVICE = Path(__file__).parent / "programs" / "demo_service.py"


class DemoSettings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="DEMO_", extra="ignore", frozen=True)
    service_name = "servicekit-demo"  # no consumers in the topology: it takes no one's events
    default_database = "servicekit_demo"


@pytest.fixture
def settings(
    monkeypatch: pytest.MonkeyPatch, database_url: str, nats_url: str
) -> DemoSettings:
    monkeypatch.delenv("DATABASE_URL", raising=False)
    monkeypatch.setenv("DEMO_DATABASE_URL", database_url)
    monkeypatch.setenv("NATS_URL", nats_url)
    monkeypatch.setenv("DEMO_HTTP_PORT", str(free_port()))
    return DemoSettings()


def base_url(settings: ServiceSettings) -> str:
    return f"http://{LOOPBACK}:{settings.http_port}"


async def answers(settings: ServiceSettings) -> bool:
    try:
        async with httpx.AsyncClient(base_url=base_url(settings)) as http:
            return (await http.get("/healthz")).status_code == 200
    except httpx.TransportError:
        return False


@contextlib.asynccontextmanager
async def unreachable(engine: AsyncEngine, database: str) -> AsyncIterator[None]:
    """The database refuses connections (and drops the open ones) until the block ends."""
    async def allow(on: bool) -> None:
        async with engine.begin() as conn:
            await conn.execute(sa.text(f'ALTER DATABASE "{database}" ALLOW_CONNECTIONS {on}'))
            if not on:
                await conn.execute(
                    sa.text("SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                            "WHERE datname = :name"), {"name": database},
                )

    await allow(False)
    try:
        yield
    finally:
        await allow(True)


@pytest.mark.usefixtures("quiet_streams")
async def test_serves_health_readiness_and_metrics_runs_its_loops_and_stops_on_cancel(
    settings: DemoSettings, postgres_server_url: str, eventually: Eventually
) -> None:
    loop_started = asyncio.Event()
    stopped: list[str] = []
    opened = EmailOpened.create(
        EngagementRef(campaign_id=uuid.uuid4(), sequence=1, recipient="reader@example.com"),
        workspace_id=uuid.uuid4(),
        event_id=deterministic_id("servicekit.test.serve", uuid.uuid4()),
    )

    async def build(runtime: Runtime) -> ServiceParts:
        async def emit_once() -> None:
            # A loop of the service's own, writing through the runtime's unit of work; the
            # runtime's relay publishes what it commits.
            async with runtime.uow() as uow:
                uow.publish(opened)
                await uow.commit()
            loop_started.set()
            await asyncio.Event().wait()

        async def on_stop() -> None:
            stopped.append("hook")

        return ServiceParts(loops=[emit_once()], on_stop=[on_stop])

    sigterm_before = signal.getsignal(signal.SIGTERM)
    service = asyncio.create_task(serve(settings, build))
    admin = create_engine(postgres_server_url, pool_size=1)
    engine = create_engine(settings.database_url, pool_size=1)
    try:
        await eventually(lambda: answers(settings), seconds=10, what="/healthz answers")
        await asyncio.wait_for(loop_started.wait(), 5)

        async def relayed() -> bool:
            async with engine.connect() as conn:
                return bool(await conn.scalar(
                    sa.select(outbox.c.published_at.is_not(None))
                    .where(outbox.c.event_id == opened.event_id)
                ))

        await eventually(relayed, what="the loop's event published by the relay")

        async with httpx.AsyncClient(base_url=base_url(settings)) as http:
            assert (await http.get("/healthz")).json() == {"status": "ok"}
            ready = await http.get("/readyz")
            assert (ready.status_code, ready.json()) == (200, {"status": "ready"})
            metrics = await http.get("/metrics")
            assert metrics.status_code == 200
            assert "outbox_published_total" in metrics.text
            assert "events_consumed_total" in metrics.text

            assert engine.url.database is not None
            async with unreachable(admin, engine.url.database):
                ready = await http.get("/readyz")
                assert ready.status_code == 503
                assert ready.json()["problems"][0].startswith("database:")
                await asyncio.sleep(1.5)  # the relay fails a few passes and keeps going
                assert not service.done()
            await eventually(
                lambda: _ready(http), what="ready again once the database is back"
            )
        assert not service.done()
    finally:
        service.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await asyncio.wait_for(service, 10)
        await engine.dispose()
        await admin.dispose()

    assert service.cancelled()
    assert stopped == ["hook"]
    assert not is_listening(LOOPBACK, settings.http_port)
    assert signal.getsignal(signal.SIGTERM) == sigterm_before


@pytest.mark.usefixtures("quiet_streams")
async def test_sigterm_lets_loops_finish_then_publishes_what_they_wrote_and_cancels_the_rest(
    monkeypatch: pytest.MonkeyPatch, settings: DemoSettings, eventually: Eventually
) -> None:
    monkeypatch.setenv("SHUTDOWN_GRACE_SECONDS", "3")
    settings = DemoSettings()
    ended: list[str] = []
    last = EmailOpened.create(
        EngagementRef(campaign_id=uuid.uuid4(), sequence=1, recipient="reader@example.com"),
        workspace_id=uuid.uuid4(),
        event_id=deterministic_id("servicekit.test.drain", uuid.uuid4()),
    )

    async def build(runtime: Runtime) -> ServiceParts:
        async def cooperative() -> None:
            # Sleeps far longer than the grace, unless the stop wakes it; then writes its
            # last work on its way out.
            while not await runtime.shutdown.sleep(3600):
                pass
            async with runtime.uow() as uow:
                uow.publish(last)
                await uow.commit()
            ended.append("returned")

        async def stubborn() -> None:
            try:
                await asyncio.Event().wait()
            except asyncio.CancelledError:
                ended.append("cancelled")
                raise

        return ServiceParts(loops=[cooperative(), stubborn()])

    service = asyncio.create_task(serve(settings, build))
    engine = create_engine(settings.database_url, pool_size=1)
    try:
        await eventually(lambda: answers(settings), seconds=10, what="/healthz answers")
        os.kill(os.getpid(), signal.SIGTERM)
        await asyncio.wait_for(service, 20)  # a clean stop: no SystemExit
        async with engine.connect() as conn:
            published = await conn.scalar(sa.select(outbox.c.published_at.is_not(None))
                                          .where(outbox.c.event_id == last.event_id))
    finally:
        service.cancel()
        await asyncio.gather(service, return_exceptions=True)
        await engine.dispose()
    # The loop that heeds the stop ended by itself at once; the one that does not, at the
    # end of the grace; and the relay published the last event before the service stopped.
    assert ended == ["returned", "cancelled"]
    assert published is True


async def _ready(http: httpx.AsyncClient) -> bool:
    return (await http.get("/readyz")).status_code == 200


async def test_a_failing_loop_stops_the_service_with_an_error(settings: DemoSettings) -> None:
    stopped: list[str] = []

    async def build(runtime: Runtime) -> ServiceParts:
        async def broken() -> None:
            await asyncio.sleep(0.2)
            raise RuntimeError("loop broke")

        async def on_stop() -> None:
            stopped.append("hook")

        return ServiceParts(loops=[broken()], on_stop=[on_stop])

    # Awaited in this task, not wrapped in another: a task that raises SystemExit would
    # hand it to the event loop itself.
    with pytest.raises(SystemExit) as exit_:
        async with asyncio.timeout(10):
            await serve(settings, build)

    assert exit_.value.code == 1
    assert stopped == ["hook"]
    assert not is_listening(LOOPBACK, settings.http_port)


@pytest.fixture
def demo_process(settings: DemoSettings) -> Iterator[subprocess.Popen[str]]:
    env = {**os.environ, "LOG_FORMAT": "json"}
    process = subprocess.Popen(
        [sys.executable, str(DEMO_SERVICE), "run"],
        env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    try:
        yield process
    finally:
        if process.poll() is None:
            process.kill()
        process.communicate()


async def test_sigterm_stops_a_service_process_cleanly(
    settings: DemoSettings, demo_process: subprocess.Popen[str], eventually: Eventually
) -> None:
    await eventually(lambda: answers(settings), seconds=15, what="the process serves /healthz")

    demo_process.send_signal(signal.SIGTERM)
    stdout, stderr = await asyncio.to_thread(demo_process.communicate, timeout=10)

    assert demo_process.returncode == 0, stderr
    assert stdout.splitlines() == ["stopped"]
    assert '"event": "service.stopped"' in stderr
    assert "service.task_failed" not in stderr


_GC_PROBE = """
import asyncio, gc
from servicekit.cli import run_on_uvloop

async def probe():
    return gc.get_freeze_count(), gc.get_threshold()[0], type(asyncio.get_running_loop()).__module__

print(*run_on_uvloop(probe()))
"""


def test_a_service_process_runs_on_uvloop_with_its_imports_frozen_out_of_collections() -> None:
    # A process of its own: freezing and thresholds are global to the interpreter.
    done = subprocess.run([sys.executable, "-c", _GC_PROBE], capture_output=True, text=True,
                          check=True)
    frozen, young_threshold, loop_module = done.stdout.split()
    assert int(frozen) > 10_000  # the imported modules' objects
    assert int(young_threshold) == 10_000
    assert loop_module.startswith("uvloop")
