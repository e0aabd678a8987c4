"""A campaign's own recipients: list, add, remove, and CSV import. Each recipient is a contact
of the workspace (upserted: a new address is created, a known one keeps its status and gains
the fields given) put on the campaign's own list, whose id is the campaign's audience_id."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterable, Sequence
from datetime import UTC, datetime

from sqlalchemy.ext.asyncio import AsyncEngine

from campaign_api import db
from campaign_api.contacts_domain import Contact, contact, rendered_fields
from campaign_api.csv_rows import EMPTY_FILE, BadFile, RowReader, parse_record, records
from campaign_api.domain import InvalidRecipient, can_edit, recipient, takes_recipients
from campaign_api.erasure import ErasureKey
from campaign_api.failures import Conflict, Invalid
from campaign_api.schemas import (
    ImportReport,
    MembershipChange,
    RecipientIn,
    RecipientPage,
)
from campaign_api.schemas import (
    Recipient as RecipientOut,
)
from campaign_api.usecases._contact_writes import (
    as_contacts,
    declared_for,
    first_of_each,
    put_on_campaign_list,
)
from campaign_api.usecases._contact_writes import remove_members as remove_from_list
from campaign_api.usecases._rejections import Rejections
from campaign_api.usecases.campaigns import require_campaign
from servicekit.db import UnitOfWork

# Rows per transaction in an import.
IMPORT_BATCH = 500
ERASED = "email: this address was erased on request and may not be added again"


async def _audience_of(engine: AsyncEngine, workspace_id: uuid.UUID,
                       campaign_id: uuid.UUID, *, adding: bool = False) -> uuid.UUID:
    async with engine.connect() as conn:
        row = await require_campaign(conn, workspace_id, campaign_id)
        send_times = ([e.send_at for e in await db.campaign_emails_of(conn, campaign_id)]
                      if adding and not can_edit(row.status) else [])
    if adding and not takes_recipients(row.status, send_times, datetime.now(UTC)):
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
        rows = await db.own_list_page(conn, row.audience_id, campaign_id, limit=limit + 1,
                                     after=cursor)
    items = [RecipientOut(email=r.email, name=r.name, fields=rendered_fields(r.fields),
                          added_at=r.added_at, unsubscribed=r.unsubscribed, bounced=r.bounced,
                          suppressed=r.suppressed) for r in rows[:limit]]
    return RecipientPage(items=items, next_cursor=items[-1].email if len(rows) > limit else None)


async def add_members(
    engine: AsyncEngine, erasure: ErasureKey, workspace_id: uuid.UUID, campaign_id: uuid.UUID,
    members: Sequence[RecipientIn],
) -> MembershipChange:
    try:
        given = [recipient(str(m.email), m.name, dict(m.fields)) for m in members]
    except InvalidRecipient as exc:
        field, _, message = str(exc).partition(": ")
        raise Invalid.field(f"recipients.{field}", message) from exc
    audience_id = await _audience_of(engine, workspace_id, campaign_id, adding=True)
    async with UnitOfWork(engine) as uow:
        declared = await declared_for(uow, workspace_id, [k for r in given for k in r.fields])
        contacts = first_of_each(as_contacts(given, declared, lambda i: f"recipients.{i}."))
        done = await put_on_campaign_list(uow, workspace_id, audience_id, contacts,
                                          uuid.uuid4(), erasure=erasure)
        await uow.commit()
    return MembershipChange(requested=len(contacts), changed=len(done.added_to_list))


async def remove_members(
    engine: AsyncEngine, workspace_id: uuid.UUID, campaign_id: uuid.UUID, emails: Sequence[str],
) -> MembershipChange:
    """Take addresses off the campaign's list (they stay contacts of the workspace)."""
    try:
        wanted = sorted({recipient(e, "", {}).email for e in emails})
    except InvalidRecipient as exc:
        raise Invalid.field("emails", str(exc).partition(": ")[2]) from exc
    audience_id = await _audience_of(engine, workspace_id, campaign_id)
    async with UnitOfWork(engine) as uow:
        ids = await db.ids_by_email(uow.conn, workspace_id, wanted)
        removed = await remove_from_list(uow, workspace_id, audience_id, list(ids.values()),
                                         uuid.uuid4())
        await uow.commit()
    return MembershipChange(requested=len(wanted), changed=len(removed))


async def import_csv(
    engine: AsyncEngine, erasure: ErasureKey, workspace_id: uuid.UUID, campaign_id: uuid.UUID,
    chunks: AsyncIterable[bytes],
) -> ImportReport:
    """Stream a CSV (header: email, name, any merge fields) into the campaign's list. Each
    batch of valid rows commits with its events; only the current batch is held in memory."""
    audience_id = await _audience_of(engine, workspace_id, campaign_id, adding=True)
    correlation_id = uuid.uuid4()
    reader: RowReader | None = None
    declared: dict[str, str] = {}
    batch: list[Contact] = []
    lines: dict[str, int] = {}  # the batch's addresses, by the line they came from
    rejected = Rejections()
    rows = added = valid = 0

    async def flush() -> None:
        nonlocal added, batch, lines, valid
        async with UnitOfWork(engine) as uow:
            done = await put_on_campaign_list(uow, workspace_id, audience_id, batch,
                                              correlation_id, erasure=erasure)
            await uow.commit()
        added += len(done.added_to_list)
        for email in done.erased:
            valid -= 1
            rejected.add(lines[email], ERASED)
        batch, lines = [], {}

    try:
        async for line, record in records(chunks):
            if not record.strip():
                continue
            if reader is None:
                try:
                    reader = RowReader(parse_record(record))
                except InvalidRecipient as exc:
                    raise BadFile(f"line {line}: {exc}") from exc
                async with UnitOfWork(engine) as uow:
                    declared = await declared_for(uow, workspace_id, reader.fields)
                    await uow.commit()
                continue
            rows += 1
            try:
                r = reader.recipient(parse_record(record))
                batch.append(contact(r.email, declared, name=r.name, fields=r.fields))
                lines.setdefault(r.email, line)
                valid += 1
            except InvalidRecipient as exc:
                rejected.add(line, str(exc))
            if len(batch) >= IMPORT_BATCH:
                await flush()
    except BadFile as exc:
        raise Invalid.field("file", str(exc)) from exc
    if reader is None:
        raise Invalid.field("file", EMPTY_FILE)
    await flush()
    return ImportReport(rows=rows, added=added, duplicates=valid - added,
                        rejected=rejected.count, rejected_rows=rejected.rows)
