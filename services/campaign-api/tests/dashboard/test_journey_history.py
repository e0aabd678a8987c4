"""A contact's journey history on their profile: each step they reached (an email falling due,
an action carried out) from the scheduler's journey.step_due and journey.action, grouped by
entry, recorded once however often the event is delivered, and nobody else's."""

from __future__ import annotations

import json
import uuid
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta

import httpx
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine

from campaign_api import db
from campaign_api.app import projections
from campaign_api.dashboard.journey_pages import STARTER
from campaign_api.usecases.journey_actions import on_journey_action
from campaign_api.usecases.journey_history import on_journey_step_due
from contracts import JourneyActionDue, JourneyStepDue
from contracts.journey_events import JourneyActionPayload, JourneyStepDuePayload
from contracts.streams import CONSUMERS
from servicekit.db import UnitOfWork

NewKey = Callable[[str], Awaitable[str]]
Dashboard = Callable[..., httpx.AsyncClient]
SignIn = Callable[[httpx.AsyncClient, str], Awaitable[str]]


def test_campaign_api_reads_the_steps_its_contacts_reach() -> None:
    assert any(c.service == "campaign-api" and c.stream == "JOURNEYS"
               and "journey.step_due" in c.filter_subjects for c in CONSUMERS)
    assert projections().get(JourneyStepDue.TYPE) is on_journey_step_due


async def test_a_profile_lists_each_journey_entry_with_the_steps_reached_once(
    new_key: NewKey, dashboard: Dashboard, sign_in: SignIn, api_engine: AsyncEngine,
) -> None:
    key = await new_key("acme")
    auth = {"Authorization": f"Bearer {key}"}
    async with dashboard() as client:
        csrf = await sign_in(client, key)
        created = await client.post("/dashboard/journeys/new", data={
            "csrf_token": csrf, "name": "Welcome", "description": "Welcome new sign-ups",
            "model": "openai/gpt-4o-mini", "timezone": "UTC", "intent": "save",
            "graph": json.dumps(STARTER)})
        campaign_id = uuid.UUID(created.headers["location"].split("/")[-1].split("?")[0])
        ada = (await client.post("/api/contacts/", headers=auth, json={
            "email": "ada@example.com", "consent_basis": "consent"})).json()
        await client.post("/api/contacts/", headers=auth, json={
            "email": "bob@example.com", "consent_basis": "consent"})
        async with api_engine.connect() as conn:
            workspace_id = (await conn.execute(sa.select(db.campaigns.c.workspace_id).where(
                db.campaigns.c.id == campaign_id))).scalar_one()
        enrollment = uuid.uuid4()

        def due(email: str, step: str, sequence: int, enrolled: uuid.UUID) -> JourneyStepDue:
            return JourneyStepDue.create(JourneyStepDuePayload(
                campaign_id=campaign_id, version=1, enrollment_id=enrolled, step_id=step,
                sequence=sequence, email=email,
                send_at=datetime.now(UTC) - timedelta(minutes=5)), workspace_id=workspace_id)

        for event in (due("Ada@example.com", "email-1", 1, enrollment),
                      due("ada@example.com", "email-1", 1, enrollment),  # delivered again
                      due("bob@example.com", "email-1", 1, uuid.uuid4()),
                      due("nobody@example.com", "email-1", 1, uuid.uuid4())):
            async with UnitOfWork(api_engine) as uow:
                await on_journey_step_due(event, uow)
                await uow.commit()
        async with UnitOfWork(api_engine) as uow:
            await on_journey_action(JourneyActionDue.create(JourneyActionPayload(
                campaign_id=campaign_id, enrollment_id=enrollment, step_id="tag-it",
                email="ada@example.com", action="add_tag", tag="engaged"),
                workspace_id=workspace_id), uow)
            await uow.commit()
        page = (await client.get(f"/dashboard/contacts/{ada['id']}")).text
    history = page[page.index('id="contact-journeys"'):]
    assert history.count("data-journey=") == 1
    assert history.count('data-step="email-1"') == 1
    assert history.index('data-step="email-1"') < history.index('data-step="tag-it"')
    assert "email 1 due" in history
    assert "add tag engaged" in history
    assert "Welcome" in history
