"""The content generator under a burst: 1,000 emails due at once, the LLM answering in 1 s.

The generator runs as production runs it, `python -m content_generator run` in its own OS
process, against an embedded nats-server and PostgreSQL and the fake OpenRouter (in this
process, `latency=1.0`: every chat completion is answered one second after it arrives), with
100 calls allowed in flight. A campaign is set up through `campaign.created`; once the
generator has stored it, 1,000 `email.due` are published.

- wall time: from the first `email.due` published to the 1,000th `content.generated` stored
  on the CONTENT stream (so the outbox relay's delay counts);
- the most calls the fake was answering at one time, which must not exceed the 100 allowed;
- reference: the ideal, 1,000 / 100 x 1 s = 10 s; target: within 1.25x of it;
- peak memory: the generator process's VmHWM.

Embeddings are the offline default (hashed n-grams), as in a stack without an embedding model.

What bounds it: the generator's work around each call runs on one event loop; answers that
arrive together are stored a few at a time, in order (see servicekit's consumer), so their
slots free early; the CPU per email, reported too, is what each call adds to the ideal.
"""

from __future__ import annotations

import asyncio
import os
import signal
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import asyncpg
import nats
from nats.js import JetStreamContext

from bench._service import peak_memory_mib, profiled, tail, wait_ready
from bench.harness import figure, report
from contracts import CampaignCreated, CampaignDefinition, EmailDue, Event, Schedule
from contracts.events import EmailDuePayload
from devstack.nats import EmbeddedNats
from devstack.ports import free_port
from devstack.postgres import EmbeddedPostgres
from servicekit.migrations import upgrade
from servicekit.settings import asyncpg_dsn
from testkit.fake_openrouter import FakeOpenRouter

EMAILS = 1_000
IN_FLIGHT = 100
LATENCY = 1.0
IDEAL = EMAILS / IN_FLIGHT * LATENCY
TARGET_RATIO = 1.25
# Parent of a private mkdtemp folder only: JetStream's store in memory, not on a slow disk.
MEMORY = Path("/dev/shm")  # noqa: S108
WORKSPACE = uuid.UUID("00000000-0000-4000-8000-0000000c0de9")
# The pools the generator's settings require for 100 calls in flight; PostgreSQL must allow them.
MAX_CONNECTIONS = 300
GENERATOR_ENV = {
    "CONTENT_GENERATOR_MAX_CONCURRENT_CALLS": str(IN_FLIGHT),
    "CONTENT_GENERATOR_DB_POOL_SIZE": str((IN_FLIGHT + 4) // 2 + 1),
    "LOG_LEVEL": "WARNING",
}


@dataclass(frozen=True)
class Run:
    seconds: float  # first email.due published to the last content.generated stored
    peak_memory_mib: float
    cpu_seconds: float  # the generator's CPU time over the same span
    chat_calls: int
    peak_in_flight: int  # the most chat completions the fake was answering at one time


def main() -> None:
    memory = MEMORY if MEMORY.is_dir() else None
    with (tempfile.TemporaryDirectory(prefix="bench-content-") as tmp,
          tempfile.TemporaryDirectory(prefix="bench-content-nats-", dir=memory) as store):
        root = Path(tmp)
        with (EmbeddedNats(Path(store)) as broker, EmbeddedPostgres(root / "pg") as postgres,
              FakeOpenRouter(latency=LATENCY) as fake):
            _allow_connections(postgres)
            postgres.ensure_database("content_generator")
            url = postgres.uri("content_generator")
            upgrade("content_generator", url)
            run = asyncio.run(_run(broker.url, url, fake, root))
    ratio = run.seconds / IDEAL
    report("content_generator", [
        figure(f"wall time, {EMAILS} emails due at once", run.seconds, "s", reference=IDEAL,
               target=f"<= {TARGET_RATIO}x ideal", met=ratio <= TARGET_RATIO),
        figure("chat completions made", run.chat_calls, "calls", reference=EMAILS,
               target="= emails", met=run.chat_calls == EMAILS),
        figure("most calls in flight at once (seen by the fake)", run.peak_in_flight, "calls",
               target=f"<= {IN_FLIGHT}", met=run.peak_in_flight <= IN_FLIGHT),
        figure("generator peak memory (VmHWM)", run.peak_memory_mib, "MiB"),
        # Work done around each call; with batches handled as a whole (see module doc) it
        # adds to the wall time once per batch of IN_FLIGHT rather than overlapping the calls.
        figure("generator CPU per email", run.cpu_seconds / EMAILS * 1000, "ms"),
    ])


def _allow_connections(postgres: EmbeddedPostgres) -> None:
    """Raise max_connections (a restart setting) above the default 100, and commit without
    waiting for this machine's slow disk flush: like JetStream's store in memory, so the bench
    measures the generator rather than the disk."""
    async def alter() -> None:
        conn = await asyncpg.connect(asyncpg_dsn(postgres.uri("postgres")))
        try:
            await conn.execute(f"ALTER SYSTEM SET max_connections = {MAX_CONNECTIONS}")
            await conn.execute("ALTER SYSTEM SET synchronous_commit = off")
        finally:
            await conn.close()

    asyncio.run(alter())
    postgres.stop()
    postgres.start()


def _campaign() -> CampaignCreated:
    start = datetime.now(UTC) + timedelta(days=1)
    definition = CampaignDefinition(
        campaign_id=uuid.uuid4(), audience_id=uuid.uuid4(), name="Bench Bakery",
        description="Fresh sourdough every morning; members collect a loaf each week.",
        brand_voice="Warm and plain-spoken.", audience_description="Home cooks.",
        model="openai/gpt-4o-mini", fallback_models=[],
        schedule=Schedule(schedule_type="daily", total_emails=EMAILS, start_at=start,
                          timezone="UTC"),
    )
    return CampaignCreated.create(definition, workspace_id=WORKSPACE)


def _dues(campaign: CampaignCreated) -> list[EmailDue]:
    start = campaign.payload.schedule.start_at
    return [
        EmailDue.create(
            EmailDuePayload(campaign_id=campaign.payload.campaign_id, sequence=k, total=EMAILS,
                            send_at=start + timedelta(days=k - 1)),
            workspace_id=WORKSPACE, correlation_id=campaign.correlation_id,
        )
        for k in range(1, EMAILS + 1)
    ]


async def _publish(js: JetStreamContext, events: list[EmailDue] | list[CampaignCreated]) -> None:
    acks = [js.publish(e.subject, e.model_dump_json().encode(),
                       headers={"Nats-Msg-Id": e.dedupe_key()}) for e in events]
    await asyncio.gather(*acks)


async def _run(
    nats_url: str, database_url: str, fake: FakeOpenRouter, root: Path
) -> Run:
    port = free_port()
    env = {**os.environ, **GENERATOR_ENV, "CONTENT_GENERATOR_DATABASE_URL": database_url,
           "NATS_URL": nats_url, "CONTENT_GENERATOR_HTTP_PORT": str(port),
           "OPENROUTER_API_KEY": fake.api_key, "OPENROUTER_BASE_URL": fake.base_url}
    log = root / "content-generator.log"
    with log.open("wb") as out:
        process = await asyncio.create_subprocess_exec(
            sys.executable, *profiled("BENCH_CONTENT_PROFILE"), "-m", "content_generator",
            "run", env=env, stdout=out, stderr=out)
    nc = await nats.connect(nats_url)
    try:
        await wait_ready(f"http://127.0.0.1:{port}", process, log, name="content generator")
        js = nc.jetstream()
        campaign = _campaign()
        await _publish(js, [campaign])
        await _wait_for_campaign(asyncpg_dsn(database_url), campaign, process, log)
        dues = _dues(campaign)
        cpu_before = _cpu_seconds(process.pid)
        started = time.time()
        await _publish(js, dues)
        deadline = time.monotonic() + 20 * IDEAL
        while (await js.stream_info("CONTENT")).state.messages < EMAILS:
            if time.monotonic() > deadline or process.returncode is not None:
                raise RuntimeError(f"content not generated in time:\n{tail(log)}")
            await asyncio.sleep(0.02)
        seconds = time.time() - started
        peak = peak_memory_mib(process.pid)
        cpu = _cpu_seconds(process.pid) - cpu_before
        requests = fake.chat_requests()
        calls = len(requests)
        in_flight = _peak_in_flight([(r.received_at, r.responded_at) for r in requests])
    finally:
        await nc.close()
        if process.returncode is None:
            process.send_signal(signal.SIGTERM)
            await process.wait()
    return Run(seconds, peak, cpu, calls, in_flight)


def _peak_in_flight(spans: list[tuple[float, float | None]]) -> int:
    """The most spans open at one instant; an unanswered one stays open."""
    edges = sorted([(start, 1) for start, _ in spans]
                   + [(end, -1) for _, end in spans if end is not None],
                   key=lambda edge: (edge[0], edge[1]))  # an end before a start at a tie
    peak = open_now = 0
    for _, step in edges:
        open_now += step
        peak = max(peak, open_now)
    return peak






async def _wait_for_campaign(
    dsn: str, campaign: Event, process: asyncio.subprocess.Process, log: Path
) -> None:
    conn = await asyncpg.connect(dsn)
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and process.returncode is None:
            if await conn.fetchval("SELECT count(*) FROM campaigns"):
                return
            await asyncio.sleep(0.05)
    finally:
        await conn.close()
    raise RuntimeError(f"campaign {campaign.event_id} never stored:\n{tail(log)}")




def _cpu_seconds(pid: int) -> float:
    """User plus system CPU time of the process so far."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
