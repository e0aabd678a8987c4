"""Segments: saved rules, their live count and sample, and the refresher that tells the mailer
who their members are.

A segment's membership reaches the mailer as list.members.added / .removed with list_id = the
segment's id. The refresher recomputes a segment when it changed (at once) and every refresh
interval otherwise, diffs against `segment_members` in SQL, and publishes the diff in the same
transaction; segments are claimed with SKIP LOCKED, so replicas share them out."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import structlog
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from campaign_api import db
from campaign_api.db import AnyRow
from campaign_api.failures import Invalid, NotFound
from campaign_api.schemas import FieldError
from campaign_api.schemas_segments import (
    SAMPLE_SIZE,
    SampleContact,
    Segment,
    SegmentCount,
    SegmentCreate,
    SegmentDetail,
    SegmentPage,
    SegmentUpdate,
)
from campaign_api.segment_rules import (
    InvalidRule,
    Node,
    lists_named,
    rule_json,
    stored_rule,
    validate_rule,
)
from campaign_api.usecases._claim_loop import claim_until_stopped
from campaign_api.usecases._contact_events import publish_members_added, publish_members_removed
from campaign_api.usecases._contact_writes import decode_key, encode_key
from servicekit.db import UnitOfWork
from servicekit.shutdown import Shutdown

log = structlog.get_logger(__name__)


def _now() -> datetime:
    return datetime.now(UTC)


async def checked_rule(conn: AsyncConnection, workspace_id: uuid.UUID, raw: Any) -> Node:
    """`raw` as a rule of this workspace: its fields declared, its lists its own; a 422
    naming each bad path inside the rule otherwise."""
    declared = await db.field_types(conn, workspace_id)
    try:
        named = lists_named(validate_rule(raw, declared))
        owned = await db.owned_ids(conn, workspace_id, db.lists, sorted(named))
        return validate_rule(raw, declared, owned)
    except InvalidRule as exc:
        raise Invalid(str(exc), [FieldError(field=p, message=m) for p, m in exc.errors]) \
            from None


async def _count(conn: AsyncConnection, workspace_id: uuid.UUID, rule: Node) -> SegmentCount:
    count, rows = await db.count_and_sample(conn, db.segment_where(rule, workspace_id, _now()),
                                            SAMPLE_SIZE)
    return SegmentCount(count=count, sample=[SampleContact.model_validate(r, from_attributes=True)
                                             for r in rows])


async def preview(engine: AsyncEngine, workspace_id: uuid.UUID, raw: Any) -> SegmentCount:
    """Who a rule selects now, without saving it."""
    async with engine.connect() as conn:
        return await _count(conn, workspace_id, await checked_rule(conn, workspace_id, raw))


async def _require(conn: AsyncConnection, workspace_id: uuid.UUID, segment_id: uuid.UUID,
                   *, for_update: bool = False) -> AnyRow:
    row = await db.get_segment(conn, workspace_id, segment_id, for_update=for_update)
    if row is None:
        raise NotFound(f"No segment {segment_id} in this workspace.")
    return row


async def _detail(conn: AsyncConnection, workspace_id: uuid.UUID, row: AnyRow) -> SegmentDetail:
    counted = await _count(conn, workspace_id, stored_rule(row.rule))
    return SegmentDetail(**Segment.model_validate(row, from_attributes=True).model_dump(),
                         count=counted.count, sample=counted.sample)


async def create_segment(engine: AsyncEngine, workspace_id: uuid.UUID,
                         body: SegmentCreate) -> SegmentDetail:
    segment_id = uuid.uuid4()
    async with UnitOfWork(engine) as uow:
        rule = await checked_rule(uow.conn, workspace_id, body.rule)
        await db.insert_segment(uow.conn, id=segment_id, workspace_id=workspace_id,
                                name=body.name.strip() or body.name, rule=rule_json(rule))
        found = await _require(uow.conn, workspace_id, segment_id)
        await uow.commit()
    async with engine.connect() as conn:
        return await _detail(conn, workspace_id, found)


async def get_segment(engine: AsyncEngine, workspace_id: uuid.UUID,
                      segment_id: uuid.UUID) -> SegmentDetail:
    async with engine.connect() as conn:
        return await _detail(conn, workspace_id, await _require(conn, workspace_id, segment_id))


async def list_segments(engine: AsyncEngine, workspace_id: uuid.UUID, *, limit: int = 100,
                        cursor: str | None = None) -> SegmentPage:
    raw = decode_key(cursor)
    try:
        after = None if raw is None else (lambda n, i: (str(n), uuid.UUID(str(i))))(
            *json.loads(raw))
    except (ValueError, TypeError) as exc:
        raise Invalid.field("cursor", "not a cursor this API returned") from exc
    async with engine.connect() as conn:
        rows = await db.page_segments(conn, workspace_id, limit=limit + 1, after=after)
    items = [Segment.model_validate(r, from_attributes=True) for r in rows[:limit]]
    last = items[-1] if len(rows) > limit else None
    return SegmentPage(items=items, next_cursor=encode_key(json.dumps([last.name, str(last.id)]))
                       if last else None)


async def update_segment(engine: AsyncEngine, workspace_id: uuid.UUID, segment_id: uuid.UUID,
                         changes: SegmentUpdate) -> SegmentDetail:
    """A new name or rule; a new rule is refreshed at once (the refresher's next claim)."""
    async with UnitOfWork(engine) as uow:
        await _require(uow.conn, workspace_id, segment_id, for_update=True)
        values: dict[str, Any] = {}
        if changes.name is not None:
            values["name"] = changes.name.strip() or changes.name
        if changes.rule is not None:
            values["rule"] = rule_json(await checked_rule(uow.conn, workspace_id,
                                                          changes.rule))
        if values:
            await db.update_segment(uow.conn, segment_id, **values)
        found = await _require(uow.conn, workspace_id, segment_id)
        await uow.commit()
    async with engine.connect() as conn:
        return await _detail(conn, workspace_id, found)


async def delete_segment(engine: AsyncEngine, workspace_id: uuid.UUID,
                         segment_id: uuid.UUID) -> None:
    """Delete a segment; the mailer is told its members left it."""
    async with UnitOfWork(engine) as uow:
        await _require(uow.conn, workspace_id, segment_id, for_update=True)
        emails = await db.delete_segment(uow.conn, segment_id)
        publish_members_removed(uow, workspace_id, segment_id, emails, uuid.uuid4())
        await uow.commit()


# --- the refresher ------------------------------------------------------------------------


async def refresh_due_segment(engine: AsyncEngine, interval: timedelta,
                              now: datetime | None = None) -> uuid.UUID | None:
    """Refresh one due segment, publishing its membership diff in the same transaction; its
    id, or None when none is due (or every due one is being refreshed elsewhere)."""
    now = now or _now()
    async with UnitOfWork(engine) as uow:
        due = await db.claim_due_segment(uow.conn, now, interval)
        if due is None:
            return None
        added, removed = await db.refresh_members(
            uow.conn, due.id, db.segment_where(stored_rule(due.rule), due.workspace_id, now), now)
        correlation_id = uuid.uuid4()
        publish_members_added(uow, due.workspace_id, due.id, added, correlation_id)
        publish_members_removed(uow, due.workspace_id, due.id, removed, correlation_id)
        await uow.commit()
    if added or removed:
        log.info("segments.refreshed", segment_id=str(due.id), added=len(added),
                 removed=len(removed))
    return uuid.UUID(str(due.id))


async def refresh_loop(engine: AsyncEngine, shutdown: Shutdown, *, interval: float,
                       poll: float) -> None:
    """Until the service stops: refresh every due segment, then look again after `poll`
    seconds (a changed segment is due at once; the others every `interval` seconds). A
    refresh in progress commits before the loop returns."""
    every = timedelta(seconds=interval)
    await claim_until_stopped(lambda: refresh_due_segment(engine, every), shutdown, poll=poll,
                              failed_event="segments.refresh_failed")
