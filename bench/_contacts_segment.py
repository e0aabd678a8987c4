"""The count of a three-condition segment over 1,000,000 contacts, one condition on engagement.

A real campaign-api database (migrated to head, in an embedded PostgreSQL) holds 1,000,000
contacts of one workspace, loaded with COPY: a fifth tagged `vip`, nine in ten subscribed; and
300,000 engagement rows (opens and clicks over the last 90 days) for 150,000 of them. The
segment is {"all": [{"status": ["subscribed"]}, {"tag": "vip"}, {"engagement": "opened",
"within_days": 30}]}, validated and compiled as the API does (`segment_rules`, `db.segment_where`)
and counted as `GET /api/segments/{id}` counts it. Figure: the median of five counts after one
that warms the cache; target < 1 s. Reference: a plain count of the workspace's contacts in the
same run, so the ratio says what the rule costs over reading the workspace at all.

`measure()` returns the rows (bench/contacts.py reports them with the other contacts figures);
`python -m bench._contacts_segment` runs it alone.
"""

from __future__ import annotations

import asyncio
import json
import os
import random
import statistics
import tempfile
import time
import uuid
from dataclasses import asdict
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import asyncpg
import sqlalchemy as sa

from bench.harness import Figure, figure, report
from campaign_api import db
from campaign_api.segment_rules import validate_rule
from devstack.postgres import EmbeddedPostgres
from servicekit.db import create_engine
from servicekit.migrations import upgrade
from servicekit.settings import asyncpg_dsn

CONTACTS = 1_000_000
ENGAGED = 150_000
ENGAGEMENTS = 300_000
TARGET_SECONDS = 1.0
RUNS = 5
WORKSPACE = uuid.UUID("00000000-0000-4000-8000-00000000c0de")
RULE = {"all": [{"status": ["subscribed"]}, {"tag": "vip"},
                {"engagement": "opened", "within_days": 30}]}
CAMPAIGNS = [uuid.uuid5(WORKSPACE, f"campaign {i}") for i in range(10)]


async def _load(dsn: str, now: datetime) -> None:
    rng = random.Random(13)
    conn = await asyncpg.connect(dsn)
    try:
        await conn.execute("INSERT INTO workspaces (id, name) VALUES ($1, 'bench')", WORKSPACE)
        zones = ["Europe/Berlin", "Asia/Tokyo", "America/New_York", None]
        contacts = (
            (uuid.UUID(int=rng.getrandbits(128)), WORKSPACE, f"c{i}@bench.example",
             f"Contact {i}", json.dumps({"age": rng.randint(18, 90)}),
             ["vip"] if rng.random() < 0.2 else [], zones[i % 4], "en",
             "subscribed" if rng.random() < 0.9 else "unsubscribed")
            for i in range(CONTACTS))
        await conn.copy_records_to_table(
            "contacts", records=contacts,
            columns=["id", "workspace_id", "email", "name", "fields", "tags", "timezone",
                     "language", "status"])
        engaged = rng.sample(range(CONTACTS), ENGAGED)
        rows = ((WORKSPACE, rng.choice(CAMPAIGNS), 1, f"c{engaged[i % ENGAGED]}@bench.example",
                 "open" if rng.random() < 0.7 else "click",
                 now - timedelta(seconds=rng.uniform(0, 90 * 86_400)))
                for i in range(ENGAGEMENTS))
        await conn.copy_records_to_table(
            "engagements", records=rows,
            columns=["workspace_id", "campaign_id", "sequence", "email", "kind", "occurred_at"])
        await conn.execute("VACUUM ANALYZE contacts")
        await conn.execute("VACUUM ANALYZE engagements")
    finally:
        await conn.close()


async def _timed(url: str, now: datetime) -> tuple[list[float], list[float], int, str]:
    engine = create_engine(url, pool_size=1)
    rule = validate_rule(RULE, {"age": "number"})
    segment = sa.select(sa.func.count()).select_from(db.contacts).where(
        db.segment_where(rule, WORKSPACE, now))
    everyone = sa.select(sa.func.count()).select_from(db.contacts).where(
        db.contacts.c.workspace_id == WORKSPACE)
    counted, scans = [], []
    try:
        async with engine.connect() as conn:
            sql = segment.compile(dialect=conn.dialect,
                                  compile_kwargs={"literal_binds": True})
            plan = "\n".join((await conn.execute(sa.text(f"EXPLAIN ANALYZE {sql}"))).scalars())
            members = (await conn.execute(segment)).scalar_one()  # warms the cache
            await conn.execute(everyone)
            for _ in range(RUNS):
                started = time.perf_counter()
                assert (await conn.execute(segment)).scalar_one() == members
                counted.append(time.perf_counter() - started)
                started = time.perf_counter()
                await conn.execute(everyone)
                scans.append(time.perf_counter() - started)
    finally:
        await engine.dispose()
    return counted, scans, members, plan


def measure() -> list[dict[str, Any]]:
    """The segment count's figures as bench result rows."""
    now = datetime.now(UTC)
    with tempfile.TemporaryDirectory(prefix="bench-segment-") as tmp, \
            EmbeddedPostgres(Path(tmp) / "pg") as pg:
        pg.ensure_database("campaign_api")
        url = pg.uri("campaign_api")
        upgrade("campaign_api", url)
        started = time.perf_counter()
        asyncio.run(_load(asyncpg_dsn(url), now))
        loaded = time.perf_counter() - started
        counted, scans, members, plan = asyncio.run(_timed(url, now))
    if os.environ.get("BENCH_SEGMENT_PLAN") == "1":  # which indexes the count used
        print(plan)
    seconds, scan = statistics.median(counted), statistics.median(scans)
    figures: list[Figure] = [
        figure("segment: contacts and engagement rows loaded (COPY, then ANALYZE)",
               CONTACTS + ENGAGEMENTS, "rows"),
        figure("segment: load time", loaded, "s"),
        figure("segment: members of subscribed + tag vip + opened in the last 30 days",
               members, "contacts"),
        figure(f"segment: count over {CONTACTS:,} contacts (median of {RUNS})", seconds, "s",
               reference=scan, target=f"< {TARGET_SECONDS:g} s",
               met=seconds < TARGET_SECONDS),
    ]
    return [asdict(f) for f in figures]


def main() -> None:
    report("contacts_segment", [Figure(**row) for row in measure()])


if __name__ == "__main__":
    main()
