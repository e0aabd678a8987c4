"""email.performance: each email's counts reach the learners through the outbox, at most once
per interval and only when they changed, counted as the opens and clicks were recorded."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from alembic import command
from sqlalchemy.ext.asyncio import AsyncEngine

from campaign_api import handlers
from campaign_api.usecases.performance import publish_due_summary
from contracts import ContentGenerated, EmailFailed, EmailSent
from contracts.events import ContentGeneratedPayload, EmailFailedPayload, EmailSentPayload
from contracts.links import LinkClaims, LinkSigner
from servicekit.db import UnitOfWork
from servicekit.migrations import alembic_config

MakeClient = Callable[..., Awaitable[httpx.AsyncClient]]
ReadOutbox = Callable[..., Awaitable[list[dict[str, Any]]]]
SIGNER = LinkSigner("k" * 40)  # the key the test settings verify with
SAFARI = ("Mozilla/5.0 (iPhone; CPU iPhone OS 17_4 like Mac OS X) AppleWebKit/605.1.15 "
          "(KHTML, like Gecko) Version/17.4 Mobile/15E148 Safari/604.1")
APPLE_MAIL_PROXY = "Mozilla/5.0"
SCANNER = "python-requests/2.31.0"
LINKS = ("https://shop.example/tulips", "https://shop.example/roses")
BODY = "".join(f'<p><a href="{url}">{url}</a></p>' for url in LINKS)
PEOPLE = ("ann@example.com", "bob@example.com", "cy@example.com", "di@example.com")
MINUTE = timedelta(seconds=60)


class Email:
    """Email 1 of a campaign, written with the "story" structure, delivered an hour ago."""

    def __init__(self, client: httpx.AsyncClient, workspace_id: uuid.UUID,
                 campaign_id: uuid.UUID) -> None:
        self.client, self.workspace_id, self.campaign_id = client, workspace_id, campaign_id

    def _tokens(self, person: str) -> Any:
        return SIGNER.recipient_tokens(LinkClaims(self.workspace_id, self.campaign_id, 1,
                                                  person))

    async def open(self, person: str, agent: str) -> None:
        response = await self.client.get(f"/o/{self._tokens(person).open}.gif",
                                         headers={"user-agent": agent})
        assert response.status_code == 200

    async def click(self, person: str, url: str, agent: str) -> None:
        target = SIGNER.sign_target(self.campaign_id, 1, url)
        response = await self.client.get(f"/c/{self._tokens(person).click}/{target}",
                                         headers={"user-agent": agent})
        assert response.status_code == 302

    async def unsubscribe(self, person: str) -> None:
        response = await self.client.post(f"/u/{self._tokens(person).unsubscribe}")
        assert response.status_code == 200

    async def stats(self) -> dict[str, Any]:
        stats = (await self.client.get(f"/api/campaigns/{self.campaign_id}/stats")).json()
        [email] = stats["emails"]
        return dict(email)


@pytest.fixture
async def email(api_client: MakeClient, api_engine: AsyncEngine,
                original_payload: dict[str, Any]) -> Email:
    client = await api_client()
    campaign_id = uuid.UUID(
        (await client.post("/api/campaigns/", json=original_payload)).json()["id"])
    workspace_id = uuid.UUID((await client.get("/api/workspace")).json()["id"])
    sent_at = datetime.now(UTC) - timedelta(hours=1)
    async with UnitOfWork(api_engine) as uow:
        await handlers.on_content_generated(ContentGenerated.create(ContentGeneratedPayload(
            campaign_id=campaign_id, sequence=1, send_at=sent_at, subject="Spring",
            body_html=BODY, body_text="x", model="m", provider="fake", structure="story"),
            workspace_id=workspace_id), uow)
        for person in PEOPLE:
            await handlers.on_email_sent(EmailSent.create(EmailSentPayload(
                campaign_id=campaign_id, sequence=1, recipient=person, message_id="<m@x>"),
                workspace_id=workspace_id, occurred_at=sent_at), uow)
        await handlers.on_email_failed(EmailFailed.create(EmailFailedPayload(
            campaign_id=campaign_id, sequence=1, recipient="gone@example.com", permanent=True,
            smtp_code=550, reason="no such user", kind="bounced"),
            workspace_id=workspace_id), uow)
        await uow.commit()
    return Email(client, workspace_id, campaign_id)


async def _summaries(outbox_events: ReadOutbox) -> list[dict[str, Any]]:
    return [e["payload"] for e in await outbox_events("email.performance")]


def _counts(summary: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in summary.items() if k not in ("campaign_id", "as_of")}


async def test_a_summary_counts_people_and_machines_apart_as_the_stats_do(
    email: Email, api_engine: AsyncEngine, outbox_events: ReadOutbox,
) -> None:
    # ann reads it twice and clicks a link twice; Apple's proxy fetches bob's pixel unread.
    for _ in range(2):
        await email.open("ann@example.com", SAFARI)
        await email.click("ann@example.com", LINKS[0], SAFARI)
    await email.open("bob@example.com", APPLE_MAIL_PROXY)
    # bob's gateway announces itself; cy's follows every link at once, as a browser would
    # (a burst: the click that completes it relabels the first, counted a person's at first).
    await email.click("bob@example.com", LINKS[1], SCANNER)
    await asyncio.gather(*(email.click("cy@example.com", url, SAFARI) for url in LINKS))
    await email.unsubscribe("di@example.com")

    assert await publish_due_summary(api_engine, MINUTE) == "published"
    [summary] = await _summaries(outbox_events)
    assert _counts(summary) == {
        "sequence": 1, "structure": "story", "delivered": 4, "bounced": 1,
        "opens": 3, "unique_opens": 2, "human_opens": 2, "unique_human_opens": 1,
        "clicks": 5, "unique_clicks": 3, "human_clicks": 2, "unique_human_clicks": 1,
        "unsubscribes": 1}
    assert summary["campaign_id"] == str(email.campaign_id)
    # The counters kept as engagement was recorded agree with the stats counted from the rows.
    stats = await email.stats()
    for name in ("opens", "unique_opens", "human_opens", "unique_human_opens", "clicks",
                 "unique_clicks", "human_clicks", "unique_human_clicks", "unsubscribes",
                 "bounced"):
        assert summary[name] == stats[name], name
    assert summary["delivered"] == stats["sent"]


async def test_no_summary_is_published_again_while_the_counts_stay_the_same(
    email: Email, api_engine: AsyncEngine, outbox_events: ReadOutbox,
) -> None:
    await email.open("ann@example.com", SAFARI)
    assert await publish_due_summary(api_engine, MINUTE) == "published"
    later = datetime.now(UTC) + timedelta(hours=1)
    assert await publish_due_summary(api_engine, MINUTE, now=later) is None
    # A failure of a kind the summary does not count makes the email due, but changes nothing
    # it says: it is put back to rest without an event.
    async with UnitOfWork(api_engine) as uow:
        await handlers.on_email_failed(EmailFailed.create(EmailFailedPayload(
            campaign_id=email.campaign_id, sequence=1, recipient="held@example.com",
            permanent=True, reason="suppressed", kind="suppressed"),
            workspace_id=email.workspace_id), uow)
        await uow.commit()
    assert await publish_due_summary(api_engine, MINUTE, now=later) == "unchanged"
    assert await publish_due_summary(api_engine, MINUTE, now=later) is None
    assert len(await _summaries(outbox_events)) == 1


async def test_new_engagement_is_summarised_again_once_the_interval_has_passed(
    email: Email, api_engine: AsyncEngine, outbox_events: ReadOutbox,
) -> None:
    await email.open("ann@example.com", SAFARI)
    first_at = datetime.now(UTC)
    assert await publish_due_summary(api_engine, MINUTE, now=first_at) == "published"
    await email.click("ann@example.com", LINKS[0], SAFARI)
    await email.open("bob@example.com", SAFARI)
    # Within the interval the new counts wait...
    assert await publish_due_summary(api_engine, MINUTE,
                                     now=first_at + timedelta(seconds=30)) is None
    # ...and after it they are published, newer than the first.
    assert await publish_due_summary(api_engine, MINUTE,
                                     now=first_at + timedelta(seconds=61)) == "published"
    first, second = await _summaries(outbox_events)
    assert (first["unique_human_opens"], first["unique_human_clicks"]) == (1, 0)
    assert (second["unique_human_opens"], second["unique_human_clicks"]) == (2, 1)
    assert datetime.fromisoformat(second["as_of"]) > datetime.fromisoformat(first["as_of"])



async def test_engagement_recorded_before_the_counters_is_counted_by_the_migration(
    email: Email, api_engine: AsyncEngine, outbox_events: ReadOutbox,
) -> None:
    await email.open("ann@example.com", SAFARI)
    await email.click("ann@example.com", LINKS[0], SAFARI)
    await email.open("bob@example.com", APPLE_MAIL_PROXY)
    config = alembic_config("campaign_api", api_engine.url.render_as_string(hide_password=False))
    await asyncio.to_thread(command.downgrade, config, "0016")
    await asyncio.to_thread(command.upgrade, config, "head")

    assert await publish_due_summary(api_engine, MINUTE) == "published"
    [summary] = await _summaries(outbox_events)
    stats = await email.stats()
    assert {k: summary[k] for k in ("opens", "unique_opens", "human_opens", "clicks",
                                    "human_clicks", "unique_human_clicks")} == {
        "opens": 2, "unique_opens": 2, "human_opens": 1, "clicks": 1, "human_clicks": 1,
        "unique_human_clicks": 1}
    assert all(summary[k] == stats[k] for k in ("opens", "unique_opens", "human_opens",
                                                 "clicks", "human_clicks"))
