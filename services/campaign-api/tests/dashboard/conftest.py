"""The dashboard's tests: a signed-in client of a migrated database for the page tests, and the
browser for the browser tests (found, or installed from Debian's archive)."""

from __future__ import annotations

import asyncio
import importlib.util
import re
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import ModuleType
from typing import Any

import httpx
import pytest
import uvicorn
from playwright.async_api import Browser, Page, async_playwright, expect
from sqlalchemy.ext.asyncio import AsyncEngine

from campaign_api import handlers, usecases
from campaign_api.app import create_app
from campaign_api.dashboard.settings import DashboardSettings
from campaign_api.erasure import ErasureKey
from campaign_api.schemas_contacts import (
    BulkUpsert,
    ContactFields,
    FieldCreate,
    ListCreate,
    MembersChange,
)
from campaign_api.usecases import accounts, contacts, lists
from campaign_api.usecases.journey_progress import on_journey_progress
from contracts import EmailFailed, EmailSent, JourneyProgress
from contracts.events import EmailFailedPayload, EmailSentPayload
from contracts.journey_events import JourneyProgressPayload, StepProgress
from contracts.links import LinkClaims, LinkSigner
from servicekit.db import UnitOfWork

from ..conftest import ERASURE_KEY

# Repository root / test-output: where the screenshots of a run are kept (gitignored).
OUTPUT = Path(__file__).resolve().parents[4] / "test-output" / "screenshots"

CAMPAIGN_FORM = {
    "name": "Spring launch", "brief": "Three emails about the new planner.",
    "brand_voice": "Warm", "audience_description": "Gardeners",
    "schedule_type": "weekly", "weekly_days": ["2", "4"], "weekly_emails": "",
    "duration": "6", "duration_unit": "emails", "start_date": "", "send_time": "08:30",
    "timezone": "Europe/Berlin", "model": "openai/gpt-4o-mini", "from_name": "", "from_email": "",
    "recipients": "ada@example.com\nGrace Hopper <grace@example.org>",
}


# --- the pages over HTTP ---------------------------------------------------------------------


@pytest.fixture
def campaign_form() -> dict[str, Any]:
    """A complete new-campaign form, as a browser posts it."""
    return dict(CAMPAIGN_FORM)


@pytest.fixture
def new_key(api_engine: AsyncEngine) -> Callable[[str], Awaitable[str]]:
    """`key = await new_key("acme")`: a new workspace of that name, and a key of it."""

    async def make(workspace: str) -> str:
        ws = await accounts.create_workspace(api_engine, workspace)
        created = await accounts.create_api_key(api_engine, ws.id, "dashboard test")
        return created.key

    return make


@pytest.fixture
def dashboard(api_engine: AsyncEngine) -> Callable[..., httpx.AsyncClient]:
    """`async with dashboard(maildir=...) as client:`, a client of a new app over the database."""

    def make(maildir: Path | None = None, base_url: str = "http://dash") -> httpx.AsyncClient:
        app = create_app(api_engine, [])
        app.state.dashboard_settings = DashboardSettings(
            CAMPAIGN_API_SESSION_SECRET="s" * 40, DEV_MAILDIR=maildir)
        return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url=base_url)

    return make


def _csrf(html: str) -> str:
    found = re.search(r'name="csrf_token" value="([^"]+)"', html)
    assert found, "the page has no CSRF field"
    return found.group(1)


@pytest.fixture
def csrf_of() -> Callable[[str], str]:
    """The CSRF token of a page's form."""
    return _csrf


async def _sign_in(client: httpx.AsyncClient, key: str) -> str:
    page = await client.get("/dashboard/signin")
    response = await client.post("/dashboard/signin",
                                 data={"csrf_token": _csrf(page.text), "api_key": key})
    assert response.status_code == 303, response.text
    campaigns = await client.get("/dashboard/campaigns")
    assert campaigns.status_code == 200
    return _csrf(campaigns.text)


@pytest.fixture
def sign_in() -> Callable[[httpx.AsyncClient, str], Awaitable[str]]:
    """`csrf = await sign_in(client, key)`: signed in, the session's CSRF token."""
    return _sign_in


async def _create(client: httpx.AsyncClient, csrf: str) -> str:
    """The new campaign's page, as the form redirects to it."""
    response = await client.post("/dashboard/campaigns/new",
                                 data={**CAMPAIGN_FORM, "csrf_token": csrf})
    assert response.status_code == 303, response.text
    location: str = response.headers["location"]
    return location


@pytest.fixture
def create_campaign() -> Callable[[httpx.AsyncClient, str], Awaitable[str]]:
    """`location = await create_campaign(client, csrf)`: the campaign_form posted, its page."""
    return _create


# --- the browser -----------------------------------------------------------------------------


def _ensure_browser() -> ModuleType:
    # Loaded by path: it is also run as a script, outside any package.
    spec = importlib.util.spec_from_file_location(
        "dashboard_ensure_browser", Path(__file__).with_name("ensure_browser.py"))
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="session")
def chromium_path() -> Path:
    path, why = _ensure_browser().ensure_chromium()
    if path is None:
        pytest.skip(f"NO BROWSER: the dashboard's browser tests did not run ({why})")
    found: Path = path
    return found


@pytest.fixture(scope="session")
def launch_args() -> list[str]:
    args: list[str] = _ensure_browser().LAUNCH_ARGS
    return args


@pytest.fixture(scope="session")
def screenshots() -> Iterator[Path]:
    OUTPUT.mkdir(parents=True, exist_ok=True)
    yield OUTPUT
    print(f"\ndashboard screenshots: {OUTPUT}")


# --- contacts and their history --------------------------------------------------------------

SIGNER = LinkSigner("k" * 40)


async def _seed_contacts(engine: AsyncEngine, workspace_id: uuid.UUID,
                        count: int = 3) -> uuid.UUID:
    """`count` contacts person0@example.com..., the even ones tagged vip, the first three
    with a plan and seats; a
    list "Gardeners" holding person0. The list's id."""
    await lists.declare_field(engine, workspace_id, FieldCreate(key="plan", label="Plan",
                                                                 type="text"))
    await lists.declare_field(engine, workspace_id, FieldCreate(key="seats", label="Seats",
                                                                 type="number"))
    people = [ContactFields(email=f"person{i}@example.com", name=f"Person {i}",
                            tags=["vip"] if i % 2 == 0 else [],
                            fields={"plan": "pro", "seats": i} if i < 3 else {})
              for i in range(count)]
    await contacts.bulk_upsert(engine, ErasureKey(ERASURE_KEY), workspace_id,
                               BulkUpsert(contacts=people, consent_basis="consent"))
    garden = await lists.create_list(engine, workspace_id, ListCreate(name="Gardeners"))
    person0 = (await contacts.search_contacts(engine, workspace_id, q="person0")).items[0]
    await lists.add_list_members(engine, workspace_id, garden.id,
                                 MembersChange(contact_ids=[person0.id]))
    return garden.id


async def _seed_history(engine: AsyncEngine, workspace_id: uuid.UUID, campaign_id: uuid.UUID,
                  sent_to: str, bounced_at: str) -> None:
    """Email 1 of a campaign sent to `sent_to` (opened, a link clicked) and bounced at
    `bounced_at`, as the mailer's events and the tracking links record them."""
    async with UnitOfWork(engine) as uow:
        await handlers.on_email_sent(EmailSent.create(EmailSentPayload(
            campaign_id=campaign_id, sequence=1, recipient=sent_to, message_id="<m1@x>"),
            workspace_id=workspace_id), uow)
        await handlers.on_email_failed(EmailFailed.create(EmailFailedPayload(
            campaign_id=campaign_id, sequence=1, recipient=bounced_at, permanent=True,
            smtp_code=550, reason="550 5.1.1 no such user"), workspace_id=workspace_id), uow)
        await uow.commit()
    claims = LinkClaims(workspace_id=workspace_id, campaign_id=campaign_id, sequence=1,
                        email=sent_to)
    await usecases.record_open(engine, SIGNER, SIGNER.sign("open", claims))
    await usecases.record_click(engine, SIGNER, SIGNER.sign("click", LinkClaims(
        workspace_id=workspace_id, campaign_id=campaign_id, sequence=1, email=sent_to,
        url="https://example.com/planner")))


_BROWSER = ("Mozilla/5.0 (iPhone; CPU iPhone OS 17_4 like Mac OS X) AppleWebKit/605.1.15 "
            "(KHTML, like Gecko) Version/17.4 Mobile/15E148 Safari/604.1")


async def _seed_journey(engine: AsyncEngine, workspace_id: uuid.UUID,
                        campaign_id: uuid.UUID) -> None:
    """A welcome journey under way: email 1 (content number 1) sent to two people an hour ago,
    one of whom opened and clicked it in a browser; the scheduler's summary says 3 entered
    email 1, 1 waits at the wait, 1 left by the goal there, 1 reached email 2a and the end."""
    async with UnitOfWork(engine) as uow:
        for person in ("ada@example.com", "grace@example.org"):
            await handlers.on_email_sent(EmailSent.create(EmailSentPayload(
                campaign_id=campaign_id, sequence=1, recipient=person, message_id="<m@x>"),
                workspace_id=workspace_id, occurred_at=datetime.now(UTC) - timedelta(hours=1)),
                uow)
        await on_journey_progress(JourneyProgress.create(JourneyProgressPayload(
            campaign_id=campaign_id, version=1, as_of=datetime.now(UTC), steps=[
                StepProgress(step_id="email-1", entered=3),
                StepProgress(step_id="wait-1", waiting=1, exited={"goal": 1}),
                StepProgress(step_id="email-2a", entered=1),
                StepProgress(step_id="done", exited={"end": 1})]),
            workspace_id=workspace_id), uow)
        await uow.commit()
    claims = LinkClaims(workspace_id, campaign_id, 1, "grace@example.org")
    await usecases.record_open(engine, SIGNER, SIGNER.sign("open", claims), user_agent=_BROWSER)
    await usecases.record_click(engine, SIGNER, SIGNER.sign("click", LinkClaims(
        workspace_id, campaign_id, 1, "grace@example.org", url="https://example.com/")),
        user_agent=_BROWSER)


SeedJourney = Callable[[uuid.UUID, uuid.UUID], Awaitable[None]]


@pytest.fixture
def seed_journey(api_engine: AsyncEngine) -> SeedJourney:
    """`await seed_journey(workspace_id, campaign_id)`, as `_seed_journey` says."""
    return lambda workspace_id, campaign_id: _seed_journey(api_engine, workspace_id,
                                                           campaign_id)


SeedContacts = Callable[..., Awaitable[uuid.UUID]]
SeedHistory = Callable[..., Awaitable[None]]


@pytest.fixture
def seed_contacts(api_engine: AsyncEngine) -> SeedContacts:
    """`list_id = await seed_contacts(workspace_id, count=3)`, as `_seed_contacts` says."""
    return lambda workspace_id, count=3: _seed_contacts(api_engine, workspace_id, count)


@pytest.fixture
def seed_history(api_engine: AsyncEngine) -> SeedHistory:
    """`await seed_history(workspace_id, campaign_id, sent_to, bounced_at)`."""
    return lambda *args: _seed_history(api_engine, *args)


# --- the browser over a served app -------------------------------------------------------


class Served:
    def __init__(self, base_url: str, key: str, workspace_id: uuid.UUID) -> None:
        self.base_url, self.key, self.workspace_id = base_url, key, workspace_id


@pytest.fixture
async def served(api_engine: AsyncEngine) -> AsyncIterator[Served]:
    """The app on a real socket, with a workspace and its key."""
    workspace = await accounts.create_workspace(api_engine, "acme")
    key = (await accounts.create_api_key(api_engine, workspace.id, "browser")).key
    app = create_app(api_engine, [])
    app.state.dashboard_settings = DashboardSettings(CAMPAIGN_API_SESSION_SECRET="s" * 40)
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=0, log_level="warning"))
    task = asyncio.create_task(server.serve())
    deadline = time.monotonic() + 30
    while not server.started:
        assert not task.done(), "the server stopped during start-up"
        assert time.monotonic() < deadline, "the server did not start"
        await asyncio.sleep(0.02)
    port = server.servers[0].sockets[0].getsockname()[1]
    try:
        yield Served(f"http://127.0.0.1:{port}", key, workspace.id)
    finally:
        server.should_exit = True
        await task


@pytest.fixture
async def browser(chromium_path: Path, launch_args: list[str]) -> AsyncIterator[Browser]:
    async with async_playwright() as p:
        found = await p.chromium.launch(executable_path=chromium_path, args=launch_args,
                                        headless=True)
        yield found
        await found.close()


@pytest.fixture
async def page(browser: Browser, served: Served) -> AsyncIterator[Page]:
    context = await browser.new_context(viewport={"width": 1280, "height": 900})
    found = await context.new_page()
    found.set_default_timeout(15_000)
    await found.goto(f"{served.base_url}/dashboard/signin")
    await found.fill("#api_key", served.key)
    await found.click("button[type=submit]")
    await expect(found).to_have_url(re.compile(r"/dashboard/campaigns$"))
    yield found
    await context.close()
