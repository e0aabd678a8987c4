"""What campaign-api learns of its contacts from the mailer and the tracking links: each send on
the contact's timeline, a bounce or an unsubscribe taking the contact off every campaign's
mail (status, suppression row, events), with the campaign's counters kept as they were."""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from typing import Any

import httpx
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine

from campaign_api import db, handlers, usecases
from contracts import EmailFailed, EmailSent, SuppressionAdded
from contracts.events import EmailFailedPayload, EmailSentPayload
from contracts.links import LinkClaims, LinkSigner
from servicekit.db import UnitOfWork

MakeClient = Callable[..., Awaitable[httpx.AsyncClient]]
ReadOutbox = Callable[..., Awaitable[list[dict[str, Any]]]]
LINK_KEY = "k" * 40  # the key the test settings verify with


async def _campaign(client: httpx.AsyncClient, original: dict[str, Any]) -> tuple[str, str]:
    r = await client.post("/api/campaigns/", json={
        **original, "recipient_emails": ["ada@example.com", "bob@example.com"]})
    assert r.status_code == 201, r.text
    workspace: str = (await client.get("/api/workspace")).json()["id"]
    return r.json()["id"], workspace


async def _contact(client: httpx.AsyncClient, email: str) -> dict[str, Any]:
    found: dict[str, Any] = (await client.get("/api/contacts/", params={"q": email})
                             ).json()["items"][0]
    return found


async def test_each_send_is_one_row_on_the_contacts_timeline(
    api_client: MakeClient, api_engine: AsyncEngine, original_payload: dict[str, Any],
) -> None:
    client = await api_client()
    cid, workspace = await _campaign(client, original_payload)
    event = EmailSent.create(EmailSentPayload(
        campaign_id=uuid.UUID(cid), sequence=1, recipient="Ada@example.com", message_id="<m1>"),
        workspace_id=uuid.UUID(workspace))
    for _ in range(2):  # a redelivery past the inbox still makes one row
        async with UnitOfWork(api_engine) as uow:
            await handlers.on_email_sent(event, uow)
            await uow.commit()
    async with api_engine.connect() as conn:
        rows = (await conn.execute(sa.select(db.sends))).all()
    assert [(str(r.campaign_id), r.sequence, r.email, str(r.workspace_id)) for r in rows] == [
        (cid, 1, "ada@example.com", workspace)]
    assert rows[0].sent_at == event.occurred_at
    detail = (await client.get(f"/api/campaigns/{cid}/")).json()
    assert detail["progress"]["deliveries_sent"] == 2  # the counter is the inbox's to dedupe


async def test_a_bounce_marks_the_contact_bounced_and_suppresses_it(
    api_client: MakeClient, api_engine: AsyncEngine, original_payload: dict[str, Any],
    outbox_events: ReadOutbox,
) -> None:
    client = await api_client()
    cid, workspace = await _campaign(client, original_payload)
    before = len(await outbox_events("contacts.changed"))
    for kind, recipient in (("bounced", "ada@example.com"), ("expired", "bob@example.com")):
        async with UnitOfWork(api_engine) as uow:
            await handlers.on_email_failed(EmailFailed.create(EmailFailedPayload(
                campaign_id=uuid.UUID(cid), sequence=1, recipient=recipient, permanent=True,
                smtp_code=550 if kind == "bounced" else None, reason="refused",
                kind=kind),  # type: ignore[arg-type]
                workspace_id=uuid.UUID(workspace)), uow)
            await uow.commit()
    assert (await _contact(client, "ada@example.com"))["status"] == "bounced"
    assert (await _contact(client, "bob@example.com"))["status"] == "subscribed"
    async with api_engine.connect() as conn:
        suppressed = (await conn.execute(sa.select(db.suppressions.c.email,
                                                   db.suppressions.c.reason))).all()
    assert [tuple(r) for r in suppressed] == [("ada@example.com", "bounced")]
    [added] = [SuppressionAdded.model_validate(e)
               for e in await outbox_events("suppression.added")]
    assert ([str(e) for e in added.payload.emails], added.payload.reason) == (
        ["ada@example.com"], "bounced")
    changed = (await outbox_events("contacts.changed"))[before:]
    assert [(c["email"], c["status"]) for e in changed for c in e["payload"]["contacts"]] == [
        ("ada@example.com", "bounced")]
    progress = (await client.get(f"/api/campaigns/{cid}/")).json()["progress"]
    assert progress["deliveries_failed"] == 2


async def test_an_unsubscribe_marks_the_contact_and_suppresses_it_once(
    api_client: MakeClient, api_engine: AsyncEngine, original_payload: dict[str, Any],
    outbox_events: ReadOutbox,
) -> None:
    client = await api_client()
    cid, workspace = await _campaign(client, original_payload)
    signer = LinkSigner(LINK_KEY)
    token = signer.sign("unsubscribe", LinkClaims(
        workspace_id=uuid.UUID(workspace), campaign_id=uuid.UUID(cid), sequence=1,
        email="bob@example.com"))
    for _ in range(2):
        response = await client.post(f"/u/{token}")
        assert response.status_code in (200, 303), response.text
    assert (await _contact(client, "bob@example.com"))["status"] == "unsubscribed"
    assert (await _contact(client, "ada@example.com"))["status"] == "subscribed"
    assert len(await outbox_events("recipient.unsubscribed")) == 1
    [added] = await outbox_events("suppression.added")
    assert added["payload"] == {"emails": ["bob@example.com"], "reason": "unsubscribed"}
    # A bounced contact that unsubscribes stays bounced: the stronger reason.
    async with UnitOfWork(api_engine) as uow:
        await handlers.on_email_failed(EmailFailed.create(EmailFailedPayload(
            campaign_id=uuid.UUID(cid), sequence=1, recipient="ada@example.com",
            permanent=True, smtp_code=550, reason="no such user", kind="bounced"),
            workspace_id=uuid.UUID(workspace)), uow)
        await uow.commit()
    await usecases.unsubscribe(api_engine, signer, signer.sign("unsubscribe", LinkClaims(
        workspace_id=uuid.UUID(workspace), campaign_id=uuid.UUID(cid), sequence=1,
        email="ada@example.com")))
    assert (await _contact(client, "ada@example.com"))["status"] == "bounced"


async def test_the_timeline_shows_sends_opens_clicks_and_bounces_newest_first(
    api_client: MakeClient, api_engine: AsyncEngine, original_payload: dict[str, Any],
) -> None:
    client = await api_client()
    cid, workspace = await _campaign(client, original_payload)
    signer = LinkSigner(LINK_KEY)
    claims = LinkClaims(workspace_id=uuid.UUID(workspace), campaign_id=uuid.UUID(cid),
                        sequence=1, email="ada@example.com", url="https://example.com/a")
    async with UnitOfWork(api_engine) as uow:
        await handlers.on_email_sent(EmailSent.create(EmailSentPayload(
            campaign_id=uuid.UUID(cid), sequence=1, recipient="ada@example.com",
            message_id="<m1>"), workspace_id=uuid.UUID(workspace)), uow)
        await uow.commit()
    await usecases.record_open(api_engine, signer, signer.sign("open", claims))
    await usecases.record_click(api_engine, signer, signer.sign("click", claims))
    async with UnitOfWork(api_engine) as uow:
        await handlers.on_email_failed(EmailFailed.create(EmailFailedPayload(
            campaign_id=uuid.UUID(cid), sequence=2, recipient="ada@example.com",
            permanent=True, smtp_code=550, reason="mailbox gone", kind="bounced"),
            workspace_id=uuid.UUID(workspace)), uow)
        await uow.commit()
    contact = await _contact(client, "ada@example.com")
    url = f"/api/contacts/{contact['id']}/timeline"
    page = (await client.get(url)).json()
    assert [(e["kind"], e["sequence"], e["detail"]) for e in page["items"]] == [
        ("bounced", 2, "mailbox gone"), ("click", 1, "https://example.com/a"),
        ("open", 1, ""), ("sent", 1, "")]
    assert {e["campaign_name"] for e in page["items"]} == {original_payload["name"]}
    assert page["truncated"] is False
    other = await api_client("other")
    assert (await other.get(url)).status_code == 404
