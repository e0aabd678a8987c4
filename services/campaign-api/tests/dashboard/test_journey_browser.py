"""The journey builder, the live view with its funnel and a contact's journey history in a real
headless Chromium over a served app. Kept as screenshots."""

from __future__ import annotations

import copy
import json
import re
import uuid
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Protocol

import httpx
from playwright.async_api import Page, expect
from sqlalchemy.ext.asyncio import AsyncEngine

from campaign_api.dashboard.journey_pages import STARTER
from campaign_api.usecases.journey_history import on_journey_step_due
from contracts import JourneyStepDue
from contracts.journey_events import JourneyStepDuePayload
from servicekit.db import UnitOfWork

SeedJourney = Callable[[uuid.UUID, uuid.UUID], Awaitable[None]]


class Served(Protocol):
    base_url: str
    key: str
    workspace_id: uuid.UUID


async def test_a_journey_is_built_then_watched_step_by_step_and_seen_on_a_profile(
    page: Page, served: Served, api_engine: AsyncEngine, seed_journey: SeedJourney,
    screenshots: Path,
) -> None:
    await page.goto(f"{served.base_url}/dashboard/campaigns")
    await page.click("text=+ New journey")
    await expect(page.locator("#flow .flow-split")).to_have_count(1)
    await page.fill("#name", "Welcome series")
    await page.fill("#description", "Welcome people who sign up for the garden club.")
    broken = copy.deepcopy(STARTER)
    broken["steps"][1]["next"] = "wait-9"
    await page.fill("#graph", json.dumps(broken, indent=2))
    await page.click("button[value=save]")
    wait_step = page.locator("#step-wait-1")
    await expect(wait_step.locator(".error-text")).to_contain_text("wait-9")
    await expect(page.locator(".notice.error")).to_contain_text("Some steps need a change")
    await page.screenshot(path=str(screenshots / "journey-builder-error.png"), full_page=True)

    await page.fill("#graph", json.dumps(STARTER, indent=2))
    await page.click("button[value=draw]")
    await expect(page.locator("#flow .flow-step")).to_have_count(6)
    await expect(page.locator("#flow .error-text")).to_have_count(0)
    await page.screenshot(path=str(screenshots / "journey-builder.png"), full_page=True)
    await page.click("button[value=save]")
    await expect(page).to_have_url(re.compile(r"/dashboard/campaigns/[0-9a-f-]{36}\?done="))
    campaign_id = uuid.UUID(page.url.split("/")[-1].split("?")[0])

    await seed_journey(served.workspace_id, campaign_id)
    await page.reload()
    live = page.locator("#journey-live")
    await expect(live).to_contain_text("1 contact waiting")
    await expect(live.locator("#step-wait-1 .waiting dd")).to_have_text("1")
    funnel = page.locator('#journey-funnel tr[data-step="email-1"] td.num')
    await expect(funnel).to_have_text(["0", "3", "2", "1", "1", "0"])
    await live.scroll_into_view_if_needed()
    await page.screenshot(path=str(screenshots / "journey-live-view.png"), full_page=True)

    async with httpx.AsyncClient(base_url=served.base_url,
                                 headers={"Authorization": f"Bearer {served.key}"}) as client:
        ada = (await client.post("/api/contacts/", json={
            "email": "ada@example.com", "consent_basis": "consent"})).json()
    async with UnitOfWork(api_engine) as uow:
        await on_journey_step_due(JourneyStepDue.create(JourneyStepDuePayload(
            campaign_id=campaign_id, version=1, enrollment_id=uuid.uuid4(), step_id="email-1",
            sequence=1, email="ada@example.com", send_at=datetime.now(UTC)),
            workspace_id=served.workspace_id), uow)
        await uow.commit()
    await page.goto(f"{served.base_url}/dashboard/contacts/{ada['id']}")
    history = page.locator("#contact-journeys")
    await expect(history).to_contain_text("Welcome series")
    await expect(history.locator('[data-step="email-1"]')).to_contain_text("email 1 due")
    await history.scroll_into_view_if_needed()
    await page.screenshot(path=str(screenshots / "journey-contact-history.png"), full_page=True)
