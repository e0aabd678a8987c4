"""The campaign page's A/B tests: each variant's people's counts, and a button per variant
that sends it to everyone held back while the test runs; once decided, no button."""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime

import httpx
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine

from campaign_api import db, handlers
from contracts import AbTest, ContentGenerated, EmailSent, EmailVariant
from contracts.events import ContentGeneratedPayload, EmailSentPayload
from servicekit.db import UnitOfWork

NewKey = Callable[[str], Awaitable[str]]  # workspace name -> a new key of it
Dashboard = Callable[..., httpx.AsyncClient]
SignIn = Callable[[httpx.AsyncClient, str], Awaitable[str]]
CreateCampaign = Callable[[httpx.AsyncClient, str], Awaitable[str]]
SUBJECTS = {"A": "Tulips are in", "B": "Seen our tulips?"}


async def _tested_email(engine: AsyncEngine, campaign_id: uuid.UUID) -> None:
    """Email 1 in two subject variants, each sent to two people."""
    async with engine.connect() as conn:
        workspace_id = (await conn.execute(sa.select(db.campaigns.c.workspace_id).where(
            db.campaigns.c.id == campaign_id))).scalar_one()
    async with UnitOfWork(engine) as uow:
        await handlers.on_content_generated(ContentGenerated.create(ContentGeneratedPayload(
            campaign_id=campaign_id, sequence=1, send_at=datetime.now(UTC), subject="Tulips",
            body_html="<p>x</p>", body_text="x", model="m", provider="fake", ab_test=AbTest(),
            variants=[EmailVariant(key=k, subject=s) for k, s in SUBJECTS.items()]),
            workspace_id=workspace_id), uow)
        for n, variant in enumerate("AABB"):
            await handlers.on_email_sent(EmailSent.create(EmailSentPayload(
                campaign_id=campaign_id, sequence=1, recipient=f"p{n}@example.com",
                message_id="<m@x>", variant=variant), workspace_id=workspace_id), uow)
        await uow.commit()


async def test_an_operator_sends_a_variant_to_the_rest_from_the_campaign_page(
    new_key: NewKey, dashboard: Dashboard, sign_in: SignIn, create_campaign: CreateCampaign,
    api_engine: AsyncEngine,
) -> None:
    async with dashboard() as client:
        csrf = await sign_in(client, await new_key("acme"))
        page_url = (await create_campaign(client, csrf)).split("?")[0]
        campaign_id = uuid.UUID(page_url.rstrip("/").rsplit("/", 1)[1])
        await _tested_email(api_engine, campaign_id)

        testing = await client.get(page_url)
        assert 'id="ab-tests"' in testing.text
        assert all(s in testing.text for s in SUBJECTS.values())
        assert "Send B to the rest" in testing.text
        assert "testing until" in testing.text

        action = f"{page_url}/emails/1/ab-test/winner"
        picked = await client.post(action, data={"csrf_token": csrf, "variant": "B"})
        assert picked.status_code == 303
        decided = await client.get(picked.headers["location"])
        assert "Winner picked" in decided.text
        assert '<strong class="winner">B</strong> (operator)' in decided.text
        assert "Send A to the rest" not in decided.text

        again = await client.post(action, data={"csrf_token": csrf, "variant": "A"})
        assert "winner-decided" in again.headers["location"]
        forged = await client.post(action, data={"csrf_token": csrf, "variant": "Z"})
        assert "winner-invalid" in forged.headers["location"]
        no_csrf = await client.post(action, data={"variant": "A"})
        assert no_csrf.status_code == 403


async def test_another_workspace_cannot_pick_a_winner(
    new_key: NewKey, dashboard: Dashboard, sign_in: SignIn, create_campaign: CreateCampaign,
    api_engine: AsyncEngine,
) -> None:
    async with dashboard() as a, dashboard() as b:
        page_url = (await create_campaign(a, await sign_in(a, await new_key("acme")))
                    ).split("?")[0]
        campaign_id = uuid.UUID(page_url.rstrip("/").rsplit("/", 1)[1])
        await _tested_email(api_engine, campaign_id)
        csrf = await sign_in(b, await new_key("globex"))

        response = await b.post(f"{page_url}/emails/1/ab-test/winner",
                                data={"csrf_token": csrf, "variant": "B"})

        assert response.status_code == 404
        assert "Send B to the rest" in (await a.get(page_url)).text
