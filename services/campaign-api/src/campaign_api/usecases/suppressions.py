"""The managed suppression list: list, add one or a CSV, remove with a recorded reason,
export. Each change publishes suppression.added / .removed for the mailer (which checks its
copy at send time), and the contacts of those addresses take the status that follows."""

from __future__ import annotations

import csv
import io
import uuid
from collections.abc import AsyncIterable, AsyncIterator, Sequence
from typing import get_args

from sqlalchemy.ext.asyncio import AsyncEngine

from campaign_api import consent, db
from campaign_api.contacts_domain import InvalidContact, email_of
from campaign_api.csv_rows import EMPTY_FILE, BadFile, parse_record, records
from campaign_api.domain import InvalidRecipient, field_name
from campaign_api.erasure import ErasureKey
from campaign_api.failures import Invalid, NotFound
from campaign_api.schemas_consent import (
    Suppression,
    SuppressionImport,
    SuppressionPage,
    SuppressionReason,
)
from campaign_api.usecases import _contact_writes as contact_writes
from campaign_api.usecases._contact_events import publish_contacts_changed
from campaign_api.usecases._rejections import Rejections
from contracts import SuppressionRemoved
from contracts.contacts import SuppressionPayload
from servicekit.db import UnitOfWork

REASONS: tuple[SuppressionReason, ...] = get_args(SuppressionReason)
IMPORT_BATCH = 5_000


def _reason(raw: str, path: str) -> SuppressionReason:
    for reason in REASONS:
        if raw == reason:
            return reason
    raise InvalidContact(path, f"one of {', '.join(REASONS)}")


async def list_suppressions(engine: AsyncEngine, workspace_id: uuid.UUID, *,
                            reason: SuppressionReason | None, cursor: str | None,
                            limit: int) -> SuppressionPage:
    async with engine.connect() as conn:
        rows = await db.page_suppressions(conn, workspace_id, reason=reason, after=cursor,
                                          limit=limit + 1)
    items = [Suppression.model_validate(r, from_attributes=True) for r in rows[:limit]]
    return SuppressionPage(items=items,
                           next_cursor=items[-1].email if len(rows) > limit else None)


async def suppress(uow: UnitOfWork, workspace_id: uuid.UUID, emails: Sequence[str],
                   reason: SuppressionReason, note: str, correlation_id: uuid.UUID) -> list[str]:
    """Put addresses (normalised, distinct) on the list, their contacts taking the status that
    follows (consent.SUPPRESSED_STATUS; a bounced or complained one keeps that, the stronger
    reason); the addresses newly listed. One listed already keeps its reason, and its contact
    the status that came with it."""
    listed = await db.listed_among(uow.conn, workspace_id, emails)
    return await contact_writes.suppress(
        uow, workspace_id, [e for e in emails if e not in listed],
        status=consent.SUPPRESSED_STATUS[reason], reason=reason,
        correlation_id=correlation_id, unless=("bounced", "complained"), note=note)


async def unsuppress(uow: UnitOfWork, workspace_id: uuid.UUID, email: str, why: str,
                     correlation_id: uuid.UUID) -> bool:
    """Take an address off the list with the reason on record; a contact whose status came
    from the listing is subscribed again. False when it was not listed."""
    was = await db.remove_suppression(uow.conn, workspace_id, email, why)
    if was is None:
        return False
    uow.publish(SuppressionRemoved.create(
        SuppressionPayload.model_construct(emails=[email], reason=_reason(was, "reason")),
        workspace_id=workspace_id, correlation_id=correlation_id))
    changed = await db.set_statuses(uow.conn, workspace_id, [email], "subscribed",
                                    only_from=consent.SUPPRESSED_STATUS[was])
    publish_contacts_changed(uow, workspace_id, changed, correlation_id)
    return True


async def _allowed(uow: UnitOfWork, workspace_id: uuid.UUID, erasure: ErasureKey,
                   emails: Sequence[str]) -> set[str]:
    """Erased addresses are not written down again, not even to suppress them: their digest
    already keeps them from being mailed."""
    return set(emails) - await db.erased_among(uow.conn, workspace_id, erasure, emails)


async def add_suppression(engine: AsyncEngine, erasure: ErasureKey, workspace_id: uuid.UUID,
                          email: str, reason: SuppressionReason, note: str) -> bool:
    try:
        address = email_of(email)
    except InvalidContact as exc:
        raise Invalid.field(exc.field, exc.reason) from exc
    async with UnitOfWork(engine) as uow:
        if not await _allowed(uow, workspace_id, erasure, [address]):
            return False
        added = await suppress(uow, workspace_id, [address], reason, note, uuid.uuid4())
        await uow.commit()
    return bool(added)


async def remove_suppression(engine: AsyncEngine, workspace_id: uuid.UUID, email: str,
                             why: str) -> None:
    """NotFound when the address is not on the list."""
    try:
        address = email_of(email)
    except InvalidContact as exc:
        raise Invalid.field(exc.field, exc.reason) from exc
    async with UnitOfWork(engine) as uow:
        if not await unsuppress(uow, workspace_id, address, why.strip(), uuid.uuid4()):
            raise NotFound("email: not on the suppression list")
        await uow.commit()


class _Columns:
    """The header: `email` (required), and optionally `reason` and `note`."""

    def __init__(self, header: list[str]) -> None:
        names = [field_name(h) for h in header]
        if "email" not in names:
            raise BadFile("line 1: the header needs an 'email' column")
        self.width = len(names)
        self.email = names.index("email")
        self.reason = names.index("reason") if "reason" in names else None
        self.note = names.index("note") if "note" in names else None

    def row(self, values: list[str],
            default: SuppressionReason) -> tuple[str, SuppressionReason, str]:
        if len(values) != self.width:
            raise InvalidContact("row", f"{len(values)} columns where the header has "
                                 f"{self.width}")
        reason = values[self.reason].strip() if self.reason is not None else ""
        note = values[self.note].strip() if self.note is not None else ""
        if len(note) > 1_000:
            raise InvalidContact("note", "at most 1000 characters")
        return email_of(values[self.email]), _reason(reason or default, "reason"), note


async def import_suppressions(
    engine: AsyncEngine, erasure: ErasureKey, workspace_id: uuid.UUID,
    chunks: AsyncIterable[bytes], *, reason: SuppressionReason = "manual",
) -> SuppressionImport:
    """A CSV (header: email, optionally reason and note; `reason` is the default) streamed onto
    the list in batches; rejected rows are reported by line and store nothing."""
    columns: _Columns | None = None
    batch: dict[str, tuple[SuppressionReason, str]] = {}
    rejected = Rejections()
    rows = added = valid = 0
    correlation = uuid.uuid4()

    async def flush() -> None:
        nonlocal added, batch
        async with UnitOfWork(engine) as uow:
            allowed = await _allowed(uow, workspace_id, erasure, list(batch))
            groups: dict[tuple[SuppressionReason, str], list[str]] = {}
            for email in sorted(allowed):
                groups.setdefault(batch[email], []).append(email)
            for (why, note), emails in groups.items():
                added += len(await suppress(uow, workspace_id, emails, why, note, correlation))
            await uow.commit()
        batch = {}

    try:
        async for line, record in records(chunks):
            if not record.strip():
                continue
            if columns is None:
                try:
                    columns = _Columns(parse_record(record))
                except InvalidRecipient as exc:
                    raise BadFile(f"line {line}: {exc}") from exc
                continue
            rows += 1
            try:
                email, why, note = columns.row(parse_record(record), reason)
                valid += 1
                batch.setdefault(email, (why, note))
            except InvalidRecipient as exc:
                rejected.add(line, str(exc))
            if len(batch) >= IMPORT_BATCH:
                await flush()
    except BadFile as exc:
        raise Invalid.field("file", str(exc)) from exc
    if columns is None:
        raise Invalid.field("file", EMPTY_FILE)
    await flush()
    return SuppressionImport(rows=rows, added=added, already=valid - added,
                             rejected=rejected.count, rejected_rows=rejected.rows)


async def export_suppressions(engine: AsyncEngine, workspace_id: uuid.UUID,
                              reason: SuppressionReason | None) -> AsyncIterator[str]:
    """The list as CSV (email, reason, note, created_at), streamed."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(["email", "reason", "note", "created_at"])
    async with engine.connect() as conn:
        async for row in db.stream_suppressions(conn, workspace_id, reason):
            writer.writerow([row.email, row.reason, row.note, row.created_at.isoformat()])
            if out.tell() > 64 * 1024:
                yield out.getvalue()
                out.seek(0)
                out.truncate()
    yield out.getvalue()
