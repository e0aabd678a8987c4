"""Use cases: campaign lifecycle events in; email.due, campaign.scheduled and
campaign.completed out, each from the unit of work that changed the schedule."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from typing import Any

import structlog
from opentelemetry.trace import SpanKind
from prometheus_client import Histogram

from contracts import (
    CampaignCancelled,
    CampaignCompleted,
    CampaignCreated,
    CampaignPaused,
    CampaignResumed,
    CampaignScheduled,
    CampaignUpdated,
    ContactErased,
    EmailDue,
    Event,
    Schedule,
    deterministic_id,
)
from contracts.events import CampaignCompletedPayload, CampaignScheduledPayload, EmailDuePayload
from rules.cadence import (
    Rule,
    first_slot_from,
    slot_from,
    slot_time,
    total_emails,
    upcoming,
)
from rules.lifecycle import Status, follow, is_running
from scheduler import db, journey_handlers
from scheduler.db import journeys as journeys_db
from scheduler.domain import PLAN_WINDOW, advance, due_time, needs_new_plan
from servicekit.db import UnitOfWork
from servicekit.erasure import erase_address
from servicekit.tracing import current_trace_headers, span_from_headers

log = structlog.get_logger(__name__)

Clock = Callable[[], datetime]
State = Status

DUE_LAG = Histogram(
    "scheduler_due_lag_seconds", "How late an email.due was emitted after its due time",
    buckets=(0.1, 0.5, 1, 2, 5, 10, 30, 60, 300, 900, 3600),
)


def utc_now() -> datetime:
    return datetime.now(UTC)


def _next_fields(
    slot: int, at: datetime | None, lead: timedelta, schedule: Schedule
) -> dict[str, Any]:
    return {"next_slot": slot, "next_send_at": at,
            "due_at": due_time(schedule, at, lead) if at else None}


@dataclass(frozen=True)
class Plan:
    """A schedule as campaign.scheduled shows it."""

    campaign_id: uuid.UUID
    workspace_id: uuid.UUID
    correlation_id: uuid.UUID
    state: State
    total_emails: int
    next_sequence: int
    next_slot: int
    send_times: list[datetime]  # the next ones; empty unless active

    @property
    def planned_until(self) -> int:
        """The slot of the last send time this plan shows; -1 when it shows none."""
        return self.next_slot + len(self.send_times) - 1 if self.send_times else -1


def _scheduled(plan: Plan, cause: object) -> CampaignScheduled:
    """The event id names what caused the change and what it changed to: a redelivered cause
    dedupes, while a real change (even back to an earlier state: pause, resume, pause) does not.
    """
    first = plan.send_times[0].isoformat() if plan.send_times else ""
    return CampaignScheduled.create(
        CampaignScheduledPayload(
            campaign_id=plan.campaign_id, state=plan.state, total_emails=plan.total_emails,
            next_sequence=plan.next_sequence, next_send_times=plan.send_times,
        ),
        workspace_id=plan.workspace_id,
        correlation_id=plan.correlation_id,
        event_id=deterministic_id("campaign.scheduled", plan.campaign_id, cause, plan.state,
                                  plan.next_sequence, plan.next_slot, plan.total_emails, first),
    )


def _plan_of(row: db.ScheduleRow, *, state: State, total: int, slot: int,
             at: datetime | None, rule: Rule | None) -> Plan:
    remaining = min(total - row.next_sequence + 1, PLAN_WINDOW)
    times = (upcoming(rule, at, slot, remaining)
             if state == "active" and at is not None and rule is not None and remaining > 0
             else [])
    return Plan(row.campaign_id, row.workspace_id, row.correlation_id, state, total,
                row.next_sequence, slot, times)


async def on_created(event: CampaignCreated, uow: UnitOfWork, *, lead: timedelta) -> None:
    if event.payload.kind == "journey":  # a sequence per contact, no campaign-wide schedule
        await journey_handlers.on_saved(event, uow)
        return
    schedule = event.payload.schedule
    rule = Rule.from_schedule(schedule)
    first = slot_time(rule, 0)
    total = total_emails(rule)
    state: State = "active" if first else "completed"
    times = upcoming(rule, first, 0, min(total, PLAN_WINDOW)) if first else []
    plan = Plan(event.payload.campaign_id, event.workspace_id, event.correlation_id, state,
                total, 1, 0, times)
    created = await db.insert_schedule(
        uow.conn,
        campaign_id=event.payload.campaign_id,
        workspace_id=event.workspace_id,
        correlation_id=event.correlation_id,
        schedule=schedule.model_dump(mode="json"),
        state=state,
        total_emails=total,
        next_sequence=1,
        planned_until=plan.planned_until,
        # Taken in the handler's span: the emails due later continue the campaign's trace.
        trace_headers=current_trace_headers() or None,
        **_next_fields(0, first, lead, schedule),
    )
    if created:
        uow.publish(_scheduled(plan, event.event_id))


async def on_paused(event: CampaignPaused, uow: UnitOfWork) -> None:
    await journey_handlers.set_lifecycle(uow, event.payload.campaign_id, "paused")
    row = await db.get_for_update(uow.conn, event.payload.campaign_id)
    if row and follow(row.state, "pause") == "paused":
        await db.update_schedule(uow.conn, row.campaign_id, state="paused", due_at=None,
                                 planned_until=-1)
        uow.publish(_scheduled(_plan_of(row, state="paused", total=row.total_emails,
                                        slot=row.next_slot, at=None, rule=None), event.event_id))


async def on_cancelled(event: CampaignCancelled, uow: UnitOfWork) -> None:
    await journey_handlers.set_lifecycle(uow, event.payload.campaign_id, "cancelled")
    row = await db.get_for_update(uow.conn, event.payload.campaign_id)
    # A completed schedule has nothing left to stop: its last email.due went out already.
    if row and is_running(row.state):
        await db.update_schedule(
            uow.conn, row.campaign_id, state="cancelled", due_at=None, next_send_at=None,
            planned_until=-1,
        )
        uow.publish(_scheduled(_plan_of(row, state="cancelled", total=row.total_emails,
                                        slot=row.next_slot, at=None, rule=None), event.event_id))


async def on_resumed(
    event: CampaignResumed, uow: UnitOfWork, *, lead: timedelta, clock: Clock = utc_now
) -> None:
    """Slots that passed during the pause are dropped; numbering goes on without a gap."""
    await journey_handlers.set_lifecycle(uow, event.payload.campaign_id, "active")
    row = await db.get_for_update(uow.conn, event.payload.campaign_id)
    if row is None or follow(row.state, "resume") != "active":
        return
    schedule = Schedule.model_validate(row.schedule)
    rule = Rule.from_schedule(schedule)
    now = clock()
    if row.next_send_at is not None:
        found = slot_from(rule, now, row.next_slot, row.next_send_at)
    else:
        found = first_slot_from(rule, now, min_index=row.next_slot)
    await _reschedule(uow, row, schedule, found, lead, state="active", total=row.total_emails,
                      cause=event.event_id)


async def on_updated(
    event: CampaignUpdated, uow: UnitOfWork, *, lead: timedelta, clock: Clock = utc_now
) -> None:
    if event.payload.kind == "journey":
        await journey_handlers.on_saved(event, uow, clock=clock)
        return
    row = await db.get_for_update(uow.conn, event.payload.campaign_id)
    if row is None or not is_running(row.state):
        return
    schedule = event.payload.schedule
    rule = Rule.from_schedule(schedule)
    total = total_emails(rule)
    await db.update_schedule(uow.conn, row.campaign_id,
                             schedule=schedule.model_dump(mode="json"), total_emails=total)
    # Slot numbers of the old rule mean nothing under the new one: continue from now.
    found = first_slot_from(rule, clock())
    state: State = "active" if row.state == "active" else "paused"
    await _reschedule(uow, row, schedule, found, lead, state=state, total=total,
                      cause=event.event_id)


async def _reschedule(
    uow: UnitOfWork, row: db.ScheduleRow, schedule: Schedule,
    found: tuple[int, datetime] | None, lead: timedelta, *, state: State, total: int,
    cause: uuid.UUID,
) -> None:
    if found is None or row.next_sequence > total:
        await _complete(uow, row, cause=cause, total=total)
        return
    slot, at = found
    fields = _next_fields(slot, at, lead, schedule)
    if state != "active":
        fields["due_at"] = None
    plan = _plan_of(row, state=state, total=total, slot=slot, at=at,
                    rule=Rule.from_schedule(schedule))
    await db.update_schedule(uow.conn, row.campaign_id, state=state,
                             planned_until=plan.planned_until, **fields)
    uow.publish(_scheduled(plan, cause))


async def _complete(uow: UnitOfWork, row: db.ScheduleRow, *, cause: object, total: int) -> None:
    await db.update_schedule(
        uow.conn, row.campaign_id, state="completed", due_at=None, next_send_at=None,
        planned_until=-1,
    )
    uow.publish(
        _scheduled(_plan_of(row, state="completed", total=total, slot=row.next_slot, at=None,
                            rule=None), cause),
        _completed(row, row.next_sequence - 1),
    )


def _completed(row: db.ScheduleRow, sent: int) -> CampaignCompleted:
    return CampaignCompleted.create(
        CampaignCompletedPayload(campaign_id=row.campaign_id, total_emails=sent),
        workspace_id=row.workspace_id,
        correlation_id=row.correlation_id,
        event_id=deterministic_id("campaign.completed", row.campaign_id),
    )


async def on_contact_erased(event: ContactErased, uow: UnitOfWork) -> None:
    """Forget an erased person: their journeys' enrollments and facts (the only tables of the
    scheduler with addresses; schedules and skipped_sends hold none, see its migrations), and
    the messaging tables' events it relayed or parked."""
    await journeys_db.erase_contact(uow.conn, event.workspace_id, event.payload.email)
    await erase_address(uow.conn, event.payload.email)


SKIP_REASON = "missed by more than the catch-up window"


async def emit_due(
    uow: UnitOfWork, *, now: datetime, lead: timedelta, catch_up: timedelta, limit: int
) -> int:
    """Claim due schedules and emit their email; returns how many schedules were handled.

    The rules run for every claimed row first, and the writes of the whole batch follow in a
    few statements. A row whose stored schedule cannot be read is moved aside (state `error`,
    no longer due) instead of failing the batch, which would otherwise fail on every tick.
    A new plan (campaign.scheduled) goes out only when the last one runs short, a slot was
    skipped or the campaign completes: most emails cost one event, not two.
    """
    rows = await db.claim_due(uow.conn, now, limit)
    moves: list[db.Moved] = []
    skipped: list[db.Skipped] = []
    dues: list[Event] = []
    others: list[Event] = []
    for row in rows:
        try:
            if row.next_send_at is None:
                raise ValueError("due without a send time")
            schedule = Schedule.model_validate(row.schedule)
            rule = Rule.from_schedule(schedule)
            step = advance(rule, sequence=row.next_sequence, slot=row.next_slot,
                           send_at=row.next_send_at, total=row.total_emails, now=now,
                           catch_up_window=catch_up)
        except Exception as exc:  # any fault of one stored row; the batch goes on
            reason = f"{type(exc).__name__}: {exc}"[:1000]
            log.error("scheduler.schedule_unreadable", campaign_id=str(row.campaign_id),
                      error=reason)
            moves.append(db.Moved(row.campaign_id, row.next_sequence, row.next_slot,
                                  row.next_send_at, None, "error", row.planned_until, reason))
            continue
        if step.emitted:
            due = due_time(schedule, row.next_send_at, lead)
            DUE_LAG.observe(max(0.0, (now - due).total_seconds()))
            if row.trace_headers:
                # Published inside the span, so its outbox row carries the campaign's trace.
                with span_from_headers(
                    "schedule email", row.trace_headers, kind=SpanKind.INTERNAL,
                    attributes={"campaign.id": str(row.campaign_id),
                                "email.sequence": str(row.next_sequence)},
                ):
                    uow.publish(_due(row))
            else:
                dues.append(_due(row))
        else:
            skipped.append(db.Skipped(row.campaign_id, row.next_slot, row.next_send_at,
                                      SKIP_REASON))
        at = step.next_send_at
        state: State = "completed" if at is None else "active"
        moved = replace(row, next_sequence=step.next_sequence)
        planned_until = row.planned_until
        if at is None or not step.emitted or needs_new_plan(
                next_slot=step.next_slot, planned_until=planned_until,
                emails_left=row.total_emails - step.next_sequence + 1):
            plan = _plan_of(moved, state=state, total=row.total_emails, slot=step.next_slot,
                            at=at, rule=rule)
            planned_until = plan.planned_until
            # The handled slot is the cause: one change per slot, whatever the clock says.
            others.append(_scheduled(plan, f"slot:{row.next_slot}:{row.next_send_at.isoformat()}"))
        if at is None:
            others.append(_completed(moved, step.next_sequence - 1))
        moves.append(db.Moved(row.campaign_id, step.next_sequence, step.next_slot, at,
                              due_time(schedule, at, lead) if at else None, state,
                              planned_until))
    await db.move_on(uow.conn, moves)
    await db.record_skipped(uow.conn, skipped)
    # Emails first (traced ones were queued above): the relay publishes in outbox order, and
    # they are what is waited for.
    uow.publish(*dues, *others)
    return len(rows)


def _due(row: db.ScheduleRow) -> EmailDue:
    assert row.next_send_at is not None
    return EmailDue.create(
        EmailDuePayload(campaign_id=row.campaign_id, sequence=row.next_sequence,
                        total=row.total_emails, send_at=row.next_send_at),
        workspace_id=row.workspace_id,
        correlation_id=row.correlation_id,
        event_id=deterministic_id("email.due", row.campaign_id, row.next_sequence),
    )
