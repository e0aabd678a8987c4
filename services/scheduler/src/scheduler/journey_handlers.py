"""Journeys' use cases: a journey saved, paused, resumed or cancelled; contacts entering on
its trigger; the facts its branches and goals ask about; and the timer loop's batch, which
advances due enrollments and writes what they emit in the same transaction."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

import structlog
from prometheus_client import Counter, Histogram

from contracts import (
    ActivityRecorded,
    CampaignCreated,
    CampaignUpdated,
    ContactsChanged,
    ContactsDeleted,
    EmailClicked,
    EmailDue,
    EmailOpened,
    JourneyGraph,
    ListMembersAdded,
    ListMembersRemoved,
    RecipientUnsubscribed,
    SuppressionAdded,
    SuppressionRemoved,
    deterministic_id,
)
from contracts.events import EmailDuePayload
from contracts.journeys import (
    DateFieldComes,
    EmailStep,
    EventReceived,
    ListJoined,
    SegmentEntered,
    SignupConfirmed,
)
from rules import journey_steps as rules
from scheduler.db import facts as facts_db
from scheduler.db import journeys as db
from servicekit.db import UnitOfWork

log = structlog.get_logger(__name__)

Clock = Callable[[], datetime]
SIGNUP = "signup.confirmed"

STEPS_EMITTED = Counter("scheduler_journey_steps_emitted_total",
                        "Journey steps emitted (journey.step_due and journey.action)")
STEP_LAG = Histogram(
    "scheduler_journey_lag_seconds", "How late an enrollment was advanced after its due time",
    buckets=(0.1, 0.5, 1, 2, 5, 10, 30, 60, 300, 900, 3600),
)


def utc_now() -> datetime:
    return datetime.now(UTC)


def trigger_of(graph: JourneyGraph) -> tuple[str, str | None]:
    """The (type, key) a journey's trigger is looked up by."""
    t = graph.trigger
    if isinstance(t, ListJoined):
        return "list", str(t.list_id)
    if isinstance(t, SegmentEntered):  # segment entries arrive as list.members.added
        return "list", str(t.segment_id)
    if isinstance(t, SignupConfirmed):
        return "signup", str(t.form_id) if t.form_id else None
    if isinstance(t, EventReceived):
        return "event", t.name
    assert isinstance(t, DateFieldComes)
    return "date", t.field


# --- the journey's lifecycle ------------------------------------------------------------------


async def on_saved(event: CampaignCreated | CampaignUpdated, uow: UnitOfWork, *,
                   clock: Clock = utc_now) -> None:
    """A journey created or edited: its new version is the one new entries take (enrollments
    carry on with the version they entered with), and the content of each email step not
    asked for before is asked for now, ahead of the first contact reaching it."""
    definition = event.payload
    graph = definition.journey
    if graph is None:
        log.warning("scheduler.journey_without_graph", campaign_id=str(definition.campaign_id))
        return
    existing = await db.get_journey(uow.conn, definition.campaign_id)
    if existing is not None and (existing.state == "cancelled" or existing.version > graph.version):
        return  # an old version redelivered, or a journey that has ended
    trigger_type, trigger_key = trigger_of(graph)
    window = definition.schedule.send_window
    await db.save_journey(
        uow.conn, graph=graph.model_dump(mode="json", by_alias=True),
        campaign_id=definition.campaign_id, workspace_id=event.workspace_id,
        correlation_id=event.correlation_id,
        state=existing.state if existing is not None else "active", version=graph.version,
        trigger_type=trigger_type, trigger_key=trigger_key,
        zone=definition.schedule.timezone,
        send_window=window.model_dump(mode="json") if window else None,
    )
    steps = [(s.sequence, s.id) for s in graph.steps
             if isinstance(s, EmailStep) and s.sequence is not None]
    now = clock()
    for sequence in await db.new_contents(uow.conn, definition.campaign_id, steps):
        uow.publish(EmailDue.create(
            EmailDuePayload(campaign_id=definition.campaign_id, sequence=sequence, total=None,
                            send_at=now),
            workspace_id=event.workspace_id, correlation_id=event.correlation_id,
            event_id=deterministic_id("email.due", definition.campaign_id, sequence),
        ))


async def set_lifecycle(uow: UnitOfWork, campaign_id: uuid.UUID, state: str, *,
                        clock: Clock = utc_now) -> None:
    """A paused journey holds its enrollments where they are; a resumed one goes on (what
    fell due meanwhile at once); a cancelled one ends them all."""
    row = await db.get_journey(uow.conn, campaign_id)
    if row is None or row.state == "cancelled" or row.state == state:
        return
    await db.set_state(uow.conn, campaign_id, state)
    if state == "cancelled":
        await db.end_enrollments(uow.conn, clock(), "cancelled", campaign_id=campaign_id)


# --- entering -------------------------------------------------------------------------------


_GRAPHS: dict[tuple[uuid.UUID, int], JourneyGraph] = {}


async def graphs_for(uow: UnitOfWork, keys: Sequence[tuple[uuid.UUID, int]]
                     ) -> dict[tuple[uuid.UUID, int], JourneyGraph]:
    """Graphs by (journey, version); a version never changes once saved, so they are kept."""
    missing = [k for k in keys if k not in _GRAPHS]
    if missing:
        if len(_GRAPHS) > 10_000:
            _GRAPHS.clear()
        for key, graph in (await db.graphs(uow.conn, missing)).items():
            _GRAPHS[key] = JourneyGraph.model_validate(graph)
    return {k: _GRAPHS[k] for k in keys if k in _GRAPHS}


async def enroll(uow: UnitOfWork, journey: Any, emails: Sequence[str], now: datetime,
                 *, fields: dict[str, dict[str, str]] | None = None,
                 zones: dict[str, str | None] | None = None) -> int:
    """Enter each contact the journey's re-entry policy lets in; each entry is due at once
    (the timer loop walks its first steps), a date trigger's at its date."""
    graph = (await graphs_for(uow, [(journey.campaign_id, journey.version)])).get(
        (journey.campaign_id, journey.version))
    if graph is None:
        return 0
    last = await db.last_entries(uow.conn, journey.campaign_id, emails)
    gap = timedelta(seconds=graph.reentry.min_gap_seconds)
    rows = []
    for email in dict.fromkeys(emails):
        before = last.get(email)
        if not rules.may_enter(graph.reentry.policy, gap, now=now,
                               last_entered_at=before.entered_at if before else None,
                               last_exited_at=before.ended_at if before else None,
                               active=before.active if before else False):
            continue
        entry = before.entry + 1 if before else 1
        at, state = now, "active"
        trigger = graph.trigger
        if isinstance(trigger, DateFieldComes):
            value = rules.field_date((fields or {}).get(email, {}).get(trigger.field))
            if value is None:
                continue
            at = rules.date_field_due(now, value, trigger.offset_days, trigger.at,
                                      (zones or {}).get(email), journey.zone, yearly=True)
            state = "waiting"
        rows.append({
            "id": deterministic_id("enrollment", journey.campaign_id, email, entry),
            "campaign_id": journey.campaign_id, "workspace_id": journey.workspace_id,
            "email": email, "entry": entry, "version": journey.version,
            "step_id": graph.start, "state": state, "due_at": at, "entered_at": at,
            "step_entered_at": at,
        })
    return await db.enroll(uow.conn, rows)


async def _enroll_all(uow: UnitOfWork, workspace_id: uuid.UUID, trigger_type: str,
                      keys: Sequence[str | None], emails: Sequence[str], now: datetime) -> None:
    for journey in await db.triggered(uow.conn, workspace_id, trigger_type, keys):
        await enroll(uow, journey, emails, now)


async def on_members_added(event: ListMembersAdded, uow: UnitOfWork, *,
                           clock: Clock = utc_now) -> None:
    p, now = event.payload, clock()
    emails = [str(e) for e in p.emails]
    await facts_db.add_members(uow.conn, event.workspace_id, p.list_id, emails)
    await _enroll_all(uow, event.workspace_id, "list", [str(p.list_id)], emails, now)
    # Segment goals and conditions may be waiting for this.
    await db.wake(uow.conn, event.workspace_id, emails, now)


async def on_members_removed(event: ListMembersRemoved, uow: UnitOfWork) -> None:
    p = event.payload
    await facts_db.remove_members(uow.conn, event.workspace_id, p.list_id,
                                  [str(e) for e in p.emails])


async def on_activity(event: ActivityRecorded, uow: UnitOfWork, *,
                      clock: Clock = utc_now) -> None:
    p, now = event.payload, clock()
    email = str(p.email)
    await facts_db.record_activity(uow.conn, event_id=p.event_id, workspace_id=event.workspace_id,
                             email=email, name=p.name, occurred_at=p.occurred_at)
    await _enroll_all(uow, event.workspace_id, "event", [p.name], [email], now)
    if p.name == SIGNUP:
        form = p.properties.get("form_id")
        await _enroll_all(uow, event.workspace_id, "signup",
                          [str(form) if form is not None else None, None], [email], now)
    await db.wake(uow.conn, event.workspace_id, [email], now)


# --- facts ----------------------------------------------------------------------------------


async def on_opened(event: EmailOpened, uow: UnitOfWork, *, clock: Clock = utc_now) -> None:
    p = event.payload
    if p.human is not True:  # branches count people only
        return
    await facts_db.record_engagement(uow.conn, campaign_id=p.campaign_id, email=str(p.recipient),
                               sequence=p.sequence, at=event.occurred_at, clicked=False)
    await db.wake(uow.conn, event.workspace_id, [str(p.recipient)], clock(), p.campaign_id)


async def on_clicked(event: EmailClicked, uow: UnitOfWork, *, clock: Clock = utc_now) -> None:
    p = event.payload
    if p.human is not True:
        return
    email = str(p.recipient)
    await facts_db.record_engagement(uow.conn, campaign_id=p.campaign_id, email=email,
                               sequence=p.sequence, at=event.occurred_at, clicked=True)
    await facts_db.record_link(uow.conn, campaign_id=p.campaign_id, email=email,
                         sequence=p.sequence, url=p.url, at=event.occurred_at)
    await db.wake(uow.conn, event.workspace_id, [email], clock(), p.campaign_id)


async def on_contacts_changed(event: ContactsChanged, uow: UnitOfWork, *,
                              clock: Clock = utc_now) -> None:
    now = clock()
    contacts = event.payload.contacts
    await facts_db.upsert_contacts(uow.conn, [{
        "workspace_id": event.workspace_id, "email": str(c.email), "status": c.status,
        "timezone": c.timezone, "fields": dict(c.fields),
        "tags": sorted(c.tags), "changed_at": c.changed_at,
    } for c in contacts])
    leaving = [str(c.email) for c in contacts
               if rules.must_exit(c.status, suppressed=False)]
    if leaving:
        await db.end_enrollments(uow.conn, now, "unsubscribed",
                                 workspace_id=event.workspace_id, emails=leaving)
    fields = {str(c.email): dict(c.fields) for c in contacts}
    zones = {str(c.email): c.timezone for c in contacts}
    keys = sorted({k for f in fields.values() for k in f})
    for journey in await db.triggered(uow.conn, event.workspace_id, "date", keys):
        having = [e for e, f in fields.items() if journey.trigger_key in f and e not in leaving]
        if having:
            await enroll(uow, journey, having, now, fields=fields, zones=zones)


async def on_contacts_deleted(event: ContactsDeleted, uow: UnitOfWork, *,
                              clock: Clock = utc_now) -> None:
    await db.end_enrollments(uow.conn, clock(), "removed", workspace_id=event.workspace_id,
                             emails=[str(e) for e in event.payload.emails])


async def on_suppressed(event: SuppressionAdded, uow: UnitOfWork, *,
                        clock: Clock = utc_now) -> None:
    emails = [str(e) for e in event.payload.emails]
    await facts_db.set_suppressed(uow.conn, event.workspace_id, emails, True)
    await db.end_enrollments(uow.conn, clock(), "suppressed", workspace_id=event.workspace_id,
                             emails=emails)


async def on_unsuppressed(event: SuppressionRemoved, uow: UnitOfWork) -> None:
    await facts_db.set_suppressed(uow.conn, event.workspace_id,
                            [str(e) for e in event.payload.emails], False)


async def on_unsubscribed(event: RecipientUnsubscribed, uow: UnitOfWork, *,
                          clock: Clock = utc_now) -> None:
    email = str(event.payload.email)
    await facts_db.set_status(uow.conn, event.workspace_id, email, "unsubscribed")
    await db.end_enrollments(uow.conn, clock(), "unsubscribed",
                             workspace_id=event.workspace_id, emails=[email])
