"""Signed links: opens, clicks and unsubscribes publish events and feed the stats; anything
forged, altered or made for another purpose is refused and never redirects."""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from campaign_api import handlers
from campaign_api.app import create_app
from campaign_api.settings import Settings
from contracts import ContentGenerated, EmailFailed, EmailSent
from contracts.events import ContentGeneratedPayload, EmailFailedPayload, EmailSentPayload
from contracts.links import LinkClaims, LinkSigner
from servicekit.db import UnitOfWork

MakeClient = Callable[..., Awaitable[httpx.AsyncClient]]
ReadOutbox = Callable[..., Awaitable[list[dict[str, Any]]]]
LINK_KEY = "k" * 40  # the key the test settings verify with


@pytest.fixture
def signer() -> LinkSigner:
    return LinkSigner(LINK_KEY)


def _settings() -> Settings:
    return Settings(database_url="postgresql://unused/unused", link_signing_key=LINK_KEY,
                    erasure_key="e" * 40, environment="test")


def _claims(campaign_id: uuid.UUID | str, email: str = "ada@example.com", sequence: int = 1,
            url: str | None = None, workspace_id: uuid.UUID | None = None) -> LinkClaims:
    return LinkClaims(workspace_id=workspace_id or uuid.uuid4(),
                      campaign_id=uuid.UUID(str(campaign_id)), sequence=sequence, email=email,
                      url=url)


def _altered(token: str) -> str:
    middle = len(token) // 2
    return token[:middle] + ("A" if token[middle] != "A" else "B") + token[middle + 1:]


async def test_a_click_redirects_to_its_own_url_only(
    api_client: MakeClient, signer: LinkSigner, outbox_events: ReadOutbox
) -> None:
    client = await api_client()
    url = "https://example.com/launch?utm=mail"
    token = signer.sign("click", _claims(uuid.uuid4(), url=url))
    response = await client.get(f"/c/{token}")
    assert response.status_code == 302
    assert response.headers["location"] == url
    [clicked] = await outbox_events("email.clicked")
    assert clicked["payload"]["url"] == url

    evil = signer.sign("click", _claims(uuid.uuid4(), url="https://evil.example/"))
    # Another link's payload under this link's timestamp and signature.
    *_, stamp, signature = token.split(".")
    spliced = ".".join([*evil.split(".")[:-2], stamp, signature])
    other_key = LinkSigner("z" * 40).sign("click", _claims(uuid.uuid4(), url=url))
    open_token = signer.sign("open", _claims(uuid.uuid4()))
    for bad in (_altered(token), spliced, other_key, open_token, "nonsense", "a" * 9000):
        refused = await client.get(f"/c/{bad}")
        assert refused.status_code == 404, bad
        assert "location" not in refused.headers
    js = signer.sign("click", _claims(uuid.uuid4(), url="javascript:alert(1)"))
    assert (await client.get(f"/c/{js}")).status_code == 404
    assert len(await outbox_events("email.clicked")) == 1


async def test_a_two_token_click_link_redirects_to_its_email_target_only(
    api_client: MakeClient, signer: LinkSigner, outbox_events: ReadOutbox
) -> None:
    client = await api_client()
    claims = _claims(uuid.uuid4(), sequence=2)
    url = "https://example.com/spring?utm=mail"
    tokens = signer.recipient_tokens(claims)
    target = signer.sign_target(claims.campaign_id, claims.sequence, url)
    response = await client.get(f"/c/{tokens.click}/{target}")
    assert response.status_code == 302
    assert response.headers["location"] == url
    [clicked] = await outbox_events("email.clicked")
    # The test client's user agent is an HTTP library's: not a person's click.
    assert clicked["payload"] == {"campaign_id": str(claims.campaign_id), "sequence": 2,
                                  "recipient": claims.email, "url": url, "human": False}

    foreign = signer.sign_target(uuid.uuid4(), claims.sequence, "https://evil.example/")
    for bad_token, bad_target in ((tokens.click, foreign), (target, tokens.click),
                                  (tokens.unsubscribe, target), (tokens.click, "nonsense"),
                                  (_altered(tokens.click), target), ("a" * 5000, "b" * 5000)):
        refused = await client.get(f"/c/{bad_token}/{bad_target}")
        assert refused.status_code == 404, (bad_token, bad_target)
        assert "location" not in refused.headers
    assert (await client.get(f"/c/{tokens.click}")).status_code == 404  # no target, no way
    assert len(await outbox_events("email.clicked")) == 1


async def test_the_pixel_records_an_open(
    api_client: MakeClient, signer: LinkSigner, outbox_events: ReadOutbox
) -> None:
    client = await api_client()
    token = signer.sign("open", _claims(uuid.uuid4()))
    response = await client.get(f"/o/{token}.gif")
    assert response.status_code == 200
    assert response.headers["content-type"] == "image/gif"
    assert response.content.startswith(b"GIF89a")
    assert (await client.get(f"/o/{_altered(token)}.gif")).status_code == 404
    assert len(await outbox_events("email.opened")) == 1


async def test_one_click_unsubscribe_is_a_bare_post(
    api_engine: AsyncEngine, signer: LinkSigner, outbox_events: ReadOutbox
) -> None:
    workspace = uuid.uuid4()
    campaign = uuid.uuid4()
    token = signer.sign("unsubscribe", _claims(campaign, email="Ada@Example.com",
                                               workspace_id=workspace))
    app = create_app(api_engine, [], settings=_settings())
    # No key, no cookie, no redirects followed: what a mail client's one-click POST is.
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app),
                                 base_url="http://api") as bare:
        page = await bare.get(f"/u/{token}")
        assert page.status_code == 200
        assert 'method="post"' in page.text
        assert await outbox_events("recipient.unsubscribed") == []  # a GET changes nothing
        response = await bare.post(f"/u/{token}", content=b"List-Unsubscribe=One-Click",
                                   headers={"Content-Type": "application/x-www-form-urlencoded"})
        assert response.status_code == 200
        assert "set-cookie" not in response.headers
        assert (await bare.post(f"/u/{token}")).status_code == 200  # again: same single event
        for bad in (_altered(token), signer.sign("click", _claims(campaign, url="https://x.io"))):
            assert (await bare.post(f"/u/{bad}")).status_code == 404
            assert (await bare.get(f"/u/{bad}")).status_code == 404
    [event] = await outbox_events("recipient.unsubscribed")
    assert event["workspace_id"] == str(workspace)
    assert event["payload"] == {"email": "ada@example.com", "campaign_id": str(campaign)}


async def test_an_unsubscribe_link_opened_again_says_it_is_done(
    api_engine: AsyncEngine, signer: LinkSigner, outbox_events: ReadOutbox
) -> None:
    workspace = uuid.uuid4()
    first, other = uuid.uuid4(), uuid.uuid4()
    token = signer.sign("unsubscribe", _claims(first, workspace_id=workspace))
    # Another campaign's link for the same address in the same workspace: done already too.
    later = signer.sign("unsubscribe", _claims(other, email="ADA@example.com",
                                               workspace_id=workspace))
    elsewhere = signer.sign("unsubscribe", _claims(first, workspace_id=uuid.uuid4()))
    app = create_app(api_engine, [], settings=_settings())
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app),
                                 base_url="http://api") as bare:
        assert (await bare.post(f"/u/{token}")).status_code == 200
        for link in (token, later):
            page = await bare.get(f"/u/{link}")
            assert page.status_code == 200
            assert "already unsubscribed" in page.text
            assert 'method="post"' not in page.text
        assert 'method="post"' in (await bare.get(f"/u/{elsewhere}")).text
        # The one-click POST answers as before, and still publishes once.
        again = await bare.post(f"/u/{later}", content=b"List-Unsubscribe=One-Click",
                                headers={"Content-Type": "application/x-www-form-urlencoded"})
        assert again.status_code == 200
        assert "will get no more emails" in again.text
    assert len(await outbox_events("recipient.unsubscribed")) == 2


async def test_stats_per_campaign_email_and_structure(
    api_client: MakeClient, api_engine: AsyncEngine, signer: LinkSigner,
    original_payload: dict[str, Any],
) -> None:
    client = await api_client()
    created = (await client.post("/api/campaigns/", json=original_payload)).json()
    cid = uuid.UUID(created["id"])
    ws = uuid.UUID((await client.get("/api/workspace")).json()["id"])
    people = ["a@example.com", "b@example.com", "c@example.com", "d@example.com"]
    events: list[Any] = []
    for seq, structure in ((1, "story"), (2, "listicle"), (3, "story")):
        events.append(ContentGenerated.create(ContentGeneratedPayload(
            campaign_id=cid, sequence=seq, send_at=datetime.now(UTC), subject=f"Email {seq}",
            body_html="<p>x</p>", body_text="x", model="m", provider="fake",
            structure=structure, cost="0.25"), workspace_id=ws))
        for person in people[:3]:
            events.append(EmailSent.create(EmailSentPayload(
                campaign_id=cid, sequence=seq, recipient=person, message_id="<m@x>"),
                workspace_id=ws))
        # Refused by the receiving server on email 1 (a bounce), given up on after 4xx later.
        events.append(EmailFailed.create(EmailFailedPayload(
            campaign_id=cid, sequence=seq, recipient=people[3], permanent=seq == 1,
            smtp_code=550 if seq == 1 else 451, reason="no"), workspace_id=ws))
    apply = {ContentGenerated: handlers.on_content_generated, EmailSent: handlers.on_email_sent,
             EmailFailed: handlers.on_email_failed}
    async with UnitOfWork(api_engine) as uow:
        for event in events:
            await apply[type(event)](event, uow)  # type: ignore[operator]
        await uow.commit()

    def claims(seq: int, person: str, url: str | None = None) -> LinkClaims:
        return LinkClaims(workspace_id=ws, campaign_id=cid, sequence=seq, email=person, url=url)

    for seq, person in ((1, "a@example.com"), (1, "a@example.com"), (1, "b@example.com"),
                        (2, "a@example.com"), (3, "c@example.com")):
        await client.get(f"/o/{signer.sign('open', claims(seq, person))}.gif")
    await client.get(f"/c/{signer.sign('click', claims(1, 'a@example.com', 'https://x.io'))}")
    await client.get(f"/c/{signer.sign('click', claims(1, 'a@example.com', 'https://x.io'))}")
    await client.post(f"/u/{signer.sign('unsubscribe', claims(2, 'b@example.com'))}")

    stats = (await client.get(f"/api/campaigns/{cid}/stats")).json()
    totals = stats["totals"]
    assert {k: totals[k] for k in ("sent", "failed", "bounced", "opens", "unique_opens",
                                   "clicks", "unique_clicks", "unsubscribes")} == {
        "sent": 9, "failed": 3, "bounced": 1, "opens": 5, "unique_opens": 3, "clicks": 2,
        "unique_clicks": 1, "unsubscribes": 1}
    assert totals["open_rate"] == round(3 / 9, 4)
    assert totals["bounce_rate"] == round(1 / 12, 4)
    first = stats["emails"][0]
    assert (first["sequence"], first["opens"], first["unique_opens"], first["clicks"]) == (
        1, 3, 2, 2)
    by_structure = {s["structure"]: s for s in stats["structures"]}
    assert by_structure["story"]["sent"] == 6
    assert by_structure["story"]["unique_opens"] == 3  # a and b on email 1, c on email 3
    assert by_structure["listicle"]["unsubscribes"] == 1
    detail = (await client.get(f"/api/campaigns/{cid}/")).json()
    assert float(detail["cost"]) == 0.75
