"""The campaign report through the real tracking links: each email's counts from its counters,
each link's clicks and clickers (people's and all), the sums per structure, and another
workspace's campaign not found."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from campaign_api import handlers
from contracts import ContentGenerated, EmailFailed, EmailSent
from contracts.events import (
    ContentGeneratedPayload,
    EmailFailedPayload,
    EmailSentPayload,
)
from contracts.learning import ArmBelief, StructureChoice
from contracts.links import LinkClaims, LinkSigner, RecipientTokens
from servicekit.db import UnitOfWork

SIGNER = LinkSigner("k" * 40)  # the key the test settings verify with
SAFARI = ("Mozilla/5.0 (iPhone; CPU iPhone OS 17_4 like Mac OS X) AppleWebKit/605.1.15 "
          "(KHTML, like Gecko) Version/17.4 Mobile/15E148 Safari/604.1")
APPLE_MAIL_PROXY = "Mozilla/5.0"
SCANNER = "python-requests/2.31.0"
TULIPS, ROSES, SHOP = ("https://shop.example/tulips", "https://shop.example/roses",
                       "https://shop.example/")
BODY = "".join(f'<p><a href="{url}">{url}</a></p>' for url in (TULIPS, ROSES, SHOP))


# Email 2's structure, drawn by the content generator's bandit.
CHOICE = StructureChoice(rule="thompson", arm="list", seed=12345678901234567890, arms=[
    ArmBelief(arm="story", alpha=3.0, beta=99.0, mean=0.0294, sample=0.041),
    ArmBelief(arm="list", alpha=31.0, beta=271.0, mean=0.1026, sample=0.118),
])


class Campaign:
    def __init__(self, client: httpx.AsyncClient, workspace_id: uuid.UUID,
                 campaign_id: uuid.UUID) -> None:
        self.client, self.workspace_id, self.campaign_id = client, workspace_id, campaign_id

    def _tokens(self, sequence: int, person: str) -> RecipientTokens:
        return SIGNER.recipient_tokens(
            LinkClaims(self.workspace_id, self.campaign_id, sequence, person))

    async def open(self, sequence: int, person: str, agent: str) -> None:
        response = await self.client.get(f"/o/{self._tokens(sequence, person).open}.gif",
                                         headers={"user-agent": agent})
        assert response.status_code == 200

    async def click(self, sequence: int, person: str, url: str, agent: str = SAFARI) -> None:
        target = SIGNER.sign_target(self.campaign_id, sequence, url)
        response = await self.client.get(
            f"/c/{self._tokens(sequence, person).click}/{target}", headers={"user-agent": agent})
        assert (response.status_code, response.headers["location"]) == (302, url)

    async def unsubscribe(self, sequence: int, person: str) -> None:
        response = await self.client.post(f"/u/{self._tokens(sequence, person).unsubscribe}")
        assert response.status_code == 200

    async def get(self, what: str) -> dict[str, Any]:
        response = await self.client.get(f"/api/campaigns/{self.campaign_id}/{what}")
        assert response.status_code == 200
        answer: dict[str, Any] = response.json()
        return answer


async def _deliver(engine: AsyncEngine, campaign: Campaign, sequence: int, structure: str,
                   people: tuple[str, ...], bounced: tuple[str, ...] = (),
                   choice: StructureChoice | None = None) -> None:
    sent_at = datetime.now(UTC) - timedelta(hours=1)
    ws, cid = campaign.workspace_id, campaign.campaign_id
    async with UnitOfWork(engine) as uow:
        await handlers.on_content_generated(ContentGenerated.create(ContentGeneratedPayload(
            campaign_id=cid, sequence=sequence, send_at=sent_at, subject=f"Email {sequence}",
            body_html=BODY, body_text="x", model="m", provider="fake", structure=structure,
            structure_choice=choice), workspace_id=ws), uow)
        for person in people:
            await handlers.on_email_sent(EmailSent.create(EmailSentPayload(
                campaign_id=cid, sequence=sequence, recipient=person, message_id="<m@x>"),
                workspace_id=ws, occurred_at=sent_at), uow)
        for person in bounced:
            await handlers.on_email_failed(EmailFailed.create(EmailFailedPayload(
                campaign_id=cid, sequence=sequence, recipient=person, permanent=True,
                smtp_code=550, reason="no such user", kind="bounced"), workspace_id=ws), uow)
        await uow.commit()


@pytest.fixture
async def campaign(api_client: Any, api_engine: AsyncEngine,
                   original_payload: dict[str, Any]) -> Campaign:
    """Email 1 (a story) delivered to four, one bounce; email 2 (a list) to two; read,
    clicked, scanned and unsubscribed from through the real tracking links."""
    client = await api_client()
    created = (await client.post("/api/campaigns/", json=original_payload)).json()
    workspace_id = uuid.UUID((await client.get("/api/workspace")).json()["id"])
    c = Campaign(client, workspace_id, uuid.UUID(created["id"]))
    await _deliver(api_engine, c, 1, "story",
                   ("ann@example.com", "bob@example.com", "cy@example.com", "di@example.com"),
                   bounced=("gone@example.com",))
    await _deliver(api_engine, c, 2, "list", ("ann@example.com", "bob@example.com"),
                   choice=CHOICE)
    await c.open(1, "ann@example.com", SAFARI)
    await c.open(1, "ann@example.com", SAFARI)
    await c.click(1, "ann@example.com", TULIPS)
    await c.click(1, "ann@example.com", TULIPS)
    await c.click(1, "ann@example.com", ROSES)
    await c.open(1, "bob@example.com", APPLE_MAIL_PROXY)  # the proxy, not bob
    await c.click(1, "bob@example.com", TULIPS, SCANNER)  # his gateway, not bob
    await c.open(1, "cy@example.com", SAFARI)
    await c.click(1, "cy@example.com", TULIPS)
    await c.unsubscribe(1, "di@example.com")
    await c.open(2, "ann@example.com", SAFARI)
    await c.click(2, "ann@example.com", SHOP)
    return c


def _pick(counts: dict[str, Any], *names: str) -> dict[str, Any]:
    return {name: counts[name] for name in names}


REPORTED = ("sent", "bounced", "unique_human_opens", "unique_human_clicks", "human_click_rate",
            "unsubscribes", "clicks", "unique_clicks")


async def test_each_email_reports_people_apart_from_machines_with_its_rates(
    campaign: Campaign,
) -> None:
    report = await campaign.get("report")
    assert [(e["sequence"], e["structure"]) for e in report["emails"]] == [
        (1, "story"), (2, "list")]
    first, second = report["emails"]
    assert _pick(first, *REPORTED, "human_open_rate", "bounce_rate") == {
        "sent": 4, "bounced": 1, "unique_human_opens": 2, "unique_human_clicks": 2,
        "human_click_rate": 0.5, "unsubscribes": 1, "clicks": 5, "unique_clicks": 3,
        "human_open_rate": 0.5, "bounce_rate": 0.2}
    assert _pick(second, *REPORTED) == {
        "sent": 2, "bounced": 0, "unique_human_opens": 1, "unique_human_clicks": 1,
        "human_click_rate": 0.5, "unsubscribes": 0, "clicks": 1, "unique_clicks": 1}
    # The counters the report reads say what the stats count from the engagement rows.
    stats = await campaign.get("stats")
    assert [{k: v for k, v in e.items() if k != "structure_choice"}
            for e in report["emails"]] == stats["emails"]


async def test_each_email_says_why_it_has_its_structure_when_its_writer_said(
    campaign: Campaign,
) -> None:
    first, second = (await campaign.get("report"))["emails"]
    assert first["structure_choice"] is None  # written without one
    assert second["structure_choice"] == CHOICE.model_dump(mode="json")
    assert second["structure_choice"]["arms"][1] == {
        "arm": "list", "alpha": 31.0, "beta": 271.0, "mean": 0.1026, "sample": 0.118}


async def test_each_link_reports_its_clicks_and_clickers_people_and_all(
    campaign: Campaign,
) -> None:
    links = (await campaign.get("report"))["links"]
    assert [(link["sequence"], link["url"], link["clicks"], link["unique_clicks"],
             link["human_clicks"], link["unique_human_clicks"]) for link in links] == [
        (1, TULIPS, 4, 3, 3, 2),  # ann twice, cy, and bob's scanner
        (1, ROSES, 1, 1, 1, 1),
        (2, SHOP, 1, 1, 1, 1)]


async def test_structures_and_totals_add_up_the_emails(campaign: Campaign) -> None:
    report = await campaign.get("report")
    assert [(s["structure"], _pick(s, "sent", "unique_human_clicks", "human_click_rate"))
            for s in report["structures"]] == [
        ("list", {"sent": 2, "unique_human_clicks": 1, "human_click_rate": 0.5}),
        ("story", {"sent": 4, "unique_human_clicks": 2, "human_click_rate": 0.5})]
    # ann clicked both emails: one clicker per delivery.
    assert _pick(report["totals"], *REPORTED) == {
        "sent": 6, "bounced": 1, "unique_human_opens": 3, "unique_human_clicks": 3,
        "human_click_rate": 0.5, "unsubscribes": 1, "clicks": 6, "unique_clicks": 4}


async def test_another_workspaces_campaign_is_not_found(
    campaign: Campaign, api_client: Any,
) -> None:
    stranger = await api_client("globex")
    for campaign_id in (campaign.campaign_id, uuid.uuid4()):
        response = await stranger.get(f"/api/campaigns/{campaign_id}/report")
        assert response.status_code == 404
