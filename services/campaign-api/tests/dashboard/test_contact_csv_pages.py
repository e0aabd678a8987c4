"""Contacts imported from a CSV on the dashboard, with the report per line; the Contacts
page's filters exported as CSV; in headless Chromium too."""

from __future__ import annotations

import csv
import io
import re
import uuid
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Protocol

import httpx
from playwright.async_api import Page, expect
from sqlalchemy.ext.asyncio import AsyncEngine

from campaign_api.usecases import accounts, contacts

NewKey = Callable[[str], Awaitable[str]]
Dashboard = Callable[..., httpx.AsyncClient]
SignIn = Callable[[httpx.AsyncClient, str], Awaitable[str]]
Seed = Callable[..., Awaitable[uuid.UUID]]


class Served(Protocol):
    base_url: str
    key: str
    workspace_id: uuid.UUID


CSV = (b"email,name,tags,plan\nlin@example.net,Linus,kernel;vip,pro\nbroken,No,,\n"
       b"mia@example.net,Mia,,free\n")


async def _workspace(engine: AsyncEngine, key: str) -> uuid.UUID:
    found = await accounts.authenticate(engine, key)
    assert found is not None
    return found


async def test_a_csv_is_imported_onto_a_list_with_its_consent_and_a_report_per_line(
    new_key: NewKey, dashboard: Dashboard, sign_in: SignIn, seed_contacts: Seed,
    api_engine: AsyncEngine,
) -> None:
    key = await new_key("acme")
    workspace = await _workspace(api_engine, key)
    garden = await seed_contacts(workspace, count=1)  # declares `plan`
    async with dashboard() as client:
        csrf = await sign_in(client, key)
        response = await client.post("/dashboard/contacts/import", data={
            "csrf_token": csrf, "list_id": str(garden), "consent_basis": "consent",
            "consent_text": "Yes, send me the planner news", "update_existing": "true"},
            files={"file": ("people.csv", CSV, "text/csv")})
        assert response.status_code == 200, response.text
        report = response.text[response.text.index('id="import-report"'):]
        assert re.search(r"<dt>Created</dt><dd>2</dd>", report)
        assert re.search(r"<dt>Added to the list</dt><dd>2</dd>", report)
        assert re.search(r"<dt>Rejected</dt><dd>1</dd>", report)
        assert "<td>3</td>" in report  # the bad row's line, the header being line 1
    lin = (await contacts.search_contacts(api_engine, workspace, q="lin")).items[0]
    detail = await contacts.get_contact(api_engine, workspace, lin.id)
    assert detail.tags == ["kernel", "vip"]
    assert detail.fields == {"plan": "pro"}
    assert [x.id for x in detail.lists] == [garden]
    assert [(c.source, c.consent_text) for c in detail.consents] == [
        ("import", "Yes, send me the planner news")]


async def test_an_import_without_a_basis_or_a_file_is_refused_and_stores_nothing(
    new_key: NewKey, dashboard: Dashboard, sign_in: SignIn, api_engine: AsyncEngine,
) -> None:
    key = await new_key("acme")
    async with dashboard() as client:
        csrf = await sign_in(client, key)
        no_basis = await client.post("/dashboard/contacts/import", data={"csrf_token": csrf},
                                     files={"file": ("people.csv", CSV, "text/csv")})
        assert no_basis.status_code == 422
        assert 'id="consent_basis-error"' in no_basis.text
        no_file = await client.post("/dashboard/contacts/import", data={
            "csrf_token": csrf, "consent_basis": "consent"},
            files={"file": ("", b"", "text/csv")})
        assert no_file.status_code == 422
        assert 'id="file-error"' in no_file.text
        no_email = await client.post("/dashboard/contacts/import", data={
            "csrf_token": csrf, "consent_basis": "consent"},
            files={"file": ("x.csv", b"name\nAda\n", "text/csv")})
        assert no_email.status_code == 422
    assert (await contacts.search_contacts(api_engine, await _workspace(api_engine, key))
            ).items == []


async def test_the_export_follows_the_filters_of_the_contacts_page(
    new_key: NewKey, dashboard: Dashboard, sign_in: SignIn, seed_contacts: Seed,
    api_engine: AsyncEngine,
) -> None:
    key = await new_key("acme")
    await seed_contacts(await _workspace(api_engine, key), count=4)
    async with dashboard() as client:
        await sign_in(client, key)
        page = (await client.get("/dashboard/contacts?tag=vip&q=person")).text
        link = re.search(r'id="export" href="([^"]+)"', page)
        assert link is not None
        assert link.group(1) == "/dashboard/contacts/export?tag=vip"
        exported = await client.get(link.group(1))
        assert exported.headers["content-type"].startswith("text/csv")
        rows = list(csv.DictReader(io.StringIO(exported.text)))
        assert [r["email"] for r in rows] == ["person0@example.com", "person2@example.com"]
        assert rows[0]["plan"] == "pro"
        assert (await client.get("/dashboard/contacts/export?status=gone")).status_code == 422


async def test_a_csv_is_imported_in_the_browser(page: Page, served: Served,
                                               tmp_path: Path, screenshots: Path) -> None:
    upload = tmp_path / "people.csv"
    upload.write_bytes(CSV.replace(b",plan", b"").replace(b",pro", b"").replace(b",free", b"")
                       .replace(b",No,,", b",No,"))
    await page.click("nav >> text=Contacts")
    await page.click("text=Import CSV")
    await page.set_input_files("#file", str(upload))
    await page.select_option("#consent-basis", "consent")
    await page.click("#contact-import button[type=submit]")
    await expect(page.locator("#import-report")).to_contain_text("Rejected")
    await _shot(page, screenshots, "contacts-08-import-report")
    await page.click("text=See the contacts")
    await expect(page.locator("#contacts tbody tr")).to_have_count(2)


async def _shot(page: Page, folder: Path, name: str) -> None:
    await page.screenshot(path=str(folder / f"{name}.png"), full_page=True)
