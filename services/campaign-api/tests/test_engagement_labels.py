"""Opens and clicks through the real tracking links are labelled a person's or a machine's,
with the machine's reason, and the stats count the two apart."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine

from campaign_api import db, handlers
from contracts import ContentGenerated, EmailSent
from contracts.events import ContentGeneratedPayload, EmailSentPayload
from contracts.links import LinkClaims, LinkSigner
from servicekit.db import UnitOfWork

MakeClient = Callable[..., Awaitable[httpx.AsyncClient]]
ReadOutbox = Callable[..., Awaitable[list[dict[str, Any]]]]
SIGNER = LinkSigner("k" * 40)  # the key the test settings verify with

SAFARI = ("Mozilla/5.0 (iPhone; CPU iPhone OS 17_4 like Mac OS X) AppleWebKit/605.1.15 "
          "(KHTML, like Gecko) Version/17.4 Mobile/15E148 Safari/604.1")
APPLE_MAIL_PROXY = "Mozilla/5.0"
GMAIL_PROXY = ("Mozilla/5.0 (Windows NT 5.1; rv:11.0) Gecko Firefox/11.0 "
               "(via ggpht.com GoogleImageProxy)")
SCANNER = "python-requests/2.31.0"
LINKS = ("https://shop.example/tulips", "https://shop.example/roses", "https://shop.example/")
BODY = "".join(f'<p><a href="{url}">{url}</a></p>' for url in (*LINKS, LINKS[0]))


class Email:
    """One delivered email of a campaign and its recipients' tracking links."""

    def __init__(self, client: httpx.AsyncClient, workspace_id: uuid.UUID,
                 campaign_id: uuid.UUID) -> None:
        self.client, self.workspace_id, self.campaign_id = client, workspace_id, campaign_id

    def _claims(self, person: str) -> LinkClaims:
        return LinkClaims(self.workspace_id, self.campaign_id, 1, person)

    async def open(self, person: str, agent: str | None) -> httpx.Response:
        token = SIGNER.recipient_tokens(self._claims(person)).open
        return await self._get(f"/o/{token}.gif", agent)

    async def click(self, person: str, url: str, agent: str | None) -> httpx.Response:
        token = SIGNER.recipient_tokens(self._claims(person)).click
        target = SIGNER.sign_target(self.campaign_id, 1, url)
        return await self._get(f"/c/{token}/{target}", agent)

    async def trap(self, person: str, agent: str | None) -> httpx.Response:
        token = SIGNER.recipient_tokens(self._claims(person)).click
        return await self._get(f"/t/{token}", agent)

    async def _get(self, path: str, agent: str | None) -> httpx.Response:
        request = self.client.build_request("GET", path)
        if agent is None:
            del request.headers["user-agent"]
        else:
            request.headers["user-agent"] = agent
        return await self.client.send(request)

    async def stats(self) -> dict[str, Any]:
        stats: dict[str, Any] = (
            await self.client.get(f"/api/campaigns/{self.campaign_id}/stats")).json()
        return stats


@pytest.fixture
async def delivered(
    api_client: MakeClient, api_engine: AsyncEngine, original_payload: dict[str, Any]
) -> Callable[..., Awaitable[Email]]:
    """`await delivered({"ann@example.com": timedelta(0)})`: email 1 of a new campaign, with
    three distinct links, delivered to each address that long ago."""

    async def deliver(ago: dict[str, timedelta]) -> Email:
        client = await api_client()
        campaign_id = uuid.UUID(
            (await client.post("/api/campaigns/", json=original_payload)).json()["id"])
        workspace_id = uuid.UUID((await client.get("/api/workspace")).json()["id"])
        async with UnitOfWork(api_engine) as uow:
            await handlers.on_content_generated(ContentGenerated.create(ContentGeneratedPayload(
                campaign_id=campaign_id, sequence=1, send_at=datetime.now(UTC), subject="Spring",
                body_html=BODY, body_text="x", model="m", provider="fake"),
                workspace_id=workspace_id), uow)
            for person, before in ago.items():
                await handlers.on_email_sent(EmailSent.create(EmailSentPayload(
                    campaign_id=campaign_id, sequence=1, recipient=person, message_id="<m@x>"),
                    workspace_id=workspace_id, occurred_at=datetime.now(UTC) - before), uow)
            await uow.commit()
        return Email(client, workspace_id, campaign_id)

    return deliver


async def _labels(engine: AsyncEngine, email: Email) -> list[tuple[str, str, bool | None,
                                                                   str | None]]:
    """(address, kind, human, reason) of every engagement with the email, in order."""
    e = db.engagements.c
    async with engine.connect() as conn:
        rows = (await conn.execute(
            sa.select(e.email, e.kind, e.human, e.machine_reason)
            .where(e.campaign_id == email.campaign_id).order_by(e.id))).all()
    return [(r.email, r.kind, r.human, r.machine_reason) for r in rows]


async def test_proxy_prefetches_are_machine_opens_and_readers_opens_are_human(
    delivered: Callable[..., Awaitable[Email]], api_engine: AsyncEngine,
    outbox_events: ReadOutbox,
) -> None:
    email = await delivered({"ann@example.com": timedelta(0),
                             "bob@example.com": timedelta(hours=2)})
    for person, agent in (("ann@example.com", APPLE_MAIL_PROXY),  # on arrival, unread
                          ("ann@example.com", GMAIL_PROXY),  # seconds after delivery
                          ("bob@example.com", GMAIL_PROXY),  # Gmail, as bob opens it
                          ("bob@example.com", SAFARI),
                          ("bob@example.com", APPLE_MAIL_PROXY)):  # Apple's: never a reading
        response = await email.open(person, agent)
        assert response.status_code == 200
        assert response.content.startswith(b"GIF89a")
    assert await _labels(api_engine, email) == [
        ("ann@example.com", "open", False, "apple_privacy_proxy"),
        ("ann@example.com", "open", False, "proxy_prefetch"),
        ("bob@example.com", "open", True, None),
        ("bob@example.com", "open", True, None),
        ("bob@example.com", "open", False, "apple_privacy_proxy")]
    # The events say so too, for the journeys' branches.
    assert [e["payload"]["human"] for e in await outbox_events("email.opened")] == [
        False, False, True, True, False]
    totals = (await email.stats())["totals"]
    assert {k: totals[k] for k in ("sent", "opens", "unique_opens", "human_opens",
                                   "unique_human_opens", "open_rate", "human_open_rate")} == {
        "sent": 2, "opens": 5, "unique_opens": 2, "human_opens": 2, "unique_human_opens": 1,
        "open_rate": 1.0, "human_open_rate": 0.5}


async def test_scanner_clicks_are_machine_clicks_with_their_reason_and_a_person_is_human(
    delivered: Callable[..., Awaitable[Email]], api_engine: AsyncEngine,
    outbox_events: ReadOutbox,
) -> None:
    people = ("ann@example.com", "bob@example.com", "cy@example.com", "di@example.com")
    email = await delivered(dict.fromkeys(people, timedelta(hours=1)))
    # ann reads and clicks one link, and the same link again.
    for _ in range(2):
        response = await email.click("ann@example.com", LINKS[0], SAFARI)
        assert (response.status_code, response.headers["location"]) == (302, LINKS[0])
    # bob's gateway announces itself.
    assert (await email.click("bob@example.com", LINKS[1], SCANNER)).status_code == 302
    # cy's follows every link of the email at once, with a browser's user agent.
    answers = await asyncio.gather(*(email.click("cy@example.com", url, SAFARI)
                                     for url in LINKS))
    assert [a.status_code for a in answers] == [302] * 3
    # di's follows a link, then the trap link no person sees, then another link.
    assert (await email.click("di@example.com", LINKS[2], SAFARI)).status_code == 302
    trap = await email.trap("di@example.com", SAFARI)
    assert trap.status_code == 200
    assert "location" not in trap.headers
    assert (await email.click("di@example.com", LINKS[1], SAFARI)).status_code == 302

    labels = await _labels(api_engine, email)
    assert labels[:3] == [("ann@example.com", "click", True, None)] * 2 + [
        ("bob@example.com", "click", False, "bot_user_agent")]
    # Whichever of cy's clicks came first, the one that completed the set took them along.
    assert labels[3:6] == [("cy@example.com", "click", False, "link_burst")] * 3
    assert labels[6:] == [("di@example.com", "click", False, "trap_link"),
                          ("di@example.com", "trap", False, "trap_link"),
                          ("di@example.com", "click", False, "trap_link")]
    totals = (await email.stats())["totals"]
    # The trap hit is evidence, not a click: no event for it, and not in the clicks.
    clicked = await outbox_events("email.clicked")
    assert len(clicked) == totals["clicks"] == 8
    # As labelled when recorded: cy's first two clicks, and di's first, looked a person's
    # until the third link and the trap gave the machine away.
    assert [e["payload"]["human"] for e in clicked] == [
        True, True, False, True, True, False, True, False]
    assert {k: totals[k] for k in ("unique_clicks", "human_clicks", "unique_human_clicks",
                                   "click_rate", "human_click_rate")} == {
        "unique_clicks": 4, "human_clicks": 2, "unique_human_clicks": 1, "click_rate": 1.0,
        "human_click_rate": 0.25}
    [per_email] = (await email.stats())["emails"]
    assert (per_email["clicks"], per_email["human_clicks"]) == (8, 2)


async def test_a_missing_or_malformed_user_agent_never_breaks_the_pixel_or_the_redirect(
    delivered: Callable[..., Awaitable[Email]], api_engine: AsyncEngine,
) -> None:
    email = await delivered({"ann@example.com": timedelta(hours=1)})
    odd_agents: list[str | None] = [None, "", "   ", "\x7f\x01\x02", "é" * 20_000,
                                    "Mozilla/5.0 (" * 700, "(" * 8_000 + ")"]
    for agent in odd_agents:
        opened = await email.open("ann@example.com", agent)
        assert (opened.status_code, opened.headers["content-type"]) == (200, "image/gif")
        clicked = await email.click("ann@example.com", LINKS[0], agent)
        assert (clicked.status_code, clicked.headers["location"]) == (302, LINKS[0])
    assert (await email.trap("ann@example.com", None)).status_code == 200
    labels = await _labels(api_engine, email)
    assert len(labels) == 2 * len(odd_agents) + 1
    # No user agent at all (or only spaces) is a script's; the rest got a verdict each.
    assert labels[:6] == [("ann@example.com", kind, False, "no_user_agent")
                          for _ in range(3) for kind in ("open", "click")]
    assert all(human is not None for _, _, human, _ in labels)


async def test_a_trap_link_that_does_not_verify_is_not_found_and_records_nothing(
    delivered: Callable[..., Awaitable[Email]], api_engine: AsyncEngine,
) -> None:
    email = await delivered({"ann@example.com": timedelta(hours=1)})
    tokens = SIGNER.recipient_tokens(LinkClaims(email.workspace_id, email.campaign_id, 1,
                                                "ann@example.com"))
    for bad in (tokens.open, tokens.unsubscribe, tokens.click[:-2] + "xx", "nonsense",
                "a" * 9_000):
        assert (await email.client.get(f"/t/{bad}")).status_code == 404
    assert await _labels(api_engine, email) == []
