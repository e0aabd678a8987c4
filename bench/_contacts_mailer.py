"""The mailer deciding an email's recipients at its send time, for a list of 1,000,000 contacts.

A real mailer database (embedded PostgreSQL, migrated as production migrates it) holds a
workspace of 1,000,000 subscribed contacts, all on one list, and a campaign on that list whose
email 1 is stored with its dispatch. Measured: the dispatcher (`mailer.dispatcher.dispatch_due`)
creating the 1,000,000 pending deliveries at the send time, in its one INSERT ... SELECT.

Reference: asyncpg's COPY of the same 1,000,000 delivery rows (same ids, addresses, Message-IDs
and due time, prepared before its clock starts) into a table of the same shape (`LIKE deliveries
INCLUDING ALL` and the same foreign key to the email: the same columns, defaults, keys and
indexes), in the same run on the same server, just after. Target: at least a quarter of COPY's
rate.

`python -m bench._contacts_mailer` runs it alone; bench/contacts.py reports it with the other
contact figures through `measure()`.
"""

from __future__ import annotations

import asyncio
import hashlib
import io
import tempfile
import time
import uuid
from dataclasses import asdict
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import asyncpg

from bench.harness import Figure, figure, report
from devstack.postgres import EmbeddedPostgres
from mailer.dispatcher import dispatch_due
from mailer.domain import Sender
from servicekit.db import create_engine
from servicekit.migrations import upgrade
from servicekit.settings import async_url, asyncpg_dsn

CONTACTS = 1_000_000
TARGET = 0.25
WORKSPACE = uuid.UUID("00000000-0000-4000-8000-00000000c0de")
CAMPAIGN = uuid.UUID("00000000-0000-4000-8000-0000000ca4a1")
LIST = uuid.UUID("00000000-0000-4000-8000-0000000001a5")
DOMAIN = "shop.example"
SEND_AT = datetime(2030, 3, 4, 9, tzinfo=UTC)
_DELIVERY_COLUMNS = ["id", "campaign_id", "sequence", "email", "audience_id", "message_id",
                     "state", "due_at"]


def _address(index: int) -> str:
    return f"reader{index}@example.com"


def _deliveries() -> bytes:
    """The rows the dispatcher creates, computed as it computes them (md5 of
    "campaign:sequence:email" read as a UUID), as COPY's text format: built before the clock
    starts, so that the reference times COPY and not the making of its rows."""
    prefix = f"{CAMPAIGN}:1:"
    due = SEND_AT.isoformat()
    lines = []
    for index in range(CONTACTS):
        email = _address(index)
        key = uuid.UUID(hashlib.md5((prefix + email).encode()).hexdigest())  # noqa: S324
        lines.append(f"{key}\t{CAMPAIGN}\t1\t{email}\t{LIST}\t<{key}@{DOMAIN}>\tpending\t{due}\n")
    return "".join(lines).encode()


async def _seed(conn: asyncpg.Connection) -> None:
    """The workspace's contacts and the list's memberships by COPY, the campaign, its email 1
    and the email's dispatch, then statistics as autovacuum would gather after such a load."""
    changed = SEND_AT - timedelta(days=30)
    zones = ("Europe/Berlin", "America/New_York", "Asia/Tokyo", None)
    await conn.copy_records_to_table("contacts", columns=[
        "workspace_id", "email", "name", "fields", "timezone", "language", "status",
        "changed_at"], records=(
            (WORKSPACE, _address(i), f"Reader {i}", '{"city": "Utrecht"}', zones[i % 4], "en",
             "subscribed", changed) for i in range(CONTACTS)))
    await conn.copy_records_to_table("memberships", columns=["list_id", "email",
                                                             "workspace_id"],
                                     records=((LIST, _address(i), WORKSPACE)
                                              for i in range(CONTACTS)))
    await conn.execute(
        "INSERT INTO campaigns (campaign_id, workspace_id, audience_id, name, from_name,"
        " from_email, state) VALUES ($1, $2, $3, 'Spring', 'Flower Shop', $4, 'active')",
        CAMPAIGN, WORKSPACE, LIST, f"news@{DOMAIN}")
    await conn.execute(
        "INSERT INTO contents (campaign_id, sequence, correlation_id, send_at, subject,"
        " preheader, body_html, body_text) VALUES ($1, 1, $1, $2, 'Hello', '', '<p>Hi</p>',"
        " 'Hi')", CAMPAIGN, SEND_AT)
    await conn.execute("INSERT INTO dispatches (campaign_id, sequence, due_at) VALUES ($1, 1, $2)",
                       CAMPAIGN, SEND_AT)
    # The same columns, defaults, keys and indexes, and the same foreign key to the email.
    await conn.execute("CREATE TABLE deliveries_copy (LIKE deliveries INCLUDING ALL)")
    await conn.execute("ALTER TABLE deliveries_copy ADD FOREIGN KEY (campaign_id, sequence)"
                       " REFERENCES contents (campaign_id, sequence)")
    await conn.execute("VACUUM ANALYZE")


async def _dispatch(url: str) -> tuple[int, float]:
    engine = create_engine(async_url(url), pool_size=1)
    try:
        started = time.perf_counter()
        created = await dispatch_due(engine, now=SEND_AT,
                                     default_sender=Sender("Shop", f"news@{DOMAIN}"))
        return created, time.perf_counter() - started
    finally:
        await engine.dispose()


async def _measure(url: str) -> list[Figure]:
    conn = await asyncpg.connect(asyncpg_dsn(url))
    try:
        await _seed(conn)
        rows = _deliveries()
        await conn.execute("CHECKPOINT")  # each starts without the other's dirty pages
        created, dispatch_seconds = await _dispatch(url)
        if created != CONTACTS:
            raise AssertionError(f"the dispatcher created {created} deliveries, not {CONTACTS}")
        await conn.execute("CHECKPOINT")
        started = time.perf_counter()
        await conn.copy_to_table("deliveries_copy", source=io.BytesIO(rows),
                                 columns=_DELIVERY_COLUMNS, format="text")
        copy_seconds = time.perf_counter() - started
        same = await conn.fetchval(
            "SELECT count(*) FROM deliveries d JOIN deliveries_copy c USING (id)"
            " WHERE d.message_id = c.message_id AND d.email = c.email")
        if same != CONTACTS:
            raise AssertionError(f"COPY wrote other rows than the dispatcher ({same} alike)")
    finally:
        await conn.close()
    rate, reference = created / dispatch_seconds, CONTACTS / copy_seconds
    return [
        figure("mailer: contacts on the list", CONTACTS, "contacts"),
        figure("mailer: deliveries of one email created at its send time (one INSERT ... "
               "SELECT by the dispatcher)", rate, "rows/s", reference=reference,
               target=f">= {TARGET} of asyncpg COPY", met=rate >= TARGET * reference),
        figure("mailer: dispatch of the 1,000,000", dispatch_seconds, "s"),
        figure("mailer: asyncpg COPY of the same rows into a table of the same shape",
               copy_seconds, "s"),
    ]


def measure() -> list[dict[str, Any]]:
    """The figures, as rows of the bench result format."""
    with tempfile.TemporaryDirectory(prefix="bench-contacts-mailer-") as tmp, \
            EmbeddedPostgres(Path(tmp) / "pg") as pg:
        pg.ensure_database("mailer")
        url = pg.uri("mailer")
        upgrade("mailer", url)
        return [asdict(f) for f in asyncio.run(_measure(url))]


def main() -> None:
    report("contacts_mailer", [Figure(**row) for row in measure()])


if __name__ == "__main__":
    main()
