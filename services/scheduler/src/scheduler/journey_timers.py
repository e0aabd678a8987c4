"""The timer loop's batch: due enrollments claimed (FOR UPDATE SKIP LOCKED, so replicas share
the work), walked by `journey_domain.advance`, moved on in one statement, and every step they
passed written to the outbox in the same transaction under an id derived from (enrollment,
step): a crash before the commit leaves the rows due and nothing emitted; after it, the relay
publishes what was committed, once."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

import structlog

from contracts import (
    Event,
    JourneyActionDue,
    JourneyGraph,
    JourneyStepDue,
    SendWindow,
    deterministic_id,
)
from contracts.journey_events import JourneyActionPayload, JourneyStepDuePayload
from contracts.journeys import ActionStep, EmailStep
from rules import journey_steps as rules
from scheduler import journey_domain as domain
from scheduler.db import facts as facts_db
from scheduler.db import journeys as db
from scheduler.journey_handlers import STEP_LAG, STEPS_EMITTED, graphs_for
from servicekit.db import UnitOfWork

log = structlog.get_logger(__name__)


def _after(first: datetime | None, last: datetime | None, since: datetime) -> datetime | None:
    """A fact's time during an enrollment entered at `since`: the first if it came after the
    entry, else the latest if that did."""
    if first is not None and first >= since:
        return first
    if last is not None and last >= since:
        return last
    return None


def facts_for(row: Any, graph: JourneyGraph, known: facts_db.FactRows
              ) -> tuple[domain.Contact, rules.Facts]:
    person, run = (row.workspace_id, row.email), (row.campaign_id, row.email)
    c = known.contacts.get(person)
    segments = frozenset(known.lists.get(person, set()))
    contact = domain.Contact(
        status=c.status if c else "subscribed", suppressed=bool(c.suppressed) if c else False,
        timezone=c.timezone if c else None, fields=dict(c.fields) if c else {},
        tags=frozenset(c.tags) if c else frozenset(), segments=segments)
    step_of = {s.sequence: s.id for s in graph.steps
               if isinstance(s, EmailStep) and s.sequence is not None}
    since = row.entered_at
    opened: dict[str, datetime] = {}
    clicked: dict[str, datetime] = {}
    for e in known.engagement.get(run, []):
        step = step_of.get(e.sequence)
        if step is None:
            continue
        if (t := _after(e.opened_at, e.last_opened_at, since)) is not None:
            opened[step] = t
        if (t := _after(e.clicked_at, e.last_clicked_at, since)) is not None:
            clicked[step] = t
    links: dict[tuple[str, str], datetime] = {}
    for link in known.links.get(run, []):
        step = step_of.get(link.sequence)
        t = _after(link.clicked_at, link.last_clicked_at, since)
        if step is not None and t is not None:
            links[(step, link.url)] = t
    events: dict[str, datetime] = {}
    for a in known.activity.get(person, []):
        if a.occurred_at >= since and (a.name not in events or a.occurred_at < events[a.name]):
            events[a.name] = a.occurred_at
    facts = rules.Facts(opened=opened, clicked=clicked, links=links, events=events,
                        tags=contact.tags, fields=contact.fields, segments=segments)
    return contact, facts


def _emitted(row: Any, graph: JourneyGraph, emit: domain.Emit) -> Event:
    # The payloads are built unvalidated (model_construct): every value is the scheduler's own
    # or was validated on its way in (the address by the trigger's event), and checking each
    # address again costs more than the rest of an enrollment's step.
    if emit.kind == "email":
        assert emit.sequence is not None
        assert emit.send_at is not None
        return JourneyStepDue.create(
            JourneyStepDuePayload.model_construct(campaign_id=row.campaign_id, version=row.version,
                                  enrollment_id=row.id, step_id=emit.step_id,
                                  sequence=emit.sequence, email=row.email,
                                  send_at=emit.send_at),
            workspace_id=row.workspace_id, correlation_id=row.correlation_id,
            event_id=deterministic_step_id("journey.step_due", row, emit.step_id))
    step = graph.step(emit.step_id)
    assert isinstance(step, ActionStep)
    return JourneyActionDue.create(
        JourneyActionPayload.model_construct(action=step.action, tag=step.tag, list_id=step.list_id,
                             campaign_id=row.campaign_id, enrollment_id=row.id,
                             step_id=step.id, email=row.email),
        workspace_id=row.workspace_id, correlation_id=row.correlation_id,
        event_id=deterministic_step_id("journey.action", row, emit.step_id))


def deterministic_step_id(kind: str, row: Any, step_id: str) -> uuid.UUID:
    """One id per (enrollment, step): the graph has no loops, so a step is reached once."""
    return deterministic_id(kind, row.id, step_id)


async def advance_due(uow: UnitOfWork, *, now: datetime, limit: int) -> int:
    """Claim up to `limit` due enrollments and advance them; returns how many were claimed.
    An enrollment whose graph cannot be walked is set aside (state `error`), not retried on
    every tick, and the batch goes on."""
    rows = await db.claim_due(uow.conn, now, limit)
    if not rows:
        return 0
    graphs = await graphs_for(uow, sorted({(r.campaign_id, r.version) for r in rows}))
    known = await facts_db.facts_of(uow.conn, rows)
    moves: list[db.Move] = []
    steps: list[dict[str, Any]] = []
    events: list[Event] = []
    for row in rows:
        STEP_LAG.observe(max(0.0, (now - row.due_at).total_seconds()))
        try:
            graph = graphs[(row.campaign_id, row.version)]
            contact, facts = facts_for(row, graph, known)
            window = SendWindow.model_validate(row.send_window) if row.send_window else None
            out = domain.advance(
                graph, domain.Enrollment(row.id, row.step_id, row.entered_at,
                                         row.step_entered_at),
                contact, facts, now=now, zone=row.zone, window=window)
            emitted = [_emitted(row, graph, e) for e in out.emits]
        except Exception as exc:  # one unreadable enrollment must not stop the batch
            reason = f"{type(exc).__name__}: {exc}"[:1000]
            log.error("scheduler.enrollment_unreadable", enrollment_id=str(row.id),
                      error=reason)
            moves.append(db.Move(row.id, row.step_id, row.step_entered_at, None, "error",
                                 now, reason))
            continue
        events.extend(emitted)
        steps.extend({"enrollment_id": row.id, "step_id": e.step_id, "kind": e.kind,
                      "at": now} for e in out.emits)
        if out.ended is not None:
            state = "done" if out.ended == "end" else "exited"
            moves.append(db.Move(row.id, out.step_id, out.step_entered_at, None, state, now,
                                 out.ended))
        else:
            moves.append(db.Move(row.id, out.step_id, out.step_entered_at, out.due_at,
                                 "waiting"))
    await db.move(uow.conn, moves)
    await db.record_steps(uow.conn, steps)
    uow.publish(*events)
    STEPS_EMITTED.inc(len(events))
    return len(rows)
