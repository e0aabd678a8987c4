"""Campaigns: create, read, list, update and the lifecycle actions."""

from __future__ import annotations

import base64
import binascii
import json
import uuid
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import pydantic
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from campaign_api import db
from campaign_api.db import AnyRow
from campaign_api.domain import (
    Action,
    can_edit,
    first_plan,
    next_status,
    plan_ahead,
    recipient,
    split_address,
    still_ahead,
)
from campaign_api.erasure import ErasureKey
from campaign_api.failures import Conflict, Invalid, NotFound
from campaign_api.journey_versions import highest_sequence, is_edit, numbered
from campaign_api.schemas import (
    CAMPAIGN_ONLY,
    CampaignCreate,
    CampaignDetail,
    CampaignEmail,
    CampaignPage,
    CampaignSummary,
    CampaignUpdate,
    DeliveryFailure,
    Progress,
)
from campaign_api.schemas_contacts import Audience
from campaign_api.usecases._contact_writes import (
    as_contacts,
    declared_for,
    put_on_campaign_list,
)
from campaign_api.usecases._targets import audience_of, checked_targets
from contracts import (
    CampaignCancelled,
    CampaignCreated,
    CampaignDefinition,
    CampaignPaused,
    CampaignResumed,
    CampaignUpdated,
    Event,
)
from contracts.campaigns import Schedule, SendWindow
from contracts.events import CampaignRef
from contracts.journeys import EmailStep, JourneyGraph
from rules.lifecycle import TransitionRefused
from rules.schedule import DEFAULT_SEND_TIME, campaign_start
from rules.weekdays import cadence_days
from servicekit.db import UnitOfWork

# Definition fields the API names differently.
_RENAMED = {"ai_agent_id": "model"}
_SCHEDULE_FIELDS = frozenset({"schedule_type", "weekly_emails", "weekly_days", "total_months",
                              "total_emails", "send_time", "timezone", "per_contact_time",
                              "send_time_optimization", "send_window"})
# Fields a definition may hold as null; for the others an explicit null means "unchanged".
_NULLABLE = frozenset({"weekly_emails", "total_months", "total_emails", "from_email", "reply_to",
                       "send_window", "ab_test"})


def _definition(body: CampaignCreate, now: datetime) -> CampaignDefinition:
    start, immediate = campaign_start(body.start_at, body.timezone, now)
    journey = numbered(body.journey) if body.journey is not None else None
    try:
        schedule = journey_schedule(journey, body.timezone, body.send_window, now) if journey \
            else Schedule(
            schedule_type=body.schedule_type or "daily", weekly_days=body.weekly_days,
            weekly_emails=body.weekly_emails, total_months=body.total_months,
            total_emails=body.total_emails, start_at=start, start_immediately=immediate,
            send_time=body.send_time or DEFAULT_SEND_TIME, timezone=body.timezone,
            per_contact_time=body.per_contact_time,
            send_time_optimization=body.send_time_optimization, send_window=body.send_window,
        )
    except pydantic.ValidationError as exc:
        raise Invalid.from_validation(exc, Schedule) from exc
    try:
        return CampaignDefinition(
            campaign_id=uuid.uuid4(), audience_id=uuid.uuid4(), name=body.name,
            description=body.description, brand_voice=body.brand_voice,
            audience_description=body.audience_description, model=body.ai_agent_id,
            fallback_models=body.fallback_models, from_name=body.from_name,
            from_email=body.from_email, reply_to=body.reply_to, schedule=schedule,
            ab_test=body.ab_test, kind=body.kind, journey=journey,
        )
    except pydantic.ValidationError as exc:
        raise Invalid.from_validation(exc, CampaignDefinition) from exc


async def create_campaign(
    engine: AsyncEngine, erasure: ErasureKey, workspace_id: uuid.UUID, body: CampaignCreate,
    *, now: datetime | None = None,
) -> CampaignDetail:
    definition = _definition(body, now or datetime.now(UTC))
    given = [recipient(address, name, {})
             for name, address in map(split_address, body.recipient_emails)]
    given += [recipient(str(r.email), r.name, dict(r.fields)) for r in body.recipients]
    typed = len(body.recipient_emails)
    correlation_id = uuid.uuid4()
    # A journey's emails go out per contact as they reach its steps: no plan of its own.
    planned, times = first_plan(definition.schedule) if definition.journey is None \
        else (None, [])
    async with UnitOfWork(engine) as uow:
        definition = definition.model_copy(update={
            "targets": await checked_targets(uow.conn, workspace_id, body.audience)})
        await db.insert_campaign(
            uow.conn, id=definition.campaign_id, workspace_id=workspace_id,
            audience_id=definition.audience_id, name=definition.name,
            definition=definition.model_dump(mode="json"), status="active",
            planned_emails=planned, next_sequence=1 if definition.journey is None else None,
            next_send_times=[t.isoformat() for t in times],
        )
        if definition.journey is not None:
            await _keep_version(uow.conn, workspace_id, definition.campaign_id,
                                definition.journey)
        await db.insert_campaign_list(uow.conn, audience_id=definition.audience_id,
                                      workspace_id=workspace_id,
                                      campaign_id=definition.campaign_id, name=definition.name)
        declared = await declared_for(uow, workspace_id, [k for r in given for k in r.fields])
        contacts = as_contacts(given, declared, lambda i: f"recipient_emails.{i}." if i < typed
                               else f"recipients.{i - typed}.")
        # Members first: the mailer reads both from one ordered stream. An address erased on
        # request is left out (and so not counted among the recipients).
        await put_on_campaign_list(uow, workspace_id, definition.audience_id, contacts,
                                   correlation_id, erasure=erasure)
        uow.publish(CampaignCreated.create(definition, workspace_id=workspace_id,
                                           correlation_id=correlation_id))
        detail = await _read_detail(uow.conn, workspace_id, definition.campaign_id)
        await uow.commit()
    return detail


async def get_campaign(
    engine: AsyncEngine, workspace_id: uuid.UUID, campaign_id: uuid.UUID
) -> CampaignDetail:
    async with engine.connect() as conn:
        return await _read_detail(conn, workspace_id, campaign_id)


async def list_emails(
    engine: AsyncEngine, workspace_id: uuid.UUID, campaign_id: uuid.UUID
) -> list[CampaignEmail]:
    async with engine.connect() as conn:
        await require_campaign(conn, workspace_id, campaign_id)
        return await _emails(conn, campaign_id)


async def _emails(conn: AsyncConnection, campaign_id: uuid.UUID) -> list[CampaignEmail]:
    rows = await db.campaign_emails_of(conn, campaign_id)
    last = await db.last_failures(conn, campaign_id) if any(e.failed for e in rows) else {}
    return [CampaignEmail.model_validate(e, from_attributes=True).model_copy(update={
        "last_failure": DeliveryFailure.model_validate(last[e.sequence], from_attributes=True)
        if e.sequence in last else None}) for e in rows]


async def list_campaigns(
    engine: AsyncEngine, workspace_id: uuid.UUID, *, limit: int = 50,
    cursor: str | None = None, statuses: list[str] | None = None, text: str | None = None,
    archived: bool = False,
) -> CampaignPage:
    before = decode_cursor(cursor) if cursor else None
    async with engine.connect() as conn:
        rows = await db.list_campaigns(conn, workspace_id, limit=limit + 1, before=before,
                                       statuses=statuses, text=text, archived=archived)
    items = [_summary(r) for r in rows[:limit]]
    last = rows[limit - 1] if len(rows) > limit else None
    return CampaignPage(items=items,
                        next_cursor=encode_cursor(last.created_at, last.id) if last else None)


async def update_campaign(
    engine: AsyncEngine, workspace_id: uuid.UUID, campaign_id: uuid.UUID,
    changes: CampaignUpdate,
) -> CampaignDetail:
    async with UnitOfWork(engine) as uow:
        row = await require_campaign(uow.conn, workspace_id, campaign_id, for_update=True)
        if not can_edit(row.status):
            raise Conflict(f"status: a {row.status} campaign cannot be changed")
        current = CampaignDefinition.model_validate(row.definition)
        campaign_only = sorted(changes.model_fields_set & CAMPAIGN_ONLY)
        if current.kind == "journey" and campaign_only:
            raise Invalid.field(campaign_only[0], "not for a journey (its schedule takes only "
                                "timezone and send_window)")
        updated = _merge(current, changes)
        if changes.journey is not None and current.journey is not None:
            if is_edit(current.journey, changes.journey):
                journey = numbered(changes.journey, current.journey, highest=(
                    await db.highest_journey_sequence(uow.conn, campaign_id)))
                await _keep_version(uow.conn, workspace_id, campaign_id, journey)
            else:
                journey = current.journey
            updated = updated.model_copy(update={"journey": journey})
        if "audience" in changes.model_fields_set:
            updated = updated.model_copy(update={"targets": await checked_targets(
                uow.conn, workspace_id, changes.audience)})
        if updated != current:
            await db.update_campaign(uow.conn, campaign_id, name=updated.name,
                                     definition=updated.model_dump(mode="json"))
            if updated.name != current.name:
                # Its own list is known by the campaign's name in the lists and profiles.
                await db.update_list(uow.conn, updated.audience_id, name=updated.name)
            uow.publish(CampaignUpdated.create(updated, workspace_id=workspace_id))
        detail = await _read_detail(uow.conn, workspace_id, campaign_id)
        await uow.commit()
    return detail


def journey_schedule(journey: JourneyGraph, timezone: str, window: SendWindow | None,
                     now: datetime) -> Schedule:
    """A journey's schedule: only its zone and send window mean anything (its emails follow
    the graph per contact); the rest is filled so that the definition is one schedule."""
    emails = sum(1 for s in journey.steps if isinstance(s, EmailStep))
    return Schedule(schedule_type="daily", total_emails=max(emails, 1), start_at=now,
                    timezone=timezone, send_window=window)


async def _keep_version(conn: AsyncConnection, workspace_id: uuid.UUID,
                        campaign_id: uuid.UUID, journey: JourneyGraph) -> None:
    await db.insert_journey_version(
        conn, campaign_id=campaign_id, workspace_id=workspace_id, version=journey.version,
        graph=journey.model_dump(mode="json"), highest_sequence=highest_sequence(journey))


def _merge(current: CampaignDefinition, changes: CampaignUpdate) -> CampaignDefinition:
    top = current.model_dump(mode="json")
    schedule = top["schedule"]
    for name in changes.model_fields_set:
        value = getattr(changes, name)
        if name == "audience" or (value is None and name not in _NULLABLE):
            continue
        encoded = pydantic.TypeAdapter(Any).dump_python(value, mode="json")
        target = schedule if name in _SCHEDULE_FIELDS else top
        target[_RENAMED.get(name, name)] = encoded
    try:
        return CampaignDefinition.model_validate(top)
    except pydantic.ValidationError as exc:
        raise Invalid.from_validation(exc, CampaignDefinition) from exc


_EVENTS: dict[Action, type[Event]] = {
    "pause": CampaignPaused, "resume": CampaignResumed, "cancel": CampaignCancelled,
}


async def change_status(
    engine: AsyncEngine, workspace_id: uuid.UUID, campaign_id: uuid.UUID, action: Action
) -> CampaignDetail:
    """Pause, resume, cancel or archive. Asking for the state a campaign is already in changes
    nothing and publishes nothing."""
    async with UnitOfWork(engine) as uow:
        row = await require_campaign(uow.conn, workspace_id, campaign_id, for_update=True)
        try:
            status = next_status(action, row.status)
        except TransitionRefused as exc:
            raise Conflict(str(exc)) from exc
        if action == "archive":
            if row.archived_at is None:
                await db.update_campaign(uow.conn, campaign_id, archived_at=datetime.now(UTC))
        elif status is not None:
            changes: dict[str, Any] = {"status": status}
            if action == "resume":
                # What the scheduler resumes with, shown until its new plan arrives.
                changes["next_send_times"] = [t.isoformat() for t in still_ahead(
                    [datetime.fromisoformat(t) for t in row.next_send_times],
                    datetime.now(UTC))]
            await db.update_campaign(uow.conn, campaign_id, **changes)
            event = _EVENTS[action]
            uow.publish(event.create(CampaignRef(campaign_id=campaign_id),
                                     workspace_id=workspace_id))
        detail = await _read_detail(uow.conn, workspace_id, campaign_id)
        await uow.commit()
    return detail


async def pause_campaign(engine: AsyncEngine, workspace_id: uuid.UUID,
                         campaign_id: uuid.UUID) -> CampaignDetail:
    return await change_status(engine, workspace_id, campaign_id, "pause")


async def resume_campaign(engine: AsyncEngine, workspace_id: uuid.UUID,
                          campaign_id: uuid.UUID) -> CampaignDetail:
    return await change_status(engine, workspace_id, campaign_id, "resume")


async def cancel_campaign(engine: AsyncEngine, workspace_id: uuid.UUID,
                          campaign_id: uuid.UUID) -> CampaignDetail:
    return await change_status(engine, workspace_id, campaign_id, "cancel")


async def archive_campaign(engine: AsyncEngine, workspace_id: uuid.UUID,
                           campaign_id: uuid.UUID) -> CampaignDetail:
    return await change_status(engine, workspace_id, campaign_id, "archive")


# --- reading -------------------------------------------------------------------------------


async def require_campaign(
    conn: AsyncConnection, workspace_id: uuid.UUID, campaign_id: uuid.UUID, *,
    for_update: bool = False,
) -> AnyRow:
    row = await db.get_campaign(conn, workspace_id, campaign_id, for_update=for_update)
    if row is None:
        raise NotFound(f"No campaign {campaign_id} in this workspace.")
    return row


async def _read_detail(
    conn: AsyncConnection, workspace_id: uuid.UUID, campaign_id: uuid.UUID
) -> CampaignDetail:
    row = await require_campaign(conn, workspace_id, campaign_id)
    audience = await audience_of(conn, workspace_id,
                                 CampaignDefinition.model_validate(row.definition).targets)
    return _detail(row, await _emails(conn, campaign_id), audience)


def encode_cursor(created_at: datetime, campaign_id: uuid.UUID) -> str:
    raw = json.dumps([created_at.isoformat(), str(campaign_id)])
    return base64.urlsafe_b64encode(raw.encode()).decode()


def decode_cursor(cursor: str) -> tuple[datetime, uuid.UUID]:
    try:
        moment, ident = json.loads(base64.urlsafe_b64decode(cursor.encode()))
        return datetime.fromisoformat(moment), uuid.UUID(ident)
    except (ValueError, TypeError, binascii.Error, UnicodeDecodeError) as exc:
        raise Invalid.field("cursor", "not a cursor this API returned") from exc


def _progress(row: AnyRow) -> Progress:
    return Progress(recipients=row.recipients, emails_planned=row.planned_emails,
                    emails_generated=row.emails_generated,
                    emails_failed=row.emails_failed, deliveries_sent=row.deliveries_sent,
                    deliveries_failed=row.deliveries_failed)


def _summary(row: AnyRow) -> CampaignSummary:
    d = row.definition
    return CampaignSummary(
        id=row.id, name=row.name, status=row.status, archived=row.archived_at is not None,
        schedule_type=d["schedule"]["schedule_type"], kind=d.get("kind", "campaign"),
        ai_agent_id=d["model"],
        progress=_progress(row), created_at=row.created_at, updated_at=row.updated_at,
    )


def _detail(row: AnyRow, emails: list[CampaignEmail], audience: Audience) -> CampaignDetail:
    d = CampaignDefinition.model_validate(row.definition)
    s = d.schedule
    next_sequence, ahead = plan_ahead(
        row.next_sequence, [datetime.fromisoformat(t) for t in row.next_send_times],
        datetime.now(UTC), active=row.status == "active")
    return CampaignDetail(
        **_summary(row).model_dump(),
        description=d.description, brand_voice=d.brand_voice,
        audience_description=d.audience_description, weekly_emails=s.weekly_emails,
        weekly_days=s.weekly_days,
        send_days=list(cadence_days(s.schedule_type, s.weekly_days, s.weekly_emails)),
        total_months=s.total_months, total_emails=s.total_emails,
        start_at=s.start_at, send_time=s.send_time, timezone=s.timezone,
        per_contact_time=s.per_contact_time,
        send_time_optimization=s.send_time_optimization, send_window=s.send_window,
        ab_test=d.ab_test, journey=d.journey,
        fallback_models=d.fallback_models, audience=audience, from_name=d.from_name,
        from_email=d.from_email, reply_to=d.reply_to,
        planned_total_emails=row.planned_emails, next_sequence=next_sequence,
        next_send_times=ahead,
        cost=sum((Decimal(e.cost) for e in emails), Decimal(0)),
        emails=emails,
    )
