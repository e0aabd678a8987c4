"""Events a workspace's systems report about its contacts (POST /api/events), and confirmed
sign-ups, published as activity.recorded for the journeys they start and steer."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

import pydantic
from sqlalchemy.ext.asyncio import AsyncEngine

from campaign_api import db
from campaign_api.activity_rules import derived_event_id, envelope_id
from campaign_api.contacts_domain import InvalidContact, contact
from campaign_api.erasure import ErasureKey
from campaign_api.failures import Invalid
from campaign_api.schemas_events import EventAccepted, EventIn
from campaign_api.usecases._contact_writes import upsert_batch
from contracts.journey_events import ActivityPayload, ActivityRecorded, PropertyValue
from servicekit.db import UnitOfWork

SIGNUP_CONFIRMED = "signup.confirmed"


def _payload(event_id: uuid.UUID, email: str, name: str,
             properties: dict[str, PropertyValue], now: datetime) -> ActivityPayload:
    try:
        return ActivityPayload(event_id=event_id, email=email, name=name,
                               properties=properties, occurred_at=now)
    except pydantic.ValidationError as exc:
        raise Invalid.from_validation(exc, ActivityPayload) from exc


async def record_event(engine: AsyncEngine, erasure: ErasureKey, workspace_id: uuid.UUID,
                       body: EventIn) -> EventAccepted:
    """Record the event once per id and publish it; the contact is created when new (as
    Klaviyo and Customer.io create the profile an event names)."""
    try:
        given = contact(str(body.contact), {})
    except InvalidContact as exc:
        raise Invalid.field("contact", exc.reason) from exc
    email = given.email
    event_id = body.event_id or derived_event_id(email, body.name, body.properties)
    payload = _payload(event_id, email, body.name, dict(body.properties), datetime.now(UTC))
    async with UnitOfWork(engine) as uow:
        correlation_id = uuid.uuid4()
        done = await upsert_batch(uow, workspace_id, [given], erasure=erasure, source="event",
                                  correlation_id=correlation_id, update_existing=False)
        if done.erased:
            raise Invalid.field("contact", "this address was erased on request and may not "
                                "be added again")
        new = await db.record_activity(uow.conn, workspace_id, event_id, done.ids[email],
                                       body.name)
        if new:
            uow.publish(ActivityRecorded.create(
                payload, workspace_id=workspace_id, correlation_id=correlation_id,
                event_id=envelope_id(workspace_id, event_id)))
        await uow.commit()
    return EventAccepted(event_id=event_id, duplicate=not new)


def signup_confirmed(workspace_id: uuid.UUID, email: str, form_id: uuid.UUID,
                     correlation_id: uuid.UUID) -> ActivityRecorded:
    """A double opt-in confirmed through the sign-up form of list `form_id` (a form is its
    list's), as the event the SignupConfirmed trigger matches. Confirming happens once per
    sign-up, so each gets an id of its own."""
    event_id = uuid.uuid4()
    payload = ActivityPayload(event_id=event_id, email=email, name=SIGNUP_CONFIRMED,
                              properties={"form_id": str(form_id)},
                              occurred_at=datetime.now(UTC))
    return ActivityRecorded.create(payload, workspace_id=workspace_id,
                                   correlation_id=correlation_id,
                                   event_id=envelope_id(workspace_id, event_id))
