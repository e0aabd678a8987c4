"""The suppression list page: listed with reasons, one added, one removed with its reason kept,
the list exported; in headless Chromium too."""

from __future__ import annotations

import asyncio
import csv
import io
import re
import uuid
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Protocol

import httpx
import sqlalchemy as sa
from playwright.async_api import Page, expect
from sqlalchemy.ext.asyncio import AsyncEngine

from campaign_api.db.contact_tables import suppression_removals

NewKey = Callable[[str], Awaitable[str]]
Dashboard = Callable[..., httpx.AsyncClient]
SignIn = Callable[[httpx.AsyncClient, str], Awaitable[str]]


class Served(Protocol):
    base_url: str
    key: str
    workspace_id: uuid.UUID


def _listed(html: str) -> list[tuple[str, str]]:
    return re.findall(r'<td class="name">([^<]+)(?:<div class="sub">[^<]*</div>)?</td>\s*'
                      r'<td><span class="badge \w+">(\w+)</span>', html)


async def test_an_address_is_added_listed_exported_and_removed_with_a_reason(
    new_key: NewKey, dashboard: Dashboard, sign_in: SignIn, api_engine: AsyncEngine,
) -> None:
    async with dashboard() as client:
        csrf = await sign_in(client, await new_key("acme"))
        added = await client.post("/dashboard/suppressions", data={
            "csrf_token": csrf, "email": "Ann@Example.com", "reason": "complained",
            "note": "phoned us"})
        assert added.status_code == 303
        await client.post("/dashboard/suppressions", data={
            "csrf_token": csrf, "email": "bob@example.com"})
        page = (await client.get("/dashboard/suppressions")).text
        assert _listed(page) == [("ann@example.com", "Complained"), ("bob@example.com", "Manual")]
        assert _listed((await client.get("/dashboard/suppressions?reason=manual")).text) == [
            ("bob@example.com", "Manual")]
        again = await client.post("/dashboard/suppressions", data={
            "csrf_token": csrf, "email": "bob@example.com", "reason": "bounced"})
        assert 'id="not-added"' in again.text
        exported = await client.get("/dashboard/suppressions/export")
        assert exported.headers["content-type"].startswith("text/csv")
        rows = list(csv.DictReader(io.StringIO(exported.text)))
        assert [(r["email"], r["reason"], r["note"]) for r in rows] == [
            ("ann@example.com", "complained", "phoned us"), ("bob@example.com", "manual", "")]
        no_reason = await client.post("/dashboard/suppressions/remove", data={
            "csrf_token": csrf, "email": "ann@example.com", "why": " "})
        assert no_reason.status_code == 422
        assert 'id="remove-error"' in no_reason.text
        removed = await client.post("/dashboard/suppressions/remove", data={
            "csrf_token": csrf, "email": "ann@example.com", "why": "asked to rejoin"})
        assert removed.status_code == 303
        assert _listed((await client.get("/dashboard/suppressions")).text) == [
            ("bob@example.com", "Manual")]
    async with api_engine.connect() as conn:
        kept = (await conn.execute(sa.select(suppression_removals.c.email,
                                             suppression_removals.c.reason))).all()
    assert [tuple(r) for r in kept] == [("ann@example.com", "asked to rejoin")]


async def test_a_bad_address_is_refused_by_field_and_nothing_listed(
    new_key: NewKey, dashboard: Dashboard, sign_in: SignIn,
) -> None:
    async with dashboard() as client:
        csrf = await sign_in(client, await new_key("acme"))
        refused = await client.post("/dashboard/suppressions", data={
            "csrf_token": csrf, "email": "not an address"})
        assert refused.status_code == 422
        assert 'id="email-error"' in refused.text
        bad_reason = await client.post("/dashboard/suppressions", data={
            "csrf_token": csrf, "email": "a@example.com", "reason": "spite"})
        assert 'id="reason-error"' in bad_reason.text
        assert _listed((await client.get("/dashboard/suppressions")).text) == []


async def test_another_workspaces_suppressions_are_not_shown_or_exported(
    new_key: NewKey, dashboard: Dashboard, sign_in: SignIn,
) -> None:
    async with dashboard() as rival:
        csrf = await sign_in(rival, await new_key("rival"))
        await rival.post("/dashboard/suppressions", data={"csrf_token": csrf,
                                                          "email": "theirs@example.com"})
    async with dashboard() as client:
        csrf = await sign_in(client, await new_key("acme"))
        assert "theirs@example.com" not in (await client.get("/dashboard/suppressions")).text
        assert "theirs@example.com" not in (
            await client.get("/dashboard/suppressions/export")).text
        gone = await client.post("/dashboard/suppressions/remove", data={
            "csrf_token": csrf, "email": "theirs@example.com", "why": "mine now"})
        assert gone.status_code == 422


async def test_the_suppression_page_in_the_browser(page: Page, served: Served,
                                                   screenshots: Path) -> None:
    await page.click("nav >> text=Suppressions")
    await expect(page.get_by_text("No suppressed address")).to_be_visible()
    await page.fill("#sup-email", "carol@example.com")
    await page.select_option("#sup-reason", "bounced")
    await page.fill("#sup-note", "mailbox full for months")
    await page.click("#new-suppression button[type=submit]")
    await expect(page.get_by_role("status")).to_contain_text("suppression list")
    await expect(page.locator("#suppressions-table")).to_contain_text("carol@example.com")
    await _shot(page, screenshots, "suppressions-01-listed")
    async with page.expect_download() as download:
        await page.click("#export")
    saved = await (await download.value).path()
    exported = await asyncio.to_thread(Path(saved).read_text)
    assert "carol@example.com,bounced" in exported
    await page.fill('input[aria-label="Reason to remove carol@example.com"]', "fixed mailbox")
    await page.click("#suppressions-table button[type=submit]")
    await expect(page.get_by_role("status")).to_contain_text("off the suppression list")
    await _shot(page, screenshots, "suppressions-02-removed")


async def _shot(page: Page, folder: Path, name: str) -> None:
    await page.screenshot(path=str(folder / f"{name}.png"), full_page=True)


async def test_a_csv_of_addresses_is_suppressed_with_a_report_per_line(
    new_key: NewKey, dashboard: Dashboard, sign_in: SignIn,
) -> None:
    async with dashboard() as client:
        csrf = await sign_in(client, await new_key("acme"))
        csv_file = b"email,reason\nann@example.com,\nbob@example.com,complained\nbroken,\n"
        response = await client.post(
            "/dashboard/suppressions/import", data={"csrf_token": csrf, "reason": "bounced"},
            files={"file": ("list.csv", csv_file, "text/csv")})
        assert response.status_code == 200, response.text
        report = response.text[response.text.index('id="import-report"'):]
        assert re.search(r"<dt>Added</dt><dd>2</dd>", report)
        assert re.search(r"<dt>Rejected</dt><dd>1</dd>", report)
        assert "<td>4</td>" in report  # the bad row's line, the header being line 1
        assert _listed((await client.get("/dashboard/suppressions")).text) == [
            ("ann@example.com", "Bounced"), ("bob@example.com", "Complained")]
        no_email = await client.post(
            "/dashboard/suppressions/import", data={"csrf_token": csrf},
            files={"file": ("list.csv", b"name\nAnn\n", "text/csv")})
        assert no_email.status_code == 422
        assert 'id="import-error"' in no_email.text
