"""A campaign's audience: list, add, remove, and CSV import."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterable, Sequence

from sqlalchemy.ext.asyncio import AsyncEngine

from campaign_api import db
from campaign_api.csv_rows import BadFile, RecordSplitter, RowReader, parse_record
from campaign_api.domain import InvalidRecipient, Recipient, can_edit, recipient
from campaign_api.failures import Conflict, Invalid
from campaign_api.schemas import (
    ImportReport,
    MembershipChange,
    RecipientIn,
    RecipientPage,
    RejectedRow,
)
from campaign_api.schemas import (
    Recipient as RecipientOut,
)
from campaign_api.usecases._audience_events import first_of_each, publish_added, publish_removed
from campaign_api.usecases.campaigns import require_campaign
from servicekit.db import UnitOfWork

# Rows per transaction and per audience event in an import.
IMPORT_BATCH = 500
MAX_REPORTED_REJECTIONS = 10_000


async def _audience_of(engine: AsyncEngine, workspace_id: uuid.UUID,
                       campaign_id: uuid.UUID, *, adding: bool = False) -> uuid.UUID:
    async with engine.connect() as conn:
        row = await require_campaign(conn, workspace_id, campaign_id)
    if adding and not can_edit(row.status):
        # Nobody would ever be mailed: say so instead of answering as if it mattered.
        raise Conflict(f"status: a {row.status} campaign sends no more email, so it takes no "
                       "new recipients")
    audience_id: uuid.UUID = row.audience_id
    return audience_id


async def list_members(
    engine: AsyncEngine, workspace_id: uuid.UUID, campaign_id: uuid.UUID, *, limit: int = 100,
    cursor: str | None = None,
) -> RecipientPage:
    async with engine.connect() as conn:
        row = await require_campaign(conn, workspace_id, campaign_id)
        rows = await db.list_members(conn, row.audience_id, campaign_id, limit=limit + 1,
                                     after=cursor)
    items = [RecipientOut.model_validate(r, from_attributes=True) for r in rows[:limit]]
    return RecipientPage(items=items, next_cursor=items[-1].email if len(rows) > limit else None)


async def add_members(
    engine: AsyncEngine, workspace_id: uuid.UUID, campaign_id: uuid.UUID,
    members: Sequence[RecipientIn],
) -> MembershipChange:
    try:
        given = first_of_each([recipient(str(m.email), m.name, dict(m.fields)) for m in members])
    except InvalidRecipient as exc:
        field, _, message = str(exc).partition(": ")
        raise Invalid.field(f"recipients.{field}", message) from exc
    audience_id = await _audience_of(engine, workspace_id, campaign_id, adding=True)
    added = await _add(engine, workspace_id, audience_id, given, uuid.uuid4())
    return MembershipChange(requested=len(given), changed=added)


async def _add(engine: AsyncEngine, workspace_id: uuid.UUID, audience_id: uuid.UUID,
               recipients: list[Recipient], correlation_id: uuid.UUID) -> int:
    added = 0
    for i in range(0, len(recipients), IMPORT_BATCH):
        batch = recipients[i:i + IMPORT_BATCH]
        async with UnitOfWork(engine) as uow:
            new = set(await db.add_members(uow.conn, workspace_id, audience_id, [
                {"email": r.email, "name": r.name, "fields": r.fields} for r in batch]))
            # Only what is new reaches the mailer: a re-import publishes nothing.
            fresh = [r for r in batch if r.email in new]
            publish_added(uow, workspace_id, audience_id, fresh, correlation_id)
            await uow.commit()
        added += len(fresh)
    return added


async def remove_members(
    engine: AsyncEngine, workspace_id: uuid.UUID, campaign_id: uuid.UUID, emails: Sequence[str],
) -> MembershipChange:
    try:
        wanted = sorted({recipient(e, "", {}).email for e in emails})
    except InvalidRecipient as exc:
        raise Invalid.field("emails", str(exc).partition(": ")[2]) from exc
    audience_id = await _audience_of(engine, workspace_id, campaign_id)
    async with UnitOfWork(engine) as uow:
        removed = await db.remove_members(uow.conn, audience_id, wanted)
        publish_removed(uow, workspace_id, audience_id, sorted(removed), uuid.uuid4())
        await uow.commit()
    return MembershipChange(requested=len(wanted), changed=len(removed))


async def import_csv(
    engine: AsyncEngine, workspace_id: uuid.UUID, campaign_id: uuid.UUID,
    chunks: AsyncIterable[bytes],
) -> ImportReport:
    """Stream a CSV (header: email, name, any merge fields) into the audience. Each batch of
    valid rows commits with its audience event; only the current batch is held in memory."""
    audience_id = await _audience_of(engine, workspace_id, campaign_id, adding=True)
    correlation_id = uuid.uuid4()
    splitter = RecordSplitter()
    reader: RowReader | None = None
    batch: list[Recipient] = []
    rejected: list[RejectedRow] = []
    rows = added = valid = rejections = 0

    async def flush() -> None:
        nonlocal added, batch
        added += await _add(engine, workspace_id, audience_id, first_of_each(batch),
                            correlation_id)
        batch = []

    async def records() -> AsyncIterable[tuple[int, str]]:
        async for chunk in chunks:
            for record in splitter.feed(chunk):
                yield record
        for record in splitter.finish():
            yield record

    try:
        async for line, record in records():
            if not record.strip():
                continue
            if reader is None:
                try:
                    reader = RowReader(parse_record(record))
                except InvalidRecipient as exc:
                    raise BadFile(f"line {line}: {exc}") from exc
                continue
            rows += 1
            try:
                batch.append(reader.recipient(parse_record(record)))
                valid += 1
            except InvalidRecipient as exc:
                rejections += 1
                if len(rejected) < MAX_REPORTED_REJECTIONS:
                    rejected.append(RejectedRow(line=line, reason=str(exc)))
            if len(batch) >= IMPORT_BATCH:
                await flush()
    except BadFile as exc:
        raise Invalid.field("file", str(exc)) from exc
    if reader is None:
        raise Invalid.field("file", "empty: a header with an 'email' column is required")
    await flush()
    return ImportReport(rows=rows, added=added, duplicates=valid - added, rejected=rejections,
                        rejected_rows=rejected)
