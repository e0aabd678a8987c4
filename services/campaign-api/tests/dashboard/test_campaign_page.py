"""A campaign's page: status actions, failures, counts, timeline; not found; other workspaces."""

from __future__ import annotations

import re
import uuid
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine

from campaign_api import db, handlers, usecases
from contracts import CampaignScheduled, EmailFailed, EmailSent
from contracts.events import CampaignScheduledPayload, EmailFailedPayload, EmailSentPayload
from contracts.links import LinkClaims, LinkSigner
from servicekit.db import UnitOfWork

NewKey = Callable[[str], Awaitable[str]]  # workspace name -> a new key of it
Dashboard = Callable[..., httpx.AsyncClient]
SignIn = Callable[[httpx.AsyncClient, str], Awaitable[str]]
CreateCampaign = Callable[[httpx.AsyncClient, str], Awaitable[str]]
SIGNER = LinkSigner("k" * 40)  # the key the test settings verify with
SAFARI = ("Mozilla/5.0 (iPhone; CPU iPhone OS 17_4 like Mac OS X) AppleWebKit/605.1.15 "
          "(KHTML, like Gecko) Version/17.4 Mobile/15E148 Safari/604.1")


async def test_pause_resume_and_cancel(
    new_key: NewKey, dashboard: Dashboard, sign_in: SignIn, create_campaign: CreateCampaign,
) -> None:
    key = await new_key("acme")
    async with dashboard() as client:
        csrf = await sign_in(client, key)
        base = (await create_campaign(client, csrf)).split("?")[0]
        for action, badge in (("pause", "Paused"), ("resume", "Active"), ("cancel", "Cancelled")):
            response = await client.post(f"{base}/{action}", data={"csrf_token": csrf})
            assert response.status_code == 303, response.text
            page = await client.get(response.headers["location"])
            assert f'<span class="badge {badge.lower()}">{badge}</span>' in page.text
        again = await client.post(f"{base}/resume", data={"csrf_token": csrf})
        assert "cannot be resumed" in again.text


async def test_another_workspace_sees_nothing(
    new_key: NewKey, dashboard: Dashboard, sign_in: SignIn, create_campaign: CreateCampaign,
    campaign_form: dict[str, Any],
) -> None:
    owner, stranger = await new_key("acme"), await new_key("globex")
    async with dashboard() as a, dashboard() as b:
        base = (await create_campaign(a, await sign_in(a, owner))).split("?")[0]
        csrf = await sign_in(b, stranger)
        for path in (base, f"{base}/edit", f"{base}/audience"):
            response = await b.get(path)
            assert response.status_code == 404, path
            assert "Spring launch" not in response.text
        for action in ("pause", "cancel", "edit", "preview"):
            response = await b.post(f"{base}/{action}", data={**campaign_form, "csrf_token": csrf})
            assert response.status_code == 404, action
        listing = await b.get("/dashboard/campaigns")
        assert "Spring launch" not in listing.text
        still = await a.get(base)
        assert '<span class="badge active">' in still.text


async def test_the_campaign_page_says_why_deliveries_failed(
    new_key: NewKey, dashboard: Dashboard, sign_in: SignIn, create_campaign: CreateCampaign,
    api_engine: AsyncEngine,
) -> None:
    key = await new_key("acme")
    async with dashboard() as client:
        csrf = await sign_in(client, key)
        page_url = (await create_campaign(client, csrf)).split("?")[0]
        campaign_id = uuid.UUID(page_url.rstrip("/").rsplit("/", 1)[1])
        failures = [
            EmailFailedPayload(campaign_id=campaign_id, sequence=1, recipient=r, **fields)
            for r, fields in (
                ("ada@example.com", {"permanent": True, "smtp_code": 550,
                                     "enhanced_code": "5.1.1", "reason": "550 5.1.1 no such user"}),
                ("grace@example.org", {"permanent": False, "smtp_code": 421,
                                       "reason": "gave up after 6 attempts: 421 closing"}))]
        async with UnitOfWork(api_engine) as uow:
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


async def test_a_malformed_id_or_a_path_to_nothing_is_the_not_found_page(
    new_key: NewKey, dashboard: Dashboard, sign_in: SignIn,
) -> None:
    key = await new_key("acme")
    async with dashboard() as client:
        assert (await client.get("/dashboard/campaigns/not-an-id")).headers[
            "location"] == "/dashboard/signin"  # signed out: sign in first, as everywhere
        await sign_in(client, key)
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


async def test_counts_have_separators_and_plurals_are_right(
    new_key: NewKey, dashboard: Dashboard, sign_in: SignIn, campaign_form: dict[str, Any],
) -> None:
    key = await new_key("acme")
    async with dashboard() as client:
        csrf = await sign_in(client, key)
        one = await client.post("/dashboard/campaigns/new", data={
            **campaign_form, "csrf_token": csrf, "recipients": "ada@example.com",
            "duration": "1"})
        page = (await client.get(one.headers["location"])).text
        assert "1 recipient<" in page or "1 recipient " in page
        assert "1 recipients" not in page
        assert "1 emails" not in page
        many = "\n".join(f"r{i}@example.com" for i in range(1_234))
        created = await client.post("/dashboard/campaigns/new", data={
            **campaign_form, "csrf_token": csrf, "name": "Big", "recipients": many})
        base = created.headers["location"].split("?")[0]
        assert "1,234 recipients" in (await client.get(base)).text
        assert "1,234 recipients." in (await client.get(f"{base}/audience")).text
        assert "<td class=\"hide-sm\">1,234</td>" in (await client.get("/dashboard/campaigns")).text


async def test_a_finished_campaign_offers_no_next_email_and_no_import(
    new_key: NewKey, dashboard: Dashboard, sign_in: SignIn, create_campaign: CreateCampaign,
    api_engine: AsyncEngine,
) -> None:
    key = await new_key("acme")
    async with dashboard() as client:
        csrf = await sign_in(client, key)
        base = (await create_campaign(client, csrf)).split("?")[0]
        running = (await client.get(base)).text
        assert 'id="next-email"' in running
        assert "Import a CSV" in (await client.get(f"{base}/audience")).text
        async with api_engine.begin() as conn:
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


async def _plan(engine: AsyncEngine, campaign_id: uuid.UUID, state: str, next_sequence: int,
                times: list[datetime]) -> None:
    """The scheduler's plan, as campaign-api projects it from campaign.scheduled."""
    async with UnitOfWork(engine) as uow:
        await handlers.on_campaign_scheduled(CampaignScheduled.create(CampaignScheduledPayload(
            campaign_id=campaign_id, state=state, total_emails=6,  # type: ignore[arg-type]
            next_sequence=next_sequence, next_send_times=times), workspace_id=uuid.uuid4()), uow)
        await uow.commit()


async def test_the_planned_emails_stay_through_pause_and_resume(
    new_key: NewKey, dashboard: Dashboard, sign_in: SignIn, create_campaign: CreateCampaign,
    api_engine: AsyncEngine,
) -> None:
    key = await new_key("acme")
    async with dashboard() as client:
        csrf = await sign_in(client, key)
        base = (await create_campaign(client, csrf)).split("?")[0]
        cid = uuid.UUID(base.rsplit("/", 1)[1])
        now = datetime.now(UTC)
        await _plan(api_engine, cid, "active", 2, [now + timedelta(days=d) for d in range(1, 6)])
        assert (await client.get(base)).text.count('<li class="planned">') == 5
        await client.post(f"{base}/pause", data={"csrf_token": csrf})
        await _plan(api_engine, cid, "paused", 2, [])
        paused = (await client.get(base)).text
        assert paused.count('<li class="planned">') == 5
        assert "On hold" in paused
        resumed = await client.post(f"{base}/resume", data={"csrf_token": csrf})
        page = (await client.get(resumed.headers["location"])).text  # before any new plan
        assert "Campaign resumed" in page
        assert page.count('<li class="planned">') == 5
        assert "On hold" not in page


async def test_an_email_due_but_not_yet_written_has_its_place_in_the_timeline(
    new_key: NewKey, dashboard: Dashboard, sign_in: SignIn, create_campaign: CreateCampaign,
    api_engine: AsyncEngine,
) -> None:
    key = await new_key("acme")
    async with dashboard() as client:
        csrf = await sign_in(client, key)
        base = (await create_campaign(client, csrf)).split("?")[0]
        now = datetime.now(UTC)
        # Email 1 went due at the start a moment ago; the writer has not reported it yet.
        await _plan(api_engine, uuid.UUID(base.rsplit("/", 1)[1]), "active", 1,
                    [now - timedelta(seconds=1)] + [now + timedelta(days=d) for d in (1, 2)])
        page = (await client.get(base)).text
        timeline = page[page.index('id="timeline"'):]
        numbers = re.findall(r'<span class="num">(\d+)</span>', timeline)
        assert numbers == ["1", "2", "3"]
        assert "Being written…" in timeline


async def test_the_campaign_page_shows_peoples_opens_and_clicks_beside_all_of_them(
    new_key: NewKey, dashboard: Dashboard, sign_in: SignIn, create_campaign: CreateCampaign,
    api_engine: AsyncEngine,
) -> None:
    key = await new_key("acme")
    async with dashboard() as client:
        csrf = await sign_in(client, key)
        page_url = (await create_campaign(client, csrf)).split("?")[0]
        campaign_id = uuid.UUID(page_url.rstrip("/").rsplit("/", 1)[1])
        workspace_id = await _workspace_of(api_engine, campaign_id)
        async with UnitOfWork(api_engine) as uow:
            for person in ("ada@example.com", "grace@example.org"):
                await handlers.on_email_sent(EmailSent.create(EmailSentPayload(
                    campaign_id=campaign_id, sequence=1, recipient=person, message_id="<m@x>"),
                    workspace_id=workspace_id, occurred_at=datetime.now(UTC) - timedelta(hours=1)
                ), uow)
            await uow.commit()
        for person, agent in (("ada@example.com", "Mozilla/5.0"),  # Apple's proxy
                              ("grace@example.org", "Mozilla/5.0"),
                              ("grace@example.org", SAFARI)):
            await usecases.record_open(api_engine, SIGNER, SIGNER.sign("open", LinkClaims(
                workspace_id, campaign_id, 1, person)), user_agent=agent)
        await usecases.record_click(api_engine, SIGNER, SIGNER.sign("click", LinkClaims(
            workspace_id, campaign_id, 1, "ada@example.com", url="https://example.com/")),
            user_agent="python-requests/2.31")
        page = (await client.get(page_url)).text
        opens = " ".join(page[page.index('id="open-rate"'):].split("</div></div>")[0].split())
        clicks = " ".join(page[page.index('id="click-rate"'):].split("</div></div>")[0].split())
        assert "50.0%" in opens  # one person of two sent
        assert "1 person · all: 100.0%, 3 opens" in opens
        assert "0.0%" in clicks
        assert "0 people · all: 50.0%, 1 click" in clicks


async def _workspace_of(engine: AsyncEngine, campaign_id: uuid.UUID) -> uuid.UUID:
    async with engine.connect() as conn:
        found: uuid.UUID = (await conn.execute(sa.select(db.campaigns.c.workspace_id).where(
            db.campaigns.c.id == campaign_id))).scalar_one()
    return found


async def test_a_journey_shows_on_the_campaign_pages(
    new_key: NewKey, dashboard: Dashboard, sign_in: SignIn,
) -> None:
    key = await new_key("acme")
    journey = {"name": "Welcome", "kind": "journey", "ai_agent_id": "openai/gpt-4",
               "journey": {"trigger": {"type": "event_received", "name": "signed_up"},
                           "start": "hello", "steps": [
                               {"type": "email", "id": "hello", "goal": "Say hello",
                                "next": "done"},
                               {"type": "exit", "id": "done"}]}}
    async with dashboard() as client:
        created = await client.post("/api/campaigns/", json=journey,
                                    headers={"Authorization": f"Bearer {key}"})
        assert created.status_code == 201, created.text
        await sign_in(client, key)
        listed = await client.get("/dashboard/campaigns")
        assert listed.status_code == 200
        assert "Welcome" in listed.text
        page = await client.get(f"/dashboard/campaigns/{created.json()['id']}")
        assert page.status_code == 200, page.text
