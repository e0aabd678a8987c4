"""The dashboard over HTTP against a real, migrated database: sessions, CSRF, forms, isolation."""

from __future__ import annotations

import mailbox
import os
import re
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage
from pathlib import Path

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from campaign_api import db, handlers, usecases
from campaign_api.app import create_app
from campaign_api.dashboard.auth import COOKIE
from campaign_api.dashboard.settings import DashboardSettings
from campaign_api.usecases import accounts
from contracts import CampaignScheduled, EmailFailed
from contracts.events import CampaignScheduledPayload, EmailFailedPayload
from contracts.links import LinkClaims, LinkSigner
from servicekit.db import UnitOfWork, create_engine
from testkit.fixtures import CreateDatabase

CAMPAIGN_FORM = {
    "name": "Spring launch", "brief": "Three emails about the new planner.",
    "brand_voice": "Warm", "audience_description": "Gardeners",
    "schedule_type": "weekly", "weekly_days": ["2", "4"], "weekly_emails": "",
    "duration": "6", "duration_unit": "emails", "start_date": "", "send_time": "08:30",
    "timezone": "Europe/Berlin", "model": "openai/gpt-4o-mini", "from_name": "", "from_email": "",
    "recipients": "ada@example.com\nGrace Hopper <grace@example.org>",
}


@pytest.fixture
async def engine(migrated_database: CreateDatabase) -> AsyncIterator[AsyncEngine]:
    engine = create_engine(await migrated_database("campaign_api"))
    yield engine
    await engine.dispose()


async def _key(engine: AsyncEngine, workspace: str) -> str:
    ws = await accounts.create_workspace(engine, workspace)
    created = await accounts.create_api_key(engine, ws.id, "dashboard test")
    return created.key


def _client(engine: AsyncEngine, maildir: Path | None = None,
            base_url: str = "http://dash") -> httpx.AsyncClient:
    app = create_app(engine, [])
    app.state.dashboard_settings = DashboardSettings(
        CAMPAIGN_API_SESSION_SECRET="s" * 40, DEV_MAILDIR=maildir)
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url=base_url)


def _csrf(html: str) -> str:
    found = re.search(r'name="csrf_token" value="([^"]+)"', html)
    assert found, "the page has no CSRF field"
    return found.group(1)


async def _sign_in(client: httpx.AsyncClient, key: str) -> str:
    page = await client.get("/dashboard/signin")
    response = await client.post("/dashboard/signin",
                                 data={"csrf_token": _csrf(page.text), "api_key": key})
    assert response.status_code == 303, response.text
    campaigns = await client.get("/dashboard/campaigns")
    assert campaigns.status_code == 200
    return _csrf(campaigns.text)


async def _create(client: httpx.AsyncClient, csrf: str) -> str:
    """The new campaign's page, as the form redirects to it."""
    response = await client.post("/dashboard/campaigns/new",
                                 data={**CAMPAIGN_FORM, "csrf_token": csrf})
    assert response.status_code == 303, response.text
    location: str = response.headers["location"]
    return location


async def test_pages_need_a_session(engine: AsyncEngine) -> None:
    async with _client(engine) as client:
        for path in ("/dashboard/campaigns", "/dashboard/campaigns/new",
                     f"/dashboard/campaigns/{uuid.uuid4()}", "/dashboard/api/schedule-preview"):
            response = await client.get(path)
            assert response.status_code == 303, path
            assert response.headers["location"] == "/dashboard/signin"


async def test_signing_in_sets_a_protected_session_cookie(engine: AsyncEngine) -> None:
    key = await _key(engine, "acme")
    async with _client(engine, base_url="https://dash") as client:
        page = await client.get("/dashboard/signin")
        wrong = await client.post("/dashboard/signin",
                                  data={"csrf_token": _csrf(page.text), "api_key": "cb_nope"})
        assert wrong.status_code == 401
        assert "not valid" in wrong.text
        ok = await client.post("/dashboard/signin",
                               data={"csrf_token": _csrf(page.text), "api_key": key})
        assert ok.status_code == 303
        cookie = ok.headers["set-cookie"]
        assert cookie.startswith(f"{COOKIE}=")
        for flag in ("HttpOnly", "SameSite=lax", "Secure", "Path=/dashboard"):
            assert flag.lower() in cookie.lower(), flag
        assert key not in cookie


async def test_a_form_without_the_session_token_is_refused(engine: AsyncEngine) -> None:
    key = await _key(engine, "acme")
    async with _client(engine) as client:
        csrf = await _sign_in(client, key)
        forged = await client.post("/dashboard/campaigns/new",
                                   data={**CAMPAIGN_FORM, "csrf_token": "x" * 43})
        assert forged.status_code == 403
        missing = await client.post("/dashboard/campaigns/new", data=CAMPAIGN_FORM)
        assert missing.status_code == 403
        cross_site = await client.post(
            "/dashboard/campaigns/new", data={**CAMPAIGN_FORM, "csrf_token": csrf},
            headers={"Origin": "https://evil.example"})
        assert cross_site.status_code == 403
        listing = await client.get("/dashboard/campaigns")
        assert "No campaigns yet" in listing.text


async def test_sign_in_itself_needs_the_token(engine: AsyncEngine) -> None:
    key = await _key(engine, "acme")
    async with _client(engine) as client:
        response = await client.post("/dashboard/signin", data={"api_key": key})
        assert response.status_code == 403


async def test_a_tampered_cookie_is_no_session(engine: AsyncEngine) -> None:
    key = await _key(engine, "acme")
    async with _client(engine) as client:
        await _sign_in(client, key)
        value = client.cookies[COOKIE]
        middle = len(value) // 3  # inside the (compressed) payload, before the signature
        tampered = value[:middle] + ("A" if value[middle] != "A" else "B") + value[middle + 1:]
        client.cookies.clear()
        client.cookies.set(COOKIE, tampered)
        response = await client.get("/dashboard/campaigns")
        assert response.status_code == 303


async def test_revoking_the_key_ends_its_sessions(engine: AsyncEngine) -> None:
    ws = await accounts.create_workspace(engine, "acme")
    created = await accounts.create_api_key(engine, ws.id, "soon revoked")
    async with _client(engine) as client:
        await _sign_in(client, created.key)
        await accounts.revoke_api_key(engine, ws.id, created.id)
        response = await client.get("/dashboard/campaigns")
        assert response.status_code == 303


async def test_a_cookie_saved_before_signing_out_no_longer_opens_the_dashboard(
        engine: AsyncEngine) -> None:
    key = await _key(engine, "acme")
    async with _client(engine) as client:
        csrf = await _sign_in(client, key)
        saved = client.cookies[COOKIE]
        out = await client.post("/dashboard/signout", data={"csrf_token": csrf})
        assert out.status_code == 303
        assert (await client.get("/dashboard/campaigns")).status_code == 303
        client.cookies.clear()
        client.cookies.set(COOKIE, saved, path="/dashboard")
        replayed = await client.get("/dashboard/campaigns")
        assert replayed.status_code == 303
        assert replayed.headers["location"] == "/dashboard/signin"
        # The sign-in page offers a fresh sign-in instead of bouncing to the campaigns.
        page = await client.get("/dashboard/signin")
        assert page.status_code == 200
        assert "Sign in" in page.text
        # Signing in again starts a new session; the key itself still works.
        await _sign_in(client, key)


async def test_failed_sign_ins_are_limited_per_client_address(engine: AsyncEngine) -> None:
    key = await _key(engine, "acme")
    async with _client(engine) as client:
        page = await client.get("/dashboard/signin")
        form = {"csrf_token": _csrf(page.text), "api_key": "cb_wrong"}
        answers = [(await client.post("/dashboard/signin", data=form)).status_code
                   for _ in range(12)]
        assert answers == [401] * 10 + [429] * 2  # past the default burst of failures
        limited = await client.post("/dashboard/signin", data={**form, "api_key": key})
        # Even the right key waits: a guess must not be confirmed while limited.
        assert limited.status_code == 429
        assert int(limited.headers["retry-after"]) >= 1
        assert "Too many failed sign-ins" in limited.text


async def test_a_campaign_made_with_the_form_is_listed_and_shown(engine: AsyncEngine) -> None:
    key = await _key(engine, "acme")
    async with _client(engine) as client:
        csrf = await _sign_in(client, key)
        location = await _create(client, csrf)
        listing = await client.get("/dashboard/campaigns")
        assert "Spring launch" in listing.text
        page = await client.get(location)
        assert page.status_code == 200
        assert "Campaign created" in page.text
        assert "Europe/Berlin" in page.text
        audience = await client.get(location.split("?")[0] + "/audience")
        assert "grace@example.org" in audience.text
        assert "Grace Hopper" in audience.text


async def test_an_invalid_form_comes_back_filled_in_with_messages(engine: AsyncEngine) -> None:
    key = await _key(engine, "acme")
    async with _client(engine) as client:
        csrf = await _sign_in(client, key)
        response = await client.post("/dashboard/campaigns/new", data={
            **CAMPAIGN_FORM, "csrf_token": csrf, "weekly_days": [], "recipients": "not-an-address",
            "name": "Kept <b>name</b>"})
        assert response.status_code == 422
        assert "Kept &lt;b&gt;name&lt;/b&gt;" in response.text  # escaped, and kept
        assert 'id="weekly_days-error"' in response.text
        assert 'id="recipients-error"' in response.text


async def test_pause_resume_and_cancel(engine: AsyncEngine) -> None:
    key = await _key(engine, "acme")
    async with _client(engine) as client:
        csrf = await _sign_in(client, key)
        base = (await _create(client, csrf)).split("?")[0]
        for action, badge in (("pause", "Paused"), ("resume", "Active"), ("cancel", "Cancelled")):
            response = await client.post(f"{base}/{action}", data={"csrf_token": csrf})
            assert response.status_code == 303, response.text
            page = await client.get(response.headers["location"])
            assert f'<span class="badge {badge.lower()}">{badge}</span>' in page.text
        again = await client.post(f"{base}/resume", data={"csrf_token": csrf})
        assert "cannot be resumed" in again.text


async def test_the_edit_form_changes_the_campaign(engine: AsyncEngine) -> None:
    key = await _key(engine, "acme")
    async with _client(engine) as client:
        csrf = await _sign_in(client, key)
        base = (await _create(client, csrf)).split("?")[0]
        form = await client.get(f"{base}/edit")
        assert 'value="Spring launch"' in form.text
        assert '<option value="Europe/Berlin" selected>' in form.text
        changed = {**CAMPAIGN_FORM, "csrf_token": csrf, "name": "Spring launch, revised",
                   "schedule_type": "daily", "timezone": "Asia/Tokyo"}
        response = await client.post(f"{base}/edit", data=changed)
        assert response.status_code == 303, response.text
        page = await client.get(response.headers["location"])
        assert "Changes saved" in page.text
        assert "Spring launch, revised" in page.text
        assert "Daily" in page.text
        assert "Asia/Tokyo" in page.text


async def test_another_workspace_sees_nothing(engine: AsyncEngine) -> None:
    owner, stranger = await _key(engine, "acme"), await _key(engine, "globex")
    async with _client(engine) as a, _client(engine) as b:
        base = (await _create(a, await _sign_in(a, owner))).split("?")[0]
        csrf = await _sign_in(b, stranger)
        for path in (base, f"{base}/edit", f"{base}/audience"):
            response = await b.get(path)
            assert response.status_code == 404, path
            assert "Spring launch" not in response.text
        for action in ("pause", "cancel", "edit", "preview"):
            response = await b.post(f"{base}/{action}", data={**CAMPAIGN_FORM, "csrf_token": csrf})
            assert response.status_code == 404, action
        listing = await b.get("/dashboard/campaigns")
        assert "Spring launch" not in listing.text
        still = await a.get(base)
        assert '<span class="badge active">' in still.text


async def test_the_campaign_page_says_why_deliveries_failed(engine: AsyncEngine) -> None:
    key = await _key(engine, "acme")
    async with _client(engine) as client:
        csrf = await _sign_in(client, key)
        page_url = (await _create(client, csrf)).split("?")[0]
        campaign_id = uuid.UUID(page_url.rstrip("/").rsplit("/", 1)[1])
        failures = [
            EmailFailedPayload(campaign_id=campaign_id, sequence=1, recipient=r, **fields)
            for r, fields in (
                ("ada@example.com", {"permanent": True, "smtp_code": 550,
                                     "enhanced_code": "5.1.1", "reason": "550 5.1.1 no such user"}),
                ("grace@example.org", {"permanent": False, "smtp_code": 421,
                                       "reason": "gave up after 6 attempts: 421 closing"}))]
        async with UnitOfWork(engine) as uow:
            for minute, payload in enumerate(failures):  # the second one is the latest
                await handlers.on_email_failed(EmailFailed.create(
                    payload, workspace_id=uuid.uuid4(),
                    occurred_at=datetime(2026, 5, 4, 9, minute, tzinfo=UTC)), uow)
            await uow.commit()
        page = await client.get(page_url)
        assert page.status_code == 200
        failure = page.text[page.text.index('class="meta failure"'):][:600]
        assert "1 bounced, 1 expired" in failure
        assert "grace@example.org, expired (421): gave up after 6 attempts: 421 closing" in (
            " ".join(failure.split()))


async def test_the_schedule_preview_follows_the_form(engine: AsyncEngine) -> None:
    key = await _key(engine, "acme")
    async with _client(engine) as client:
        await _sign_in(client, key)
        response = await client.get("/dashboard/api/schedule-preview", params=[
            ("schedule_type", "weekly"), ("weekly_days", "1"), ("weekly_days", "3"),
            ("duration", "3"), ("duration_unit", "emails"), ("start_date", "2099-03-01"),
            ("send_time", "09:00"), ("timezone", "America/New_York")])
        body = response.json()
        assert body["complete"] is True
        # New York springs forward on Sunday 8 March 2099: 09:00 stays 09:00, the offset moves.
        assert [t["iso"] for t in body["times"]] == [
            "2099-03-02T09:00:00-05:00", "2099-03-04T09:00:00-05:00",
            "2099-03-09T09:00:00-04:00"]
        incomplete = await client.get("/dashboard/api/schedule-preview",
                                      params={"schedule_type": "weekly", "timezone": "Nowhere/X"})
        assert incomplete.json() == {"times": [], "complete": False}


async def test_the_preview_shows_the_days_fewer_weekly_emails_than_days_use(
    engine: AsyncEngine,
) -> None:
    key = await _key(engine, "acme")
    async with _client(engine) as client:
        csrf = await _sign_in(client, key)
        # The design's example: 2 emails a week on Monday, Wednesday and Friday.
        fields = {**CAMPAIGN_FORM, "weekly_days": ["1", "3", "5"], "weekly_emails": "2",
                  "start_date": "2099-03-02", "timezone": "UTC"}
        response = await client.get("/dashboard/api/schedule-preview", params=fields)
        body = response.json()
        assert (body["send_days"], body["days"]) == ([1, 5], "Sends on Mon and Fri")
        assert [t["date"][:3] for t in body["times"]] == ["Mon", "Fri", "Mon", "Fri", "Mon"]
        # Refused for its missing name, the form comes back with the same preview.
        page = await client.post("/dashboard/campaigns/new",
                                 data={**fields, "name": "", "csrf_token": csrf})
        assert 'id="schedule-days"' in page.text
        assert "Sends on Mon and Fri" in page.text
        created = await client.post("/dashboard/campaigns/new",
                                    data={**fields, "csrf_token": csrf})
        assert created.status_code == 303, created.text
        campaign = await client.get(created.headers["location"])
        assert "Weekly on Mon, Fri" in " ".join(campaign.text.split())


@pytest.mark.parametrize(("field", "value"), [
    ("send_time", "09:00+02:00"), ("send_time", "9am"), ("weekly_emails", "2.5"),
    ("weekly_emails", "two"), ("duration", "1e3"),
])
async def test_a_form_with_a_field_read_strictly_is_shown_again_with_its_error(
    engine: AsyncEngine, field: str, value: str
) -> None:
    key = await _key(engine, "acme")
    async with _client(engine) as client:
        csrf = await _sign_in(client, key)
        response = await client.post("/dashboard/campaigns/new",
                                     data={**CAMPAIGN_FORM, field: value, "csrf_token": csrf})
        assert response.status_code == 422, response.text[:300]
        assert f'id="{field}-error"' in response.text, field
        listing = await client.get("/dashboard/campaigns")
        assert "Spring launch" not in listing.text


async def test_csv_import_reports_rejected_rows(engine: AsyncEngine) -> None:
    key = await _key(engine, "acme")
    async with _client(engine) as client:
        csrf = await _sign_in(client, key)
        base = (await _create(client, csrf)).split("?")[0]
        csv = b"email,name,Company\nlin@example.net,Linus,Kernel\nbroken,No,One\n"
        response = await client.post(
            f"{base}/recipients/import",
            data={"csrf_token": csrf}, files={"file": ("people.csv", csv, "text/csv")})
        assert response.status_code == 200, response.text
        report = response.text[response.text.index('id="import-report"'):]
        assert "people.csv" in report
        assert re.search(r"<dt>Added</dt><dd>1</dd>", report)
        assert re.search(r"<dt>Rejected</dt><dd>1</dd>", report)
        assert "<td>3</td>" in report  # the bad row's line, header being line 1
        assert "lin@example.net" in response.text


def _deliver(maildir: Path, subject: str, to: str, campaign: str,
             received: float | None = None) -> str:
    """Stores a message as the sink does (as the mailer sent it for `campaign`); its key."""
    message = EmailMessage()
    message["Subject"], message["To"], message["From"] = subject, to, "news@acme.test"
    message["Date"] = "Tue, 01 Dec 2026 09:00:00 +0000"
    message["List-Id"] = f'"Spring launch" <{campaign}.acme.test>'
    message.set_content("Plain words")
    message.add_alternative("<p>Rich <script>alert(1)</script>words</p>", subtype="html")
    for sub in ("tmp", "new", "cur"):
        (maildir / sub).mkdir(exist_ok=True)
    box = mailbox.Maildir(maildir, create=False)
    key = box.add(message.as_bytes())
    if received is not None:  # when the sink stored it
        os.utime(maildir / "new" / key, (received, received))
    return key


def _campaign_id(location: str) -> str:
    return location.rsplit("/", 1)[-1].split("?")[0]


async def test_the_outbox_lists_and_shows_received_mail(engine: AsyncEngine,
                                                        tmp_path: Path) -> None:
    key = await _key(engine, "acme")
    async with _client(engine, maildir=tmp_path) as client:
        campaign = _campaign_id(await _create(client, await _sign_in(client, key)))
        _deliver(tmp_path, "Hello & welcome", "ada@example.com", campaign)
        listing = await client.get("/dashboard/outbox")
        assert "Hello &amp; welcome" in listing.text
        link = re.search(r'href="(/dashboard/outbox/[^"?]+)"', listing.text)
        assert link
        message = await client.get(link.group(1))
        assert 'sandbox=""' in message.text
        # Nothing in a shown email is fetched: no open pixel fires when a developer looks.
        assert "img-src data:" in message.headers["content-security-policy"]
        assert "frame-ancestors 'none'" in listing.headers["content-security-policy"]
        # The HTML part is only ever an attribute value: escaped, and inert in the sandbox.
        assert "<script>alert" not in message.text
        assert "&lt;script&gt;alert(1)&lt;/script&gt;" in message.text
        assert "Plain words" in message.text
        missing = await client.get("/dashboard/outbox/..%2F..%2Fetc%2Fpasswd")
        assert missing.status_code == 404


def _image_sources(response: httpx.Response) -> list[str]:
    policy = dict(d.strip().split(" ", 1) for d in
                  response.headers["content-security-policy"].split(";"))
    return policy["img-src"].split()


async def test_every_page_may_load_its_own_icon_and_a_shown_email_nothing_else(
        engine: AsyncEngine, tmp_path: Path) -> None:
    async with _client(engine, maildir=tmp_path) as client:
        signin = await client.get("/dashboard/signin")
        campaign_page = await _create(client, await _sign_in(client, await _key(engine, "acme")))
        key = _deliver(tmp_path, "Hi", "ada@example.com", _campaign_id(campaign_page))
        pages = [signin, await client.get("/dashboard/campaigns"),
                 await client.get(campaign_page), await client.get(f"/dashboard/outbox/{key}")]
        for page in pages:
            icon = re.search(r'<link rel="icon" href="([^"]+)"', page.text)
            assert icon, page.url
            sources = _image_sources(page)
            assert "'self'" in sources or any(
                f"http://dash{icon.group(1)}".startswith(s) for s in sources), (page.url, sources)
        # Where an email is shown, only data: and the static files: no pixel, no tracked link.
        assert _image_sources(pages[-1]) == ["data:", "http://dash/dashboard/static/"]
        assert _image_sources(pages[2]) == ["data:", "http://dash/dashboard/static/"]


async def test_each_workspace_sees_only_the_mail_of_its_own_campaigns(
        engine: AsyncEngine, tmp_path: Path) -> None:
    async with (_client(engine, maildir=tmp_path) as acme,
                _client(engine, maildir=tmp_path) as other):
        ours = _campaign_id(await _create(acme, await _sign_in(acme, await _key(engine, "acme"))))
        theirs = _campaign_id(await _create(
            other, await _sign_in(other, await _key(engine, "globex"))))
        _deliver(tmp_path, "For acme", "ada@example.com", ours)
        foreign = _deliver(tmp_path, "For globex", "grace@example.org", theirs)
        _deliver(tmp_path, "For nobody we know", "x@example.net", str(uuid.uuid4()))
        listing = (await acme.get("/dashboard/outbox")).text
        assert "For acme" in listing
        assert "For globex" not in listing
        assert "For nobody" not in listing
        # Its unsubscribe and tracking links stay with its own workspace.
        assert (await acme.get(f"/dashboard/outbox/{foreign}")).status_code == 404
        assert (await other.get(f"/dashboard/outbox/{foreign}")).status_code == 200
        assert "For acme" not in (await other.get("/dashboard/outbox")).text


async def test_the_outbox_pages_newest_first(engine: AsyncEngine, tmp_path: Path) -> None:
    async with _client(engine, maildir=tmp_path) as client:
        campaign = _campaign_id(await _create(client, await _sign_in(client,
                                                                    await _key(engine, "acme"))))
        # Received one second apart, stored in a shuffled order.
        order = [37, 3, 59, 0, 12, 44, 25, 51, 8, 30] + [
            n for n in range(60) if n not in {37, 3, 59, 0, 12, 44, 25, 51, 8, 30}]
        for n in order:
            _deliver(tmp_path, f"Email number {n:02d}", "ada@example.com", campaign,
                     received=1_800_000_000 + n)
        seen: list[str] = []
        path = "/dashboard/outbox"
        for _ in range(5):  # more pages than there are, to see that paging ends
            page = (await client.get(path)).text
            seen += re.findall(r"Email number (\d\d)", page)
            older = re.search(r'href="(\?before=[^"]+)"', page)
            if older is None:
                break
            path = "/dashboard/outbox" + older.group(1).replace("&amp;", "&")
        assert seen == [f"{n:02d}" for n in range(59, -1, -1)]
        first = (await client.get("/dashboard/outbox")).text
        assert len(re.findall(r"Email number", first)) == 50
        # A new message heads the first page at once; an unknown cursor starts over.
        _deliver(tmp_path, "Email number 99", "ada@example.com", campaign,
                 received=1_800_000_100)
        assert re.findall(r"Email number (\d\d)", (await client.get(
            "/dashboard/outbox?before=no-such-key")).text)[:2] == ["99", "59"]


async def test_without_the_sink_there_is_no_outbox(engine: AsyncEngine) -> None:
    key = await _key(engine, "acme")
    async with _client(engine) as client:
        await _sign_in(client, key)
        assert (await client.get("/dashboard/outbox")).status_code == 404
        assert ">Outbox<" not in (await client.get("/dashboard/campaigns")).text


async def test_an_invalid_form_shows_every_error_at_once_in_plain_words(
    engine: AsyncEngine,
) -> None:
    key = await _key(engine, "acme")
    async with _client(engine) as client:
        csrf = await _sign_in(client, key)
        # Field errors (name, length, time, model, sender) and the cross-field checks behind
        # them (no weekday, no recipient), in one answer.
        response = await client.post("/dashboard/campaigns/new", data={
            **CAMPAIGN_FORM, "csrf_token": csrf, "name": "", "duration": "0",
            "send_time": "25:00", "model": "not a model!", "from_email": "nobody",
            "weekly_days": [], "recipients": ""})
        assert response.status_code == 422
        shown = dict(re.findall(r'<span class="error-text" id="([a-z_]+)-error">([^<]*)</span>',
                                response.text))
        assert shown == {
            "name": "Required.", "duration": "At least 1.",
            "send_time": "A time of day such as 09:00 or 09:00:00, without an offset.",
            "model": "Use a model name such as openai/gpt-4o-mini: letters, digits and "
                     ". _ : / @ - only.",
            "from_email": "Enter an email address such as ada@example.com.",
            "weekly_days": "A weekly schedule needs at least one weekday.",
            "recipients": "At least one recipient is required.",
        }
        for raw in ("Input should", "String should", "Value error", "total_emails"):
            assert raw not in response.text, raw


async def test_the_edit_form_too_shows_every_error_at_once(engine: AsyncEngine) -> None:
    key = await _key(engine, "acme")
    async with _client(engine) as client:
        csrf = await _sign_in(client, key)
        base = (await _create(client, csrf)).split("?")[0]
        response = await client.post(f"{base}/edit", data={
            **CAMPAIGN_FORM, "csrf_token": csrf, "name": "", "weekly_days": [],
            "duration": ""})
        assert response.status_code == 422
        shown = dict(re.findall(r'<span class="error-text" id="([a-z_]+)-error">([^<]*)</span>',
                                response.text))
        assert shown == {
            "name": "Required.",
            "weekly_days": "A weekly schedule needs at least one weekday.",
            "duration": "Give the campaign a length: a number of emails or months.",
        }


async def test_a_malformed_id_or_a_path_to_nothing_is_the_not_found_page(
    engine: AsyncEngine,
) -> None:
    key = await _key(engine, "acme")
    async with _client(engine) as client:
        assert (await client.get("/dashboard/campaigns/not-an-id")).headers[
            "location"] == "/dashboard/signin"  # signed out: sign in first, as everywhere
        await _sign_in(client, key)
        for path in ("/dashboard/campaigns/not-an-id", "/dashboard/campaigns/123/audience",
                     "/dashboard/campaigns/not-an-id/edit", "/dashboard/nothing-here"):
            response = await client.get(path)
            assert response.status_code == 404, path
            assert response.headers["content-type"].startswith("text/html"), path
            assert "No such" in response.text
            assert "Back to campaigns" in response.text
        assert "No such campaign" in (await client.get("/dashboard/campaigns/x")).text
        api = await client.get("/api/campaigns/not-an-id")  # the API keeps its problems
        assert api.headers["content-type"] == "application/problem+json"


async def test_counts_have_separators_and_plurals_are_right(engine: AsyncEngine) -> None:
    key = await _key(engine, "acme")
    async with _client(engine) as client:
        csrf = await _sign_in(client, key)
        one = await client.post("/dashboard/campaigns/new", data={
            **CAMPAIGN_FORM, "csrf_token": csrf, "recipients": "ada@example.com",
            "duration": "1"})
        page = (await client.get(one.headers["location"])).text
        assert "1 recipient<" in page or "1 recipient " in page
        assert "1 recipients" not in page
        assert "1 emails" not in page
        many = "\n".join(f"r{i}@example.com" for i in range(1_234))
        created = await client.post("/dashboard/campaigns/new", data={
            **CAMPAIGN_FORM, "csrf_token": csrf, "name": "Big", "recipients": many})
        base = created.headers["location"].split("?")[0]
        assert "1,234 recipients" in (await client.get(base)).text
        assert "1,234 recipients." in (await client.get(f"{base}/audience")).text
        assert "<td class=\"hide-sm\">1,234</td>" in (await client.get("/dashboard/campaigns")).text


async def test_a_finished_campaign_offers_no_next_email_and_no_import(
    engine: AsyncEngine,
) -> None:
    key = await _key(engine, "acme")
    async with _client(engine) as client:
        csrf = await _sign_in(client, key)
        base = (await _create(client, csrf)).split("?")[0]
        running = (await client.get(base)).text
        assert 'id="next-email"' in running
        assert "Import a CSV" in (await client.get(f"{base}/audience")).text
        async with engine.begin() as conn:
            await db.mark_completed(conn, uuid.UUID(base.rsplit("/", 1)[1]))
        done = (await client.get(base)).text
        assert '<span class="badge completed">' in done
        assert 'id="next-email"' not in done
        assert "Preview" not in done
        audience = (await client.get(f"{base}/audience")).text
        assert "Import a CSV" not in audience
        assert "takes no new recipients" in audience
        refused = await client.post(f"{base}/recipients/import", data={"csrf_token": csrf},
                                    files={"file": ("late.csv", b"email\nl@example.com\n")})
        assert refused.status_code == 409
        assert "takes no new recipients" in refused.text


async def test_the_audience_marks_who_unsubscribed_or_bounced(engine: AsyncEngine) -> None:
    key = await _key(engine, "acme")
    async with _client(engine) as client:
        csrf = await _sign_in(client, key)
        base = (await _create(client, csrf)).split("?")[0]
        workspace = await accounts.authenticate(engine, key)
        assert workspace is not None
        signer = LinkSigner("k" * 40)
        await usecases.unsubscribe(engine, signer, signer.sign("unsubscribe", LinkClaims(
            workspace_id=workspace, campaign_id=uuid.UUID(base.rsplit("/", 1)[1]), sequence=1,
            email="grace@example.org")))
        rows = re.findall(r"<tr( class=\"unsubscribed\")?><td>([^<\s]+)",
                          (await client.get(f"{base}/audience")).text)
        assert rows == [("", "ada@example.com"), (' class="unsubscribed"', "grace@example.org")]
        async with UnitOfWork(engine) as uow:
            await handlers.on_email_failed(EmailFailed.create(EmailFailedPayload(
                campaign_id=uuid.UUID(base.rsplit("/", 1)[1]), sequence=1,
                recipient="ada@example.com", permanent=True, smtp_code=550,
                reason="550 5.1.1 no such user"), workspace_id=workspace), uow)
            await uow.commit()
        page = (await client.get(f"{base}/audience")).text
        ada = page[page.index("<td>ada@example.com"):page.index("<td>grace@example.org")]
        assert ">Bounced</span>" in ada
        assert ">Unsubscribed</span>" not in ada


async def _plan(engine: AsyncEngine, campaign_id: uuid.UUID, state: str, next_sequence: int,
                times: list[datetime]) -> None:
    """The scheduler's plan, as campaign-api projects it from campaign.scheduled."""
    async with UnitOfWork(engine) as uow:
        await handlers.on_campaign_scheduled(CampaignScheduled.create(CampaignScheduledPayload(
            campaign_id=campaign_id, state=state, total_emails=6,  # type: ignore[arg-type]
            next_sequence=next_sequence, next_send_times=times), workspace_id=uuid.uuid4()), uow)
        await uow.commit()


async def test_the_planned_emails_stay_through_pause_and_resume(engine: AsyncEngine) -> None:
    key = await _key(engine, "acme")
    async with _client(engine) as client:
        csrf = await _sign_in(client, key)
        base = (await _create(client, csrf)).split("?")[0]
        cid = uuid.UUID(base.rsplit("/", 1)[1])
        now = datetime.now(UTC)
        await _plan(engine, cid, "active", 2, [now + timedelta(days=d) for d in range(1, 6)])
        assert (await client.get(base)).text.count('<li class="planned">') == 5
        await client.post(f"{base}/pause", data={"csrf_token": csrf})
        await _plan(engine, cid, "paused", 2, [])
        paused = (await client.get(base)).text
        assert paused.count('<li class="planned">') == 5
        assert "On hold" in paused
        resumed = await client.post(f"{base}/resume", data={"csrf_token": csrf})
        page = (await client.get(resumed.headers["location"])).text  # before any new plan
        assert "Campaign resumed" in page
        assert page.count('<li class="planned">') == 5
        assert "On hold" not in page


async def test_an_email_due_but_not_yet_written_has_its_place_in_the_timeline(
    engine: AsyncEngine,
) -> None:
    key = await _key(engine, "acme")
    async with _client(engine) as client:
        csrf = await _sign_in(client, key)
        base = (await _create(client, csrf)).split("?")[0]
        now = datetime.now(UTC)
        # Email 1 went due at the start a moment ago; the writer has not reported it yet.
        await _plan(engine, uuid.UUID(base.rsplit("/", 1)[1]), "active", 1,
                    [now - timedelta(seconds=1)] + [now + timedelta(days=d) for d in (1, 2)])
        page = (await client.get(base)).text
        timeline = page[page.index('id="timeline"'):]
        numbers = re.findall(r'<span class="num">(\d+)</span>', timeline)
        assert numbers == ["1", "2", "3"]
        assert "Being written…" in timeline
