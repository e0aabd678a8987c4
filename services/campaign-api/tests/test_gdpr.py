"""GDPR: one contact's data exported as JSON, and erased: afterwards, once campaign-api has
handled its own contact.erased, no table of campaign-api holds the address (every text, JSON
and binary column of every table is searched), only its keyed digest, and the address is
refused when it comes back."""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
import sqlalchemy as sa
from nats.aio.client import Client
from sqlalchemy.ext.asyncio import AsyncEngine

from campaign_api import handlers
from campaign_api.db.contact_tables import erased_addresses, sends
from campaign_api.erasure import ErasureKey
from contracts import ContactErased, EmailFailed, parse_event
from contracts.events import EmailFailedPayload
from contracts.links import LinkClaims, LinkSigner
from servicekit.db import UnitOfWork, outbox
from servicekit.outbox import OutboxRelay
from testkit.holders import columns_holding

from .conftest import ERASURE_KEY, LINK_KEY
from .consent_helpers import make_list, workspace

MakeClient = Callable[..., Awaitable[httpx.AsyncClient]]
ReadOutbox = Callable[..., Awaitable[list[dict[str, Any]]]]
ADA = "ada.lovelace@example.com"


async def _holding(engine: AsyncEngine, needle: str) -> list[str]:
    async with engine.connect() as conn:
        return await columns_holding(conn, needle)


async def _everywhere(client: httpx.AsyncClient, engine: AsyncEngine, original: dict[str, Any],
                      workspace_id: uuid.UUID, list_id: uuid.UUID) -> str:
    """Ada in every table that can hold an address; her contact's id."""
    created = await client.post("/api/contacts", headers={"Idempotency-Key": "ada-1"}, json={
        "email": ADA, "name": "Ada", "lists": [str(list_id)], "consent_basis": "consent",
        "consent_text": "yes please", "tags": ["vip"]})
    assert created.status_code == 201, created.text
    campaign = await client.post("/api/campaigns", json={**original, "recipient_emails": [ADA]})
    assert campaign.status_code == 201, campaign.text
    campaign_id = uuid.UUID(campaign.json()["id"])
    claims = LinkClaims(workspace_id, campaign_id, 1, ADA)
    tokens = LinkSigner(LINK_KEY).recipient_tokens(claims)
    assert (await client.get(f"/o/{tokens.open}.gif")).status_code == 200
    assert (await client.post(f"/p/{tokens.preferences}/lists/{list_id}/leave")
            ).status_code == 303
    await client.post("/api/suppressions", json={"email": ADA, "note": f"{ADA} asked"})
    await client.request("DELETE", f"/api/suppressions/{ADA}", json={"reason": "by mistake"})
    await client.post("/api/suppressions", json={"email": ADA, "reason": "complained"})
    async with UnitOfWork(engine) as uow:
        await uow.conn.execute(sends.insert().values(
            campaign_id=campaign_id, sequence=1, email=ADA, workspace_id=workspace_id,
            sent_at=datetime.now(UTC)))
        await handlers.on_email_failed(EmailFailed.create(EmailFailedPayload(
            campaign_id=campaign_id, sequence=2, recipient=ADA, permanent=True, smtp_code=550,
            reason=f"550 5.1.1 <{ADA}>: mailbox unavailable", kind="bounced"),
            workspace_id=workspace_id), uow)
        await uow.commit()
    contact_id: str = created.json()["id"]
    return contact_id


async def test_an_export_holds_the_profile_lists_consents_deliveries_and_engagement(
    api_client: MakeClient, api_engine: AsyncEngine, original_payload: dict[str, Any]
) -> None:
    client = await api_client()
    ws = await workspace(api_engine)
    news = await make_list(api_engine, ws)
    contact_id = await _everywhere(client, api_engine, original_payload, ws, news)
    export = await client.get(f"/api/contacts/{contact_id}/export")
    assert export.status_code == 200, export.text
    data = export.json()
    assert (data["profile"]["email"], data["profile"]["name"], data["profile"]["tags"]) == (
        ADA, "Ada", ["vip"])
    # She left the newsletter on the preference centre; the campaign's own list keeps her.
    assert [(m["name"], m["kind"]) for m in data["lists"]] == [
        (original_payload["name"], "campaign")]
    [consent] = data["consents"]
    assert (consent["source"], consent["basis"], consent["consent_text"]) == (
        "api", "consent", "yes please")
    assert [d["sequence"] for d in data["deliveries"]["sent"]] == [1]
    [failed] = data["deliveries"]["failed"]
    assert (failed["kind"], failed["smtp_code"]) == ("bounced", 550)
    assert [e["kind"] for e in data["engagement"]] == ["open"]
    assert data["suppression"]["reason"] == "complained"
    other = await api_client("other")
    assert (await other.get(f"/api/contacts/{contact_id}/export")).status_code == 404
    assert (await client.get(f"/api/contacts/{uuid.uuid4()}/export")).status_code == 404


@pytest.mark.usefixtures("clean_streams")
async def test_after_erasure_no_table_holds_the_address_and_it_is_refused_again(
    api_client: MakeClient, api_engine: AsyncEngine, original_payload: dict[str, Any],
    outbox_events: ReadOutbox, nats_client: Client,
) -> None:
    client = await api_client()
    ws = await workspace(api_engine)
    news = await make_list(api_engine, ws)
    contact_id = await _everywhere(client, api_engine, original_payload, ws, news)
    # Another contact, and another workspace's Ada, are not touched.
    await client.post("/api/contacts", json={"email": "grace@example.org",
                                             "consent_basis": "consent"})
    other = await api_client("other")
    await other.post("/api/contacts", json={"email": ADA, "consent_basis": "consent"})
    relay = OutboxRelay(api_engine, nats_client.jetstream())
    while await relay.publish_batch():
        pass
    before = await _holding(api_engine, ADA)
    assert {"contacts.email", "suppressions.email", "suppression_removals.email",
            "sends.email", "engagements.email", "delivery_failures.recipient",
            "idempotency_keys.response", "outbox.data"} <= set(before)

    erased = await client.post(f"/api/contacts/{contact_id}/erase")
    assert erased.status_code == 200, erased.text
    assert erased.json() == {"id": contact_id, "erased": True}
    async with api_engine.connect() as conn:
        other_ws = (await conn.execute(sa.text(
            "SELECT id FROM workspaces WHERE name = 'other'"))).scalar_one()
        remaining = (await conn.execute(sa.text(
            "SELECT workspace_id FROM contacts WHERE email = :e"), {"e": ADA})).scalars().all()
        digests = (await conn.execute(sa.select(erased_addresses.c.workspace_id,
                                                erased_addresses.c.digest))).all()
        consents_left = (await conn.execute(sa.text(
            "SELECT count(*) FROM consents WHERE contact_id = :c"), {"c": contact_id})
        ).scalar_one()
    assert consents_left == 0
    assert remaining == [other_ws]  # the other workspace's contact stays
    assert [(d.workspace_id, d.digest) for d in digests] == [
        (ws, ErasureKey(ERASURE_KEY).digest(ADA))]
    [event] = await outbox_events("contact.erased")
    assert event["payload"] == {"email": ADA}
    assert event["workspace_id"] == str(ws)
    async with api_engine.begin() as conn:
        await conn.execute(sa.text("DELETE FROM contacts WHERE workspace_id = :w"),
                           {"w": other_ws})
    # Only the events that named her are left, until her erasure comes back once published.
    assert await _holding(api_engine, ADA) == ["outbox.data"]

    while await relay.publish_batch():
        pass
    async with api_engine.connect() as conn:
        subject = (await conn.execute(sa.select(outbox.c.subject).where(
            outbox.c.subject.like("%contact.erased")))).scalar_one()
    message = await nats_client.jetstream().get_last_msg("CAMPAIGNS", subject)
    published = parse_event(message.data)
    assert isinstance(published, ContactErased)
    async with UnitOfWork(api_engine) as uow:
        await handlers.on_contact_erased(published, uow)
        await uow.commit()
    assert await _holding(api_engine, ADA) == []
    assert await _holding(api_engine, "grace@example.org") == ["contacts.email", "outbox.data"]

    # Coming back: a sign-up stores and mails nothing, the suppression list takes it not.
    before_mail = len(await outbox_events("transactional.requested"))
    await client.post(f"/f/{news}", data={"email": ADA})
    assert len(await outbox_events("transactional.requested")) == before_mail
    assert (await client.post("/api/suppressions", json={"email": ADA})).json() == {
        "added": False}
    assert await _holding(api_engine, ADA) == []
    assert (await client.post(f"/api/contacts/{contact_id}/erase")).status_code == 404
