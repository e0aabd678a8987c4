"""The public pages a contact sees, in a real headless Chromium over a served app: a list's
sign-up form and its confirm link (double opt-in), and the preference centre behind every
campaign email's footer link. Every page is kept as a screenshot."""

from __future__ import annotations

import json
import re
import uuid
from pathlib import Path
from typing import Protocol

import sqlalchemy as sa
from playwright.async_api import Page, expect
from sqlalchemy.ext.asyncio import AsyncEngine

from campaign_api.db.contact_tables import contacts, list_members, lists
from campaign_api.settings import DEVELOPMENT_LINK_KEY
from contracts.links import LinkClaims, LinkSigner
from servicekit.db import outbox


class Served(Protocol):
    base_url: str
    workspace_id: uuid.UUID


async def _shot(page: Page, folder: Path, name: str) -> None:
    await page.screenshot(path=str(folder / f"{name}.png"), full_page=True)


async def _list(engine: AsyncEngine, workspace_id: uuid.UUID, name: str) -> uuid.UUID:
    list_id = uuid.uuid4()
    async with engine.begin() as conn:
        await conn.execute(lists.insert().values(
            id=list_id, workspace_id=workspace_id, name=name, description=f"News of {name}",
            consent_text=f"Yes, send me {name}."))
    return list_id


async def test_a_visitor_signs_up_and_confirms_from_the_mail(
    page: Page, served: Served, api_engine: AsyncEngine, screenshots: Path,
) -> None:
    garden = await _list(api_engine, served.workspace_id, "Garden news")
    await page.goto(f"{served.base_url}/f/{garden}")
    await expect(page.locator("h1")).to_contain_text("Subscribe to Garden news")
    await expect(page.locator("main")).to_contain_text("Yes, send me Garden news.")
    await _shot(page, screenshots, "signup-01-form")
    await page.fill("#email", "not an address")
    await page.evaluate("document.querySelector('form').noValidate = true")
    await page.click("button[type=submit]")
    await expect(page.get_by_role("alert")).to_contain_text("email:")
    await _shot(page, screenshots, "signup-02-refused")
    await page.fill("#email", "gertrude@example.com")
    await page.fill("#name", "Gertrude Jekyll")
    await page.click("button[type=submit]")
    await expect(page.locator("h1")).to_have_text("Check your inbox")
    await _shot(page, screenshots, "signup-03-check-inbox")

    async with api_engine.connect() as conn:
        data = (await conn.execute(sa.select(outbox.c.data).where(
            outbox.c.subject.like("%transactional.requested")))).scalar_one()
    body = json.loads(data)["payload"]["body_text"]
    [link] = re.findall(r"https?://\S+/f/confirm/\S+", body)
    await page.goto(link.replace("http://127.0.0.1:8000", served.base_url))
    await expect(page.locator("h1")).to_have_text("Confirm your subscription")
    await page.click("button[type=submit]")
    await expect(page.locator("h1")).to_have_text("You are subscribed")
    await _shot(page, screenshots, "signup-04-confirmed")
    async with api_engine.connect() as conn:
        status = (await conn.execute(sa.select(contacts.c.status).where(
            contacts.c.email == "gertrude@example.com"))).scalar_one()
    assert status == "subscribed"


async def test_the_preference_centre_leaves_joins_and_unsubscribes(
    page: Page, served: Served, api_engine: AsyncEngine, screenshots: Path,
) -> None:
    garden = await _list(api_engine, served.workspace_id, "Garden news")
    await _list(api_engine, served.workspace_id, "Seed offers")
    contact_id = uuid.uuid4()
    async with api_engine.begin() as conn:
        await conn.execute(contacts.insert().values(
            id=contact_id, workspace_id=served.workspace_id, email="ada@example.com"))
        await conn.execute(list_members.insert().values(list_id=garden, contact_id=contact_id))
    claims = LinkClaims(served.workspace_id, uuid.uuid4(), 1, "ada@example.com")
    token = LinkSigner(DEVELOPMENT_LINK_KEY).recipient_tokens(claims).preferences
    await page.goto(f"{served.base_url}/p/{token}")
    rows = page.locator("ul.lists li")
    await expect(rows).to_have_count(2)
    await expect(rows.filter(has_text="Garden news").locator("button")).to_have_text("Leave")
    await expect(rows.filter(has_text="Seed offers").locator("button")).to_have_text("Join")
    await _shot(page, screenshots, "preferences-01-lists")
    await rows.filter(has_text="Garden news").locator("button").click()
    await expect(page.get_by_role("status")).to_contain_text("you have left that list")
    await expect(rows.filter(has_text="Garden news").locator("button")).to_have_text("Join")
    await rows.filter(has_text="Seed offers").locator("button").click()
    await expect(page.get_by_role("status")).to_contain_text("you are on that list")
    await _shot(page, screenshots, "preferences-02-changed")
    await page.click("text=Unsubscribe from everything")
    await expect(page.get_by_role("status")).to_contain_text("unsubscribed from everything")
    await expect(page.locator("main")).to_contain_text("Rejoin a list")
    await _shot(page, screenshots, "preferences-03-unsubscribed")
