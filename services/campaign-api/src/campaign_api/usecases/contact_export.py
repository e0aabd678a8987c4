"""The workspace's contacts as CSV, streamed: one keyset page of the contacts search at a time
(its filters, its order by address), so that a million contacts never sit in memory."""

from __future__ import annotations

import csv
import io
import uuid
from collections.abc import AsyncIterator

from sqlalchemy.ext.asyncio import AsyncEngine

from campaign_api import db
from campaign_api.contact_columns import TAG_SEPARATOR
from campaign_api.contacts_domain import InvalidContact, render_field, status_of, tags_of
from campaign_api.failures import Invalid
from campaign_api.usecases._contact_writes import refused

EXPORT_PAGE = 5_000
BUILT_IN = ("email", "name", "status", "tags", "timezone", "language", "created_at")


async def export_contacts(
    engine: AsyncEngine, workspace_id: uuid.UUID, *, tag: str | None = None,
    status: str | None = None, list_id: uuid.UUID | None = None,
) -> AsyncIterator[bytes]:
    """Checks the filters first (a 422 before any byte is sent), then the CSV's chunks: the
    header, then a page of rows per chunk. The columns read back by the import as they are."""
    try:
        wanted_tag = tags_of([tag], path="tag")[0] if tag else None
        wanted_status = status_of(status) if status else None
    except InvalidContact as exc:
        raise refused(exc) from exc
    async with engine.connect() as conn:
        if list_id is not None and not await db.owned_ids(conn, workspace_id, db.lists,
                                                          [list_id]):
            raise Invalid.field("list_id", f"no list {list_id} in this workspace")
        keys = [r.key for r in await db.declared_fields(conn, workspace_id)]
    return _chunks(engine, workspace_id, keys, wanted_tag, wanted_status, list_id)


async def _chunks(engine: AsyncEngine, workspace_id: uuid.UUID, keys: list[str],
                  tag: str | None, status: str | None,
                  list_id: uuid.UUID | None) -> AsyncIterator[bytes]:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow([*BUILT_IN, *keys])
    after: str | None = None
    while True:
        # A connection per page: a slow reader holds no connection between pages.
        async with engine.connect() as conn:
            page = await db.search_contacts(conn, workspace_id, limit=EXPORT_PAGE, after=after,
                                            tag=tag, status=status, list_id=list_id)
        for r in page:
            fields = r.fields or {}
            writer.writerow([
                r.email, r.name, r.status, TAG_SEPARATOR.join(r.tags), r.timezone or "",
                r.language or "", r.created_at.isoformat(),
                *(render_field(fields[k]) if fields.get(k) is not None else "" for k in keys)])
        yield out.getvalue().encode()
        out.seek(0)
        out.truncate()
        if len(page) < EXPORT_PAGE:
            return
        after = page[-1].email
