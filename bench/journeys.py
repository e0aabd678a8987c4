"""Journeys' timers under a burst: 1,000,000 active enrollments, 100,000 of them falling due
in the same minute.

The scheduler runs as production runs it, `python -m scheduler run` in its own OS process,
against an embedded nats-server and PostgreSQL (both in memory, as bench/scheduler.py explains),
so its peak memory (VmHWM) is its own. One journey (a one-minute wait, an email, a day's wait,
an email, an exit); its enrollments are bulk-copied in at the first wait, due a year from now.
Once the scheduler is up and idle, UPDATEs make enrollments due; each then emits its email step
as journey.step_due. Two rounds of 100,000 different enrollments each:

- the minute: due spread evenly over one minute, as a minute's sign-ups fall due: lag per
  email (its JetStream timestamp minus its own due time), p50 and p99, and the time from the
  minute's start to the last one stored;
- the instant: all due at one instant D, the worst case of a minute: time from D to the last
  stored and the rate that makes, next to a bare nats-py loop publishing the same 100,000
  bodies with up to 1,000 acks in flight (Nats-Msg-Id included, as the relay sends it) to a
  stream of its own, after the scheduler stopped so that neither slows the other.

The scheduler's peak memory is read after both rounds.
"""

from __future__ import annotations

import asyncio
import os
import signal
import statistics
import tempfile
import time
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import asyncpg
import nats
from nats.js import JetStreamContext
from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy

from bench._service import bare_publish, peak_memory_mib, start_service, tail, wait_ready
from bench.harness import figure, report
from contracts import JourneyGraph, JourneyStepDue, deterministic_id
from contracts.journey_events import JourneyStepDuePayload
from devstack.nats import EmbeddedNats
from devstack.postgres import EmbeddedPostgres
from servicekit.migrations import upgrade
from servicekit.settings import asyncpg_dsn

ENROLLMENTS = int(os.environ.get("BENCH_JOURNEYS_ENROLLMENTS", "1000000"))
DUE = int(os.environ.get("BENCH_JOURNEYS_DUE", "100000"))
IN_FLIGHT = 1_000
SPREAD = timedelta(minutes=1)
MEMORY = Path("/dev/shm")  # noqa: S108
WORKSPACE = uuid.UUID("00000000-0000-4000-8000-00000000be9d")
CAMPAIGN = uuid.UUID("00000000-0000-4000-8000-0000000a0001")
SCHEDULER_ENV = {"SCHEDULER_LOG_LEVEL": "WARNING",
                 **{k: v for k, v in os.environ.items() if k.startswith("SCHEDULER_")}}
GRAPH = JourneyGraph.model_validate({
    "trigger": {"type": "event_received", "name": "signed_up"},
    "start": "wait-1",
    "steps": [
        {"type": "wait", "id": "wait-1", "until": {"kind": "duration", "seconds": 60},
         "next": "email-1"},
        {"type": "email", "id": "email-1", "goal": "Hello", "next": "wait-2", "sequence": 1},
        {"type": "wait", "id": "wait-2", "until": {"kind": "duration", "seconds": 86_400},
         "next": "email-2"},
        {"type": "email", "id": "email-2", "goal": "Tips", "next": "done", "sequence": 2},
        {"type": "exit", "id": "done"},
    ],
})


def main() -> None:
    on_disk = os.environ.get("BENCH_JOURNEYS_ON_DISK") == "1" or not MEMORY.is_dir()
    with tempfile.TemporaryDirectory(prefix="bench-journeys-",
                                     dir=None if on_disk else MEMORY) as tmp:
        root = Path(tmp)
        with EmbeddedNats(root / "nats") as broker, EmbeddedPostgres(root / "pg") as postgres:
            postgres.ensure_database("scheduler")
            url = postgres.uri("scheduler")
            upgrade("scheduler", url)
            run = asyncio.run(_run(broker.url, url, root))
    rate, reference_rate = DUE / run.burst_seconds, DUE / run.reference_seconds
    lags = sorted(run.lags)
    burst = sorted(run.burst_lags)
    report("journeys", [
        figure("active enrollments", ENROLLMENTS, "enrollments"),
        figure("journey.step_due emitted (the minute)", len(lags), "events", target=f"{DUE}",
               met=len(lags) == DUE),
        figure("time to emit all (the minute, from its start)", run.minute_seconds, "s"),
        figure("lag p50 (the minute)", statistics.median(lags), "s"),
        figure("lag p99 (the minute)", _p99(lags), "s", target="< 5 s", met=_p99(lags) < 5.0),
        figure("journey.step_due emitted (the instant)", len(burst), "events",
               target=f"{DUE}", met=len(burst) == DUE),
        figure("time to emit all (the instant)", run.burst_seconds, "s"),
        figure("emission rate (the instant)", rate, "events/s", reference=reference_rate,
               target=">= 0.5", met=rate >= 0.5 * reference_rate),
        figure("lag p50 (the instant)", statistics.median(burst), "s"),
        figure("lag p99 (the instant)", _p99(burst), "s"),
        figure("scheduler peak memory (VmHWM)", run.peak_mib, "MiB", target="<= 250 MB",
               met=run.peak_mib * 1.048576 <= 250),
    ])


def _p99(values: list[float]) -> float:
    return values[max(0, int(len(values) * 0.99) - 1)]


@dataclass(frozen=True)
class Run:
    lags: list[float]  # the minute: per email, stored at minus its due time
    minute_seconds: float
    burst_lags: list[float]
    burst_seconds: float  # the instant: D to the last stored
    peak_mib: float
    reference_seconds: float


async def _run(nats_url: str, database_url: str, root: Path) -> Run:
    dsn = asyncpg_dsn(database_url)
    ids = await _insert(dsn)
    stride = ENROLLMENTS // (2 * DUE)
    minute, instant = ids[::stride][:DUE], ids[1::stride][:DUE]
    log = root / "scheduler.log"
    process, url = await start_service(
        "scheduler", {**SCHEDULER_ENV, "SCHEDULER_DATABASE_URL": database_url,
                      "NATS_URL": nats_url}, log, profile="BENCH_JOURNEYS_PROFILE")
    nc = await nats.connect(nats_url)
    try:
        await wait_ready(url, process, log, name="scheduler")
        js = nc.jetstream()
        lags, minute_seconds = await _round(js, dsn, minute, SPREAD, process, log, 0)
        burst_lags, burst_seconds = await _round(js, dsn, instant, timedelta(0), process, log,
                                                 DUE)
        peak = peak_memory_mib(process.pid)
    finally:
        await nc.close()
        if process.returncode is None:
            process.send_signal(signal.SIGTERM)
            await process.wait()
    reference = await _bare_loop(nats_url, instant)
    return Run(lags, minute_seconds, burst_lags, burst_seconds, peak, reference)


async def _round(js: JetStreamContext, dsn: str, due_ids: list[uuid.UUID], spread: timedelta,
                 process: asyncio.subprocess.Process, log: Path, before: int
                 ) -> tuple[list[float], float]:
    """Make `due_ids` due from a second from now over `spread`; wait until all are stored;
    returns each one's lag and the time from the first due to the last stored."""
    start = datetime.now(UTC) + timedelta(seconds=1)
    step = spread / len(due_ids)
    due = {e: start + step * i for i, e in enumerate(due_ids)}
    conn = await asyncpg.connect(dsn)
    try:
        # Each one's wait reached a minute before it is due: its email goes at its due time.
        await conn.execute(
            "UPDATE enrollments AS e SET due_at = v.at, "
            "step_entered_at = v.at - interval '1 minute' "
            "FROM unnest($1::uuid[], $2::timestamptz[]) AS v(id, at) WHERE e.id = v.id",
            list(due), list(due.values()))
    finally:
        await conn.close()
    deadline = time.monotonic() + 600
    while (await js.stream_info("JOURNEYS")).state.messages < before + len(due_ids):
        if time.monotonic() > deadline or process.returncode is not None:
            raise RuntimeError(f"scheduler did not emit in time:\n{tail(log)}")
        await asyncio.sleep(0.1)
    stored = [(e, at) for e, at in await _stored_at(js, before + len(due_ids)) if e in due]
    lags = [(at - due[e]).total_seconds() for e, at in stored]
    return lags, (max(at for _, at in stored) - start).total_seconds()


async def _insert(dsn: str) -> list[uuid.UUID]:
    far = datetime.now(UTC).replace(microsecond=0) + timedelta(days=365)
    conn = await asyncpg.connect(dsn)
    try:
        await conn.execute(
            "INSERT INTO journeys (campaign_id, workspace_id, correlation_id, state, version, "
            "trigger_type, trigger_key, zone) VALUES ($1, $2, $1, 'active', 1, 'event', "
            "'signed_up', 'UTC')", CAMPAIGN, WORKSPACE)
        await conn.execute(
            "INSERT INTO journey_versions (campaign_id, version, graph) VALUES ($1, 1, $2)",
            CAMPAIGN, GRAPH.model_dump_json(by_alias=True))
        ids = [uuid.uuid4() for _ in range(ENROLLMENTS)]
        for start in range(0, ENROLLMENTS, 100_000):
            await conn.copy_records_to_table("enrollments", records=[
                (e, CAMPAIGN, WORKSPACE, f"c{start + i}@example.com", 1, 1, "wait-1",
                 "waiting", far, far - timedelta(minutes=1), far - timedelta(minutes=1))
                for i, e in enumerate(ids[start:start + 100_000])
            ], columns=["id", "campaign_id", "workspace_id", "email", "entry", "version",
                        "step_id", "state", "due_at", "entered_at", "step_entered_at"])
        await conn.execute("ANALYZE enrollments")
    finally:
        await conn.close()
    return ids


async def _stored_at(js: JetStreamContext, count: int) -> list[tuple[uuid.UUID, datetime]]:
    """Each stored journey.step_due's enrollment and the time JetStream stored it."""
    sub = await js.pull_subscribe(
        "journey.step_due", stream="JOURNEYS",
        config=ConsumerConfig(ack_policy=AckPolicy.NONE, deliver_policy=DeliverPolicy.ALL))
    found: list[tuple[uuid.UUID, datetime]] = []
    try:
        while len(found) < count:
            for msg in await sub.fetch(1000, timeout=5):
                event = JourneyStepDue.model_validate_json(msg.data)
                found.append((event.payload.enrollment_id, msg.metadata.timestamp))
    finally:
        await sub.unsubscribe()
    return found


async def _bare_loop(nats_url: str, due_ids: list[uuid.UUID]) -> float:
    """Seconds for a bare nats-py loop to publish the same events, IN_FLIGHT acks at most."""
    send_at = datetime.now(UTC)
    bodies = []
    for e in due_ids:
        event_id = deterministic_id("journey.step_due", e, "email-1")
        bodies.append((event_id, JourneyStepDue.create(
            JourneyStepDuePayload(campaign_id=CAMPAIGN, version=1, enrollment_id=e,
                                  step_id="email-1", sequence=1, email="c1@example.com",
                                  send_at=send_at),
            workspace_id=WORKSPACE, correlation_id=CAMPAIGN,
            event_id=event_id).model_dump_json().encode()))
    return await bare_publish(nats_url, "reference.step", bodies, IN_FLIGHT)


if __name__ == "__main__":
    main()
