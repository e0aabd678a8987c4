"""Use cases: campaign lifecycle events in, email.due and campaign.completed out."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from contracts import (
    CampaignCancelled,
    CampaignCompleted,
    CampaignCreated,
    CampaignPaused,
    CampaignResumed,
    CampaignUpdated,
    EmailDue,
    Schedule,
    deterministic_id,
)
from contracts.events import CampaignCompletedPayload, EmailDuePayload
from scheduler import db
from scheduler.domain import Rule, first_slot_from, on_due, slot_time, total_emails
from servicekit.db import UnitOfWork


def _next_fields(slot: int, at: datetime | None, lead: timedelta) -> dict[str, Any]:
    return {"next_slot": slot, "next_send_at": at, "due_at": at - lead if at else None}


async def on_created(event: CampaignCreated, uow: UnitOfWork, *, lead: timedelta) -> None:
    schedule = event.payload.schedule
    rule = Rule.from_schedule(schedule)
    first = slot_time(rule, 0)
    await db.insert_schedule(
        uow.conn,
        campaign_id=event.payload.campaign_id,
        workspace_id=event.workspace_id,
        correlation_id=event.correlation_id,
        schedule=schedule.model_dump(mode="json"),
        state="active" if first else "completed",
        total_emails=total_emails(rule),
        next_sequence=1,
        **_next_fields(0, first, lead),
    )


async def on_paused(event: CampaignPaused, uow: UnitOfWork) -> None:
    row = await db.get_for_update(uow.conn, event.payload.campaign_id)
    if row and row.state == "active":
        await db.update_schedule(uow.conn, row.campaign_id, state="paused", due_at=None)


async def on_cancelled(event: CampaignCancelled, uow: UnitOfWork) -> None:
    row = await db.get_for_update(uow.conn, event.payload.campaign_id)
    if row and row.state in ("active", "paused"):
        await db.update_schedule(
            uow.conn, row.campaign_id, state="cancelled", due_at=None, next_send_at=None
        )


async def on_resumed(event: CampaignResumed, uow: UnitOfWork, *, lead: timedelta) -> None:
    """Slots that passed during the pause are dropped; numbering goes on without a gap."""
    row = await db.get_for_update(uow.conn, event.payload.campaign_id)
    if row is None or row.state != "paused":
        return
    rule = Rule.from_schedule(Schedule.model_validate(row.schedule))
    await _reschedule(uow, row, rule, lead, state="active", min_slot=row.next_slot)


async def on_updated(event: CampaignUpdated, uow: UnitOfWork, *, lead: timedelta) -> None:
    row = await db.get_for_update(uow.conn, event.payload.campaign_id)
    if row is None or row.state in ("cancelled", "completed"):
        return
    schedule = event.payload.schedule
    rule = Rule.from_schedule(schedule)
    await db.update_schedule(
        uow.conn, row.campaign_id, schedule=schedule.model_dump(mode="json"),
        total_emails=total_emails(rule),
    )
    # Slot numbers of the old rule mean nothing under the new one: continue from now.
    await _reschedule(uow, row, rule, lead, state=row.state, min_slot=0)


async def _reschedule(
    uow: UnitOfWork, row: db.ScheduleRow, rule: Rule, lead: timedelta, *, state: str,
    min_slot: int,
) -> None:
    now = datetime.now(UTC)
    found = first_slot_from(rule, now, min_index=min_slot)
    if found is None or (rule.total_emails and row.next_sequence > rule.total_emails):
        await _complete(uow, row)
        return
    slot, at = found
    fields = _next_fields(slot, at, lead)
    if state != "active":
        fields["due_at"] = None
    await db.update_schedule(uow.conn, row.campaign_id, state=state, **fields)


async def _complete(uow: UnitOfWork, row: db.ScheduleRow) -> None:
    await db.update_schedule(
        uow.conn, row.campaign_id, state="completed", due_at=None, next_send_at=None
    )
    uow.publish(
        CampaignCompleted.create(
            CampaignCompletedPayload(campaign_id=row.campaign_id,
                                     total_emails=row.next_sequence - 1),
            workspace_id=row.workspace_id,
            correlation_id=row.correlation_id,
            event_id=deterministic_id("campaign.completed", row.campaign_id),
        )
    )


async def emit_due(
    uow: UnitOfWork, *, now: datetime, lead: timedelta, catch_up: timedelta, limit: int
) -> int:
    """Claim due schedules and emit their email; returns how many schedules were handled."""
    rows = await db.claim_due(uow.conn, now, limit)
    for row in rows:
        await _advance(uow, row, now=now, lead=lead, catch_up=catch_up)
    return len(rows)


async def _advance(
    uow: UnitOfWork, row: db.ScheduleRow, *, now: datetime, lead: timedelta, catch_up: timedelta
) -> None:
    assert row.next_send_at is not None
    rule = Rule.from_schedule(Schedule.model_validate(row.schedule))
    sequence = row.next_sequence
    decision = on_due(row.next_send_at, now, catch_up)
    if decision.emit:
        uow.publish(
            EmailDue.create(
                EmailDuePayload(campaign_id=row.campaign_id, sequence=sequence,
                                total=row.total_emails, send_at=row.next_send_at),
                workspace_id=row.workspace_id,
                correlation_id=row.correlation_id,
                event_id=deterministic_id("email.due", row.campaign_id, sequence),
            )
        )
        sequence += 1
    else:
        await db.record_skipped(uow.conn, row.campaign_id, row.next_slot, row.next_send_at,
                                "missed by more than the catch-up window")
    slot = row.next_slot + 1
    at = slot_time(rule, slot)
    done = at is None or sequence > row.total_emails
    advanced = db.ScheduleRow(**{**row.__dict__, "next_sequence": sequence, "next_slot": slot})
    if done:
        await db.update_schedule(uow.conn, row.campaign_id, next_sequence=sequence, next_slot=slot)
        await _complete(uow, advanced)
    else:
        await db.update_schedule(uow.conn, row.campaign_id, next_sequence=sequence,
                                 **_next_fields(slot, at, lead))
