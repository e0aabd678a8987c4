"""A contact's journey history: each step they reached in the workspace's journeys (an email
falling due, an action carried out), recorded from the scheduler's journey.step_due and
journey.action, and read for their profile newest first, at most `PER_CONTACT` steps."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncEngine

from campaign_api import db
from campaign_api.domain import normalise_email
from contracts import JourneyActionDue, JourneyStepDue
from servicekit.db import UnitOfWork

PER_CONTACT = 200


async def record_reached(uow: UnitOfWork, event: JourneyStepDue | JourneyActionDue) -> None:
    """One row per (enrollment, step); a contact campaign-api does not have is skipped."""
    p = event.payload
    email = normalise_email(p.email)
    contact_id = (await db.ids_by_email(uow.conn, event.workspace_id, [email])).get(email)
    if contact_id is None:
        return
    if isinstance(event, JourneyStepDue):
        kind, sequence, detail, at = "email", event.payload.sequence, None, event.payload.send_at
    else:
        a = event.payload
        kind, sequence, at = "action", None, event.occurred_at
        detail = f"{a.action} {a.tag or a.list_id}"
    await db.record_step_reached(uow.conn, enrollment_id=p.enrollment_id, step_id=p.step_id,
                                 contact_id=contact_id, campaign_id=p.campaign_id, kind=kind,
                                 sequence=sequence, detail=detail, at=at)


async def on_journey_step_due(event: JourneyStepDue, uow: UnitOfWork) -> None:
    await record_reached(uow, event)


@dataclass(frozen=True)
class StepReached:
    at: datetime
    step_id: str
    kind: str
    sequence: int | None
    detail: str


@dataclass(frozen=True)
class JourneyRun:
    """One entry of the contact into a journey, its steps oldest first."""

    campaign_id: uuid.UUID
    journey: str
    steps: list[StepReached]


async def journey_history(engine: AsyncEngine, contact_id: uuid.UUID, *,
                          limit: int = PER_CONTACT) -> tuple[list[JourneyRun], bool]:
    """The contact's entries into journeys, newest first, and whether older steps were left
    out. The caller has checked the contact is the viewer's workspace's."""
    async with engine.connect() as conn:
        rows = await db.steps_reached_by(conn, contact_id, limit=limit)
    runs: dict[uuid.UUID, JourneyRun] = {}
    for r in rows:  # newest first: a run's first row seen is its newest step
        run = runs.setdefault(r.enrollment_id, JourneyRun(r.campaign_id, r.journey, []))
        run.steps.insert(0, StepReached(r.at, r.step_id, r.kind, r.sequence, r.detail or ""))
    return list(runs.values()), len(rows) >= limit
