"""The scheduler under a burst: 100,000 active campaigns, 10,000 of them due at one instant.

The scheduler runs as production runs it, `python -m scheduler run` in its own OS process,
against an embedded nats-server and PostgreSQL: its peak memory is then its own (VmHWM), and
the bench's reading of the stream never shares its event loop. The rows are bulk-copied in
before it starts, all due far in the future; once it is up and idle, one UPDATE makes 10,000
of them due at instant D. Only the emission is measured.

- time to emit: from D to the JetStream timestamp of the last `email.due` stored;
- lag: per email, its stream timestamp minus its due time (`send_at - lead`, i.e. D);
- reference: the same 10,000 `email.due` bodies published by a bare nats-py loop with up to
  1,000 acks in flight (Nats-Msg-Id included, as the relay sends it), to a stream of its own
  with the same settings, after the scheduler has stopped so that neither slows the other.
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
import httpx
import nats
from nats.js import JetStreamContext
from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy

from bench._service import bare_publish, peak_memory_mib, start_service, tail, wait_ready
from bench.harness import figure, report
from contracts import EmailDue, Schedule, deterministic_id
from contracts.events import EmailDuePayload
from devstack.nats import EmbeddedNats
from devstack.postgres import EmbeddedPostgres
from servicekit.migrations import upgrade
from servicekit.settings import asyncpg_dsn

CAMPAIGNS = 100_000
DUE = 10_000
IN_FLIGHT = 1_000
LEAD = timedelta(minutes=30)
ZONES = ("UTC", "Europe/Berlin", "America/New_York", "Asia/Kathmandu", "Australia/Sydney")
# Parent of a private mkdtemp folder only.
MEMORY = Path("/dev/shm")  # noqa: S108
WORKSPACE = uuid.UUID("00000000-0000-4000-8000-00000000be9c")
# The scheduler's settings in this run: production defaults unless named here.
SCHEDULER_ENV = {"SCHEDULER_LEAD_TIME_SECONDS": str(int(LEAD.total_seconds())),
                 "SCHEDULER_LOG_LEVEL": "WARNING",
                 **{k: v for k, v in os.environ.items() if k.startswith("SCHEDULER_")}}


@dataclass(frozen=True)
class Emission:
    seconds: float  # D to the last email.due stored
    lags: list[float]  # per email: stored at minus due at
    peak_memory_mib: float
    scheduled_events: int  # campaign.scheduled published alongside
    relay_publishes: int  # acknowledged by JetStream, repeats included
    relay_failures: int  # publishes that failed (timed out) and were repeated
    ticks_done: float  # D to the start of the last tick that wrote an email.due


def main() -> None:
    # devstack's nats-server fsyncs every write (sync_interval: always) and PostgreSQL every
    # commit; on this machine's shared virtual disk that caps any publisher below 1,000/s,
    # and the bench would measure the disk. Both stores go to memory unless
    # BENCH_SCHEDULER_ON_DISK=1.
    on_disk = os.environ.get("BENCH_SCHEDULER_ON_DISK") == "1" or not MEMORY.is_dir()
    with tempfile.TemporaryDirectory(prefix="bench-scheduler-",
                                     dir=None if on_disk else MEMORY) as tmp:
        root = Path(tmp)
        with EmbeddedNats(root / "nats") as broker, EmbeddedPostgres(root / "pg") as postgres:
            postgres.ensure_database("scheduler")
            url = postgres.uri("scheduler")
            upgrade("scheduler", url)
            emission, reference = asyncio.run(_run(broker.url, url, root))
    rate = DUE / emission.seconds
    reference_rate = DUE / reference
    lags = sorted(emission.lags)
    p50 = statistics.median(lags)
    p99 = lags[int(len(lags) * 0.99) - 1]
    report("scheduler", [
        figure("email.due emitted", DUE, "events", target=f"{DUE}", met=len(lags) == DUE),
        figure("time to emit all", emission.seconds, "s"),
        figure("of which ticks (last email.due in outbox)", emission.ticks_done, "s"),
        figure("emission rate", rate, "events/s", reference=reference_rate, target=">= 0.25",
               met=rate >= 0.25 * reference_rate),
        figure("lag p50 (due to published)", p50, "s"),
        figure("lag p99 (due to published)", p99, "s", target="< 2 s", met=p99 < 2.0),
        figure("scheduler peak memory (VmHWM)", emission.peak_memory_mib, "MiB"),
        figure("campaign.scheduled published too", emission.scheduled_events, "events"),
        figure("relay publishes acknowledged", emission.relay_publishes, "publishes"),
        figure("relay publishes failed", emission.relay_failures, "publishes"),
    ])


async def _run(nats_url: str, database_url: str, root: Path) -> tuple[Emission, float]:
    dsn = asyncpg_dsn(database_url)
    due_ids = await _insert_campaigns(dsn)
    emission = await _emit_with_scheduler(nats_url, database_url, dsn, due_ids, root)
    reference = await _bare_loop(nats_url, due_ids)
    return emission, reference


async def _insert_campaigns(dsn: str) -> list[uuid.UUID]:
    """Every campaign due a year from now; returns the ids of the ones to make due."""
    far = datetime.now(UTC).replace(microsecond=0) + timedelta(days=365)
    conn = await asyncpg.connect(dsn)
    try:
        schedules = [
            Schedule(schedule_type="daily", start_at=far - timedelta(days=1), total_emails=30,
                     timezone=zone).model_dump_json()
            for zone in ZONES
        ]
        ids = [uuid.uuid4() for _ in range(CAMPAIGNS)]
        # As campaign.created leaves them: email 1 next, and a published plan that shows
        # all 30 send times (PLAN_WINDOW covers them).
        records = [
            (c, WORKSPACE, c, schedules[i % len(schedules)], "active", 30, 1, 0, 29, far,
             far - LEAD)
            for i, c in enumerate(ids)
        ]
        await conn.copy_records_to_table(
            "schedules", records=records,
            columns=["campaign_id", "workspace_id", "correlation_id", "schedule", "state",
                     "total_emails", "next_sequence", "next_slot", "planned_until",
                     "next_send_at", "due_at"],
        )
        await conn.execute("ANALYZE schedules")
    finally:
        await conn.close()
    return ids[:: CAMPAIGNS // DUE][:DUE]


async def _emit_with_scheduler(
    nats_url: str, database_url: str, dsn: str, due_ids: list[uuid.UUID], root: Path
) -> Emission:
    log = root / "scheduler.log"
    process, url = await start_service(
        "scheduler", {**SCHEDULER_ENV, "SCHEDULER_DATABASE_URL": database_url,
                      "NATS_URL": nats_url}, log, profile="BENCH_SCHEDULER_PROFILE")
    nc = await nats.connect(nats_url)
    try:
        await wait_ready(url, process, log, name="scheduler")
        js = nc.jetstream()
        # The instant they fall due: just ahead, so that it is the scheduler's tick that finds
        # them, as it would in production, not a start-up pass.
        due_at = datetime.now(UTC) + timedelta(seconds=1)
        conn = await asyncpg.connect(dsn)
        try:
            await conn.execute(
                "UPDATE schedules SET next_send_at = $1, due_at = $2 "
                "WHERE campaign_id = ANY($3::uuid[])", due_at + LEAD, due_at, due_ids)
        finally:
            await conn.close()
        deadline = time.monotonic() + 120
        while (await js.stream_info("SCHEDULE")).state.messages < DUE:
            if time.monotonic() > deadline or process.returncode is not None:
                raise RuntimeError(f"scheduler did not emit in time:\n{tail(log)}")
            await asyncio.sleep(0.05)
        peak = peak_memory_mib(process.pid)
        stored = await _stored_at(js, "SCHEDULE", "email.due")
        scheduled = (await js.stream_info("CAMPAIGNS")).state.messages
        async with httpx.AsyncClient(base_url=url) as client:
            metrics = (await client.get("/metrics")).text
        publishes = sum(float(line.split()[-1]) for line in metrics.splitlines()
                        if line.startswith("outbox_published_total{"))
        failed = tail(log, 10**9).count("outbox.publish_failed")
        conn = await asyncpg.connect(dsn)
        try:
            # Transaction start of the last tick that wrote an email.due to the outbox: where
            # the scheduler's own work ended and only the relay's was left.
            written = await conn.fetchval(
                "SELECT max(created_at) FROM outbox WHERE subject = 'email.due'")
        finally:
            await conn.close()
    finally:
        await nc.close()
        if process.returncode is None:
            process.send_signal(signal.SIGTERM)
            await process.wait()
    lags = [(at - due_at).total_seconds() for at in stored]
    return Emission(max(lags), lags, peak, scheduled, int(publishes), failed,
                    (written - due_at).total_seconds())










async def _stored_at(js: JetStreamContext, stream: str, subject: str) -> list[datetime]:
    """The time JetStream stored each message on `subject`, read after the fact."""
    sub = await js.pull_subscribe(
        subject, stream=stream,
        config=ConsumerConfig(ack_policy=AckPolicy.NONE, deliver_policy=DeliverPolicy.ALL))
    found: list[datetime] = []
    try:
        while len(found) < DUE:
            for msg in await sub.fetch(1000, timeout=5):
                found.append(msg.metadata.timestamp)
    finally:
        await sub.unsubscribe()
    return found


async def _bare_loop(nats_url: str, due_ids: list[uuid.UUID]) -> float:
    """Seconds for a bare nats-py loop to publish the same events, IN_FLIGHT acks at most."""
    send_at = datetime.now(UTC)
    bodies = [
        (deterministic_id("email.due", c, 1), EmailDue.create(
            EmailDuePayload(campaign_id=c, sequence=1, total=30, send_at=send_at),
            workspace_id=WORKSPACE, correlation_id=c,
            event_id=deterministic_id("email.due", c, 1)).model_dump_json().encode())
        for c in due_ids
    ]
    return await bare_publish(nats_url, "reference.due", bodies, IN_FLIGHT)


if __name__ == "__main__":
    main()
