"""A CSV imported into the workspace's contacts as it arrives: never held whole, a bounded batch
at a time, each batch COPied, upserted and published in one transaction with its events.

Rows whose address was erased on request are rejected (compared by keyed digest, so the
address is never stored); the rest are created, merged (or left alone) and put on the target
list, each with a consent record stating the import's basis."""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import AsyncIterable
from dataclasses import dataclass, field

from sqlalchemy.ext.asyncio import AsyncEngine

from campaign_api import db
from campaign_api.contact_columns import ColumnMap, column_map, mapping_problems
from campaign_api.csv_rows import EMPTY_FILE, BadFile, parse_record, records
from campaign_api.db import contact_import as staged
from campaign_api.domain import InvalidRecipient
from campaign_api.erasure import ErasureKey
from campaign_api.failures import Invalid
from campaign_api.schemas_import import ContactImportReport, ImportOptions
from campaign_api.usecases._contact_events import (
    publish_contacts_changed,
    publish_members_added,
)
from campaign_api.usecases._rejections import Rejections
from servicekit.db import UnitOfWork

# Rows per transaction: large enough that COPY and the set statements dominate, small enough
# that a batch's rows, its RETURNING and its events stay a few megabytes.
IMPORT_BATCH = 10_000
ERASED = "erased on request: this address may not be imported again"


@dataclass
class _Tally:
    rows: int = 0
    created: int = 0
    updated: int = 0
    added_to_list: int = 0
    rejected: Rejections = field(default_factory=Rejections)


async def import_contacts(
    engine: AsyncEngine, erasure: ErasureKey, workspace_id: uuid.UUID,
    chunks: AsyncIterable[bytes], options: ImportOptions,
) -> ContactImportReport:
    async with engine.connect() as conn:
        declared = await db.field_types(conn, workspace_id)
        if options.list_id is not None and not await db.owned_ids(
                conn, workspace_id, db.lists, [options.list_id]):
            raise Invalid.field("list_id", f"no list {options.list_id} in this workspace")
    if options.mapping is not None:
        problem = mapping_problems(options.mapping, declared)
        if problem is not None:
            path, _, message = problem.partition(": ")
            raise Invalid.field(path, message)
    tally = _Tally()
    correlation_id = uuid.uuid4()
    columns: ColumnMap | None = None
    batch: list[staged.StagedRow] = []
    # The batch being stored while the next one is read: PostgreSQL works on one while this
    # process checks the other. One at a time, in file order (a later row of an address is
    # merged after an earlier one).
    storing: asyncio.Task[None] | None = None

    async def flush() -> None:
        nonlocal batch, storing
        if storing is not None:
            await storing
            storing = None
        if batch:
            storing = asyncio.create_task(
                _store(engine, workspace_id, batch, options, correlation_id, tally))
        batch = []

    try:
        async for line, record in records(chunks):
            if not record.strip():
                continue
            if columns is None:
                try:
                    columns = column_map(parse_record(record), options.mapping, declared)
                except InvalidRecipient as exc:
                    raise BadFile(f"line {line}: {exc}") from exc
                continue
            tally.rows += 1
            try:
                c = columns.contact(parse_record(record), declared)
            except InvalidRecipient as exc:
                tally.rejected.add(line, str(exc))
                continue
            batch.append((line, c.email, c.name, json.dumps(c.fields) if c.fields else "{}",
                          c.tags, c.timezone, c.language, erasure.digest(c.email)))
            if len(batch) >= IMPORT_BATCH:
                await flush()
    except BadFile as exc:
        raise Invalid.field("file", str(exc)) from exc
    finally:
        if storing is not None:  # however reading ends, the batch sent commits, or not, whole
            await asyncio.gather(storing, return_exceptions=True)
    if columns is None:
        raise Invalid.field("file", EMPTY_FILE)
    await flush()
    await flush()  # waits for the last batch
    rejected = sorted(tally.rejected.rows, key=lambda r: r.line)
    return ContactImportReport(
        rows=tally.rows, created=tally.created, updated=tally.updated,
        unchanged=tally.rows - tally.rejected.count - tally.created - tally.updated,
        added_to_list=tally.added_to_list, rejected=tally.rejected.count, rejected_rows=rejected)


async def _store(engine: AsyncEngine, workspace_id: uuid.UUID, batch: list[staged.StagedRow],
                 options: ImportOptions, correlation_id: uuid.UUID, tally: _Tally) -> None:
    async with UnitOfWork(engine) as uow:
        await staged.stage(uow.conn, batch)
        for line in await staged.strike_erased_and_repeats(uow.conn, workspace_id):
            tally.rejected.add(line, ERASED)
        rows = await staged.upsert_staged(uow.conn, workspace_id,
                                          update_existing=options.update_existing)
        publish_contacts_changed(uow, workspace_id, rows, correlation_id)
        created = sum(1 for r in rows if r.inserted)
        tally.created += created
        tally.updated += len(rows) - created
        added = await staged.consent_and_list_staged(
            uow.conn, workspace_id, options.list_id, options.consent_basis, options.consent_text)
        if options.list_id is not None:
            publish_members_added(uow, workspace_id, options.list_id, added, correlation_id)
            tally.added_to_list += len(added)
        await uow.commit()
