"""Contacts at the scale of a million: a CSV import through the real campaign-api, then the
segment count (`bench/_contacts_segment.py`) and the mailer's deliveries to a list of a million
(`bench/_contacts_mailer.py`), each where present, in one table.

Import: campaign-api runs as production runs it (`python -m campaign_api run`, against an
embedded nats-server and PostgreSQL, its outbox relay publishing the import's events as it
goes); a CSV of 1,000,000 rows (email, name, tags, language) is POSTed to
/api/contacts/import as a streamed `text/csv` body onto a list. Measured: rows per second from
the first byte sent to the report, and campaign-api's peak resident memory (VmHWM), read
before it stops. Targets: >= 50,000 rows/s, <= 300 MB. Reference, in the same run: the same
file read with the csv module and COPied by asyncpg straight into the contacts table of a
database migrated the same way: what loading these rows costs with no API, no checks, no
list, no consent records and no events.
"""

from __future__ import annotations

import asyncio
import csv
import importlib
import importlib.util
import os
import sys
import tempfile
import time
import traceback
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import sqlalchemy as sa

from bench._service import peak_memory_mib, tail, wait_ready
from bench.harness import Figure, figure, report
from campaign_api import db, usecases
from devstack.nats import EmbeddedNats
from devstack.ports import free_port
from devstack.postgres import EmbeddedPostgres
from servicekit.db import create_engine
from servicekit.migrations import upgrade
from servicekit.settings import async_url, asyncpg_dsn

ROWS = int(os.environ.get("BENCH_CONTACTS_ROWS", "1000000"))  # fewer: a quick trial
TARGET_ROWS_PER_SECOND = 50_000
TARGET_PEAK_MIB = 300
CHUNK = 1024 * 1024
# Figures of the other contacts benchmarks, reported in this table when their module exists.
PARTS = ("bench._contacts_segment", "bench._contacts_mailer")


def _write_csv(path: Path) -> None:
    with path.open("w", newline="") as out:
        writer = csv.writer(out, lineterminator="\n")
        writer.writerow(["email", "name", "tags", "language"])
        for i in range(ROWS):
            writer.writerow([f"reader{i}@example.com", f"Reader {i}",
                             "vip;spring" if i % 5 == 0 else "spring", "de" if i % 3 else "en"])


async def _chunks(path: Path) -> AsyncIterator[bytes]:
    with path.open("rb") as source:
        while chunk := source.read(CHUNK):
            yield chunk


async def _import(nats_url: str, url: str, csv_path: Path, size: int,
                  root: Path) -> tuple[float, float, dict[str, Any]]:
    """Seconds for the import, campaign-api's peak MiB, and its report."""
    engine = create_engine(async_url(url), pool_size=1)
    try:
        workspace = await usecases.create_workspace(engine, "bench")
        key = (await usecases.create_api_key(engine, workspace.id, "bench")).key
        list_id = uuid.uuid4()
        async with engine.begin() as conn:
            await db.insert_list(conn, id=list_id, workspace_id=workspace.id, name="Everyone")
    finally:
        await engine.dispose()
    port = free_port()
    env = {**os.environ, "CAMPAIGN_API_DATABASE_URL": url, "NATS_URL": nats_url,
           "PORT": str(port), "LOG_LEVEL": "WARNING", "ENVIRONMENT": "test",
           "LINK_SIGNING_KEY": "bench-link-signing-key-0123456789abcdef",
           "ERASURE_KEY": "bench-erasure-key-0123456789abcdef0123456789",
           "CAMPAIGN_API_SESSION_SECRET": "bench-session-secret-0123456789abcdef",
           "CAMPAIGN_API_MAX_IMPORT_BYTES": str(size + CHUNK),
           "PUBLIC_BASE_URL": f"http://127.0.0.1:{port}"}
    log = root / "campaign-api.log"
    with log.open("wb") as out:
        process = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "campaign_api", "run", env=env, stdout=out,
            stderr=asyncio.subprocess.STDOUT)
    try:
        base = f"http://127.0.0.1:{port}"
        await wait_ready(base, process, log, name="campaign-api")
        async with httpx.AsyncClient(base_url=base, timeout=900,
                                     headers={"Authorization": f"Bearer {key}"}) as client:
            started = time.perf_counter()
            r = await client.post("/api/contacts/import", content=_chunks(csv_path),
                                  params={"consent_basis": "consent", "list_id": str(list_id)},
                                  headers={"content-type": "text/csv"})
            seconds = time.perf_counter() - started
        if r.status_code != 200:
            raise RuntimeError(f"import answered {r.status_code}: {r.text[:500]}\n{tail(log)}")
        peak = peak_memory_mib(process.pid)
    finally:
        if process.returncode is None:
            process.terminate()
            await process.wait()
    found: dict[str, Any] = r.json()
    return seconds, peak, found


def _records(path: Path, workspace_id: uuid.UUID) -> Iterator[tuple[Any, ...]]:
    with path.open(newline="") as source:
        rows = csv.reader(source)
        next(rows)
        for email, name, tags, language in rows:
            yield (uuid.uuid4(), workspace_id, email, name, tags.split(";"), language)


async def _copy(url: str, csv_path: Path) -> float:
    """Seconds for asyncpg to COPY the file's rows into contacts (reading it included)."""
    engine = create_engine(async_url(url), pool_size=1)
    try:
        workspace_id = (await usecases.create_workspace(engine, "reference")).id
    finally:
        await engine.dispose()
    conn = await asyncpg.connect(asyncpg_dsn(url))
    try:
        started = time.perf_counter()
        await conn.copy_records_to_table(
            "contacts", records=_records(csv_path, workspace_id),
            columns=("id", "workspace_id", "email", "name", "tags", "language"))
        return time.perf_counter() - started
    finally:
        await conn.close()


async def _stored(url: str) -> tuple[int, int]:
    engine = create_engine(async_url(url), pool_size=1)
    try:
        async with engine.connect() as conn:
            contacts = (await conn.execute(sa.select(sa.func.count()).select_from(db.contacts))
                        ).scalar_one()
            members = (await conn.execute(
                sa.select(sa.func.count()).select_from(db.list_members))).scalar_one()
    finally:
        await engine.dispose()
    return contacts, members


def _import_figures() -> list[Figure]:
    with tempfile.TemporaryDirectory(prefix="bench-contacts-") as tmp:
        root = Path(tmp)
        csv_path = root / "contacts.csv"
        _write_csv(csv_path)
        size = csv_path.stat().st_size
        with EmbeddedNats(root / "nats") as broker, EmbeddedPostgres(root / "pg") as pg:
            urls = {}
            for name in ("campaign_api", "reference"):
                pg.ensure_database(name)
                urls[name] = pg.uri(name)
                upgrade("campaign_api", urls[name])
            seconds, peak, found = asyncio.run(_import(broker.url, urls["campaign_api"],
                                                       csv_path, size, root))
            contacts, members = asyncio.run(_stored(urls["campaign_api"]))
            copy_seconds = asyncio.run(_copy(urls["reference"], csv_path))
    if (found["created"], contacts, members) != (ROWS, ROWS, ROWS):
        raise RuntimeError(f"the import stored {contacts} contacts and {members} members: "
                           f"{ {k: v for k, v in found.items() if k != 'rejected_rows'} }")
    rate, reference = ROWS / seconds, ROWS / copy_seconds
    return [
        figure("import: CSV rows (email, name, tags, language)", ROWS, "rows"),
        figure("import: CSV size", size / 2**20, "MiB"),
        figure("import: rows/s through POST /api/contacts/import (text/csv, onto a list)",
               rate, "rows/s", reference=reference,
               target=f">= {TARGET_ROWS_PER_SECOND:,} rows/s",
               met=rate >= TARGET_ROWS_PER_SECOND),
        figure("import: first byte to report", seconds, "s"),
        figure("import: campaign-api peak memory (VmHWM)", peak, "MiB",
               target=f"<= {TARGET_PEAK_MIB} MB", met=peak <= TARGET_PEAK_MIB),
        figure("reference: asyncpg COPY of the same rows into contacts", copy_seconds, "s"),
    ]


def _parts() -> list[Figure]:
    figures: list[Figure] = []
    for name in PARTS:
        if importlib.util.find_spec(name) is None:
            continue
        try:
            figures += [Figure(**row) for row in importlib.import_module(name).measure()]
        except Exception:  # the import's figures are still reported
            traceback.print_exc()
            figures.append(figure(f"{name}: failed (its traceback above)", 0, "", met=False))
    return figures


def main() -> None:
    report("contacts", [*_import_figures(), *_parts()])


if __name__ == "__main__":
    main()
