"""The Segments pages: the rule editor's count and sample, saving, and errors by rule path;
in headless Chromium, the live count follows the typing."""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Protocol

import httpx
from playwright.async_api import Page, expect
from sqlalchemy.ext.asyncio import AsyncEngine

from campaign_api.usecases import accounts

NewKey = Callable[[str], Awaitable[str]]
Dashboard = Callable[..., httpx.AsyncClient]
SignIn = Callable[[httpx.AsyncClient, str], Awaitable[str]]
Seed = Callable[..., Awaitable[uuid.UUID]]


class Served(Protocol):
    base_url: str
    key: str
    workspace_id: uuid.UUID


VIP = json.dumps({"all": [{"tag": "vip"}, {"field": "seats", "op": "greater", "value": 0}]})


async def _workspace(engine: AsyncEngine, key: str) -> uuid.UUID:
    found = await accounts.authenticate(engine, key)
    assert found is not None
    return found


async def test_a_rule_is_previewed_then_saved_and_listed(
    new_key: NewKey, dashboard: Dashboard, sign_in: SignIn, seed_contacts: Seed,
    api_engine: AsyncEngine,
) -> None:
    key = await new_key("acme")
    await seed_contacts(await _workspace(api_engine, key), count=6)
    async with dashboard() as client:
        csrf = await sign_in(client, key)
        # vip: 0, 2, 4; seats > 0 among those with seats (0, 1, 2): person2 only
        shown = await client.post("/dashboard/segments/new", data={
            "csrf_token": csrf, "name": "Big VIPs", "rule": VIP, "intent": "preview"})
        assert shown.status_code == 200
        assert re.search(r'id="segment-count">1<', shown.text)
        assert "person2@example.com" in shown.text
        saved = await client.post("/dashboard/segments/new", data={
            "csrf_token": csrf, "name": "Big VIPs", "rule": VIP, "intent": "save"})
        assert saved.status_code == 303
        page = (await client.get(saved.headers["location"])).text
        assert "Segment saved" in page
        assert re.search(r'id="segment-count">1<', page)
        listing = (await client.get("/dashboard/segments")).text
        assert "Big VIPs" in listing
        segment_id = saved.headers["location"].split("?")[0].rsplit("/", 1)[1]
        renamed = await client.post(f"/dashboard/segments/{segment_id}", data={
            "csrf_token": csrf, "name": "All VIPs", "rule": '{"tag": "vip"}'})
        assert renamed.status_code == 303
        page = (await client.get(renamed.headers["location"])).text
        assert re.search(r'id="segment-count">3<', page)


async def test_a_bad_rule_is_refused_with_its_path_and_nothing_saved(
    new_key: NewKey, dashboard: Dashboard, sign_in: SignIn, seed_contacts: Seed,
    api_engine: AsyncEngine,
) -> None:
    key = await new_key("acme")
    await seed_contacts(await _workspace(api_engine, key), count=1)
    async with dashboard() as client:
        csrf = await sign_in(client, key)
        bad = json.dumps({"all": [{"tag": "vip"},
                                  {"field": "seats", "op": "greater", "value": "many"}]})
        refused = await client.post("/dashboard/segments/new", data={
            "csrf_token": csrf, "name": "Broken", "rule": bad})
        assert refused.status_code == 422
        assert "<code>rule.all[1].value</code>" in refused.text
        assert "Broken" in refused.text  # the form comes back as typed
        not_json = await client.post("/dashboard/segments/new", data={
            "csrf_token": csrf, "name": "Broken", "rule": '{"tag": '})
        assert not_json.status_code == 422
        assert "not JSON" in not_json.text
        live = await client.post("/dashboard/api/segment-preview", data={
            "csrf_token": csrf, "rule": bad})
        assert live.status_code == 422
        assert live.json()["errors"][0]["field"] == "rule.all[1].value"
        assert "No segments yet" in (await client.get("/dashboard/segments")).text
        forged = await client.post("/dashboard/api/segment-preview", data={"rule": VIP})
        assert forged.status_code == 403


async def _shot(page: Page, folder: Path, name: str) -> None:
    await page.screenshot(path=str(folder / f"{name}.png"), full_page=True)


async def test_the_editor_counts_as_the_rule_is_typed_in_the_browser(
    page: Page, served: Served, seed_contacts: Seed, screenshots: Path,
) -> None:
    await seed_contacts(served.workspace_id, count=6)
    await page.click("nav >> text=Segments")
    await page.click("text=Create your first segment")
    await page.fill("#segment-name", "VIPs")
    await page.fill("#rule", '{"tag": "vip"}')
    await expect(page.locator("#segment-count")).to_have_text("3")
    await expect(page.locator("#segment-sample tr")).to_have_count(3)
    await _shot(page, screenshots, "segments-01-live-count")
    await page.fill("#rule", '{"field": "nope", "op": "is_set"}')
    await expect(page.locator("#rule-errors")).to_contain_text("rule.field")
    await _shot(page, screenshots, "segments-02-rule-error")
    await page.fill("#rule", VIP)
    await expect(page.locator("#segment-count")).to_have_text("1")
    await page.click("text=Save segment")
    await expect(page.get_by_role("status")).to_contain_text("Segment saved")
    await _shot(page, screenshots, "segments-03-saved")
    await page.click("nav >> text=Segments")
    await expect(page.locator("#segments-table")).to_contain_text("VIPs")
