"""Double opt-in: a list's hosted form takes a sign-up, the mailer is asked to send the
confirmation with a signed, expiring link, and only following that link subscribes."""

from __future__ import annotations

import re
import uuid
from collections.abc import Awaitable, Callable
from typing import Any

import httpx
from sqlalchemy.ext.asyncio import AsyncEngine

from campaign_api import db
from campaign_api.erasure import ErasureKey
from contracts.contacts import TransactionalPayload
from contracts.links import ConfirmClaims, LinkSigner

from .conftest import ERASURE_KEY, LINK_KEY
from .consent_helpers import (
    CONSENT_TEXT,
    consents_of,
    contact_row,
    make_contact,
    make_list,
    members_of,
    workspace,
)

MakeClient = Callable[..., Awaitable[httpx.AsyncClient]]
ReadOutbox = Callable[..., Awaitable[list[dict[str, Any]]]]
BROWSER = "Mozilla/5.0 (X11; Linux x86_64) Firefox/130.0"
PUBLIC = "https://campaigns.example.com"


def _confirm_path(body: str) -> str:
    [link] = set(re.findall(rf"{re.escape(PUBLIC)}(/f/confirm/[A-Za-z0-9_.\-]+)", body))
    return link


async def test_a_sign_up_is_confirmed_by_the_link_in_its_confirmation_mail(
    api_client: MakeClient, api_engine: AsyncEngine, outbox_events: ReadOutbox
) -> None:
    client = await api_client(public_base_url=PUBLIC)
    ws = await workspace(api_engine)
    list_id = await make_list(api_engine, ws)

    form = await client.get(f"/f/{list_id}")
    assert form.status_code == 200
    assert CONSENT_TEXT in form.text
    assert 'name="website"' in form.text
    posted = await client.post(f"/f/{list_id}", data={"email": "Ada@Example.com",
                                                      "name": "Ada Lovelace", "website": ""},
                               headers={"User-Agent": BROWSER})
    assert posted.status_code == 200, posted.text
    assert "Check your inbox" in posted.text

    # Stored as pending, with the consent as it was given; not on the list yet.
    contact = await contact_row(api_engine, ws, "ada@example.com")
    assert (contact.status, contact.name, contact.source) == ("pending", "Ada Lovelace", "form")
    [record] = await consents_of(api_engine, contact.id)
    assert (record.list_id, record.source, record.consent_text, record.user_agent) == (
        list_id, "form", CONSENT_TEXT, BROWSER)
    assert record.ip == "127.0.0.1"
    assert record.confirmed_at is None
    assert await members_of(api_engine, list_id) == []
    [pending] = await outbox_events("contacts.changed")
    assert pending["payload"]["contacts"][0]["status"] == "pending"

    # The confirmation mail, for the mailer to send at once.
    [mail] = await outbox_events("transactional.requested")
    payload = TransactionalPayload.model_validate(mail["payload"])
    assert (payload.kind, payload.to, payload.to_name, payload.from_name) == (
        "confirmation", "ada@example.com", "Ada Lovelace", "acme")
    assert "Newsletter" in payload.subject
    link = _confirm_path(payload.body_text)
    assert link == _confirm_path(payload.body_html)
    assert CONSENT_TEXT in payload.body_text

    # A GET only asks (mail scanners follow links); the POST confirms.
    asked = await client.get(link)
    assert asked.status_code == 200
    assert "<form method=\"post\">" in asked.text
    assert (await contact_row(api_engine, ws, "ada@example.com")).status == "pending"
    confirmed = await client.post(link)
    assert confirmed.status_code == 200
    assert "You are subscribed" in confirmed.text

    contact = await contact_row(api_engine, ws, "ada@example.com")
    assert contact.status == "subscribed"
    [record] = await consents_of(api_engine, contact.id)
    assert record.confirmed_at is not None
    assert record.confirmed_at >= record.given_at
    assert await members_of(api_engine, list_id) == ["ada@example.com"]
    changed = await outbox_events("contacts.changed")
    assert changed[-1]["payload"]["contacts"][0]["status"] == "subscribed"
    [added] = await outbox_events("list.members.added")
    assert added["payload"] == {"list_id": str(list_id), "emails": ["ada@example.com"]}
    # What a journey triggered by a confirmed sign-up starts on.
    [signed_up] = await outbox_events("activity.recorded")
    assert signed_up["payload"]["name"] == "signup.confirmed"
    assert signed_up["payload"]["email"] == "ada@example.com"
    assert signed_up["payload"]["properties"] == {"form_id": str(list_id)}

    # Following it again changes nothing and says so.
    again = await client.post(link)
    assert again.status_code == 200
    assert "Already confirmed" in again.text
    assert len(await outbox_events("list.members.added")) == 1
    assert len(await outbox_events("activity.recorded")) == 1


async def test_a_bad_sign_up_is_refused_naming_the_field_and_stores_nothing(
    api_client: MakeClient, api_engine: AsyncEngine, outbox_events: ReadOutbox
) -> None:
    client = await api_client()
    list_id = await make_list(api_engine, await workspace(api_engine))
    for data, field in (({"email": "not-an-address"}, "email:"), ({}, "email: missing"),
                        ({"email": "ada@example.com", "name": "Ada\nBcc: x@evil.example"},
                         "name:")):
        response = await client.post(f"/f/{list_id}", data=data)
        assert response.status_code == 422, data
        assert field in response.text
    assert await outbox_events() == []


async def test_a_filled_honeypot_looks_accepted_but_stores_and_sends_nothing(
    api_client: MakeClient, api_engine: AsyncEngine, outbox_events: ReadOutbox
) -> None:
    client = await api_client()
    ws = await workspace(api_engine)
    list_id = await make_list(api_engine, ws)
    response = await client.post(f"/f/{list_id}", data={
        "email": "bot@example.com", "website": "http://spam.example"})
    assert response.status_code == 200
    assert "Check your inbox" in response.text
    assert await contact_row(api_engine, ws, "bot@example.com") is None
    assert await outbox_events() == []


async def test_sign_ups_are_limited_per_client_address(
    api_client: MakeClient, api_engine: AsyncEngine, outbox_events: ReadOutbox
) -> None:
    client = await api_client(signup_burst=2, signups_per_minute=1)
    list_id = await make_list(api_engine, await workspace(api_engine))
    for i in range(2):
        ok = await client.post(f"/f/{list_id}", data={"email": f"user{i}@example.com"})
        assert ok.status_code == 200
    refused = await client.post(f"/f/{list_id}", data={"email": "user9@example.com"})
    assert refused.status_code == 429
    assert int(refused.headers["Retry-After"]) >= 1
    assert len(await outbox_events("transactional.requested")) == 2


async def test_only_a_public_list_has_a_form(
    api_client: MakeClient, api_engine: AsyncEngine, outbox_events: ReadOutbox
) -> None:
    client = await api_client()
    ws = await workspace(api_engine)
    private = await make_list(api_engine, ws, "Staff", public=False)
    campaign = await make_list(api_engine, ws, "A campaign's own", kind="campaign")
    for list_id in (private, campaign, uuid.uuid4()):
        assert (await client.get(f"/f/{list_id}")).status_code == 404
        assert (await client.post(f"/f/{list_id}",
                                  data={"email": "a@example.com"})).status_code == 404
    assert (await client.get("/f/not-a-uuid")).status_code == 422
    assert await outbox_events() == []


async def test_an_erased_address_is_neither_stored_nor_mailed_by_a_sign_up(
    api_client: MakeClient, api_engine: AsyncEngine, outbox_events: ReadOutbox
) -> None:
    client = await api_client()
    ws = await workspace(api_engine)
    list_id = await make_list(api_engine, ws)
    async with api_engine.begin() as conn:
        await db.record_erased(conn, ws, ErasureKey(ERASURE_KEY).digest("gone@example.com"))
    response = await client.post(f"/f/{list_id}", data={"email": "Gone@example.com"})
    assert response.status_code == 200
    assert "Check your inbox" in response.text
    assert await contact_row(api_engine, ws, "gone@example.com") is None
    assert await outbox_events() == []


async def test_a_forged_expired_or_orphaned_confirm_link_subscribes_nobody(
    api_client: MakeClient, api_engine: AsyncEngine, outbox_events: ReadOutbox
) -> None:
    client = await api_client()
    ws = await workspace(api_engine)
    list_id = await make_list(api_engine, ws)
    await make_contact(api_engine, ws, "ann@example.com", status="pending")
    forged = LinkSigner("x" * 40).sign_confirm(ConfirmClaims(ws, list_id, "ann@example.com"))
    nobody = LinkSigner(LINK_KEY).sign_confirm(ConfirmClaims(ws, list_id, "who@example.com"))
    for token in (forged, nobody, "garbage"):
        assert (await client.post(f"/f/confirm/{token}")).status_code == 404
    # A real link with no sign-up behind it (never posted) confirms nothing either.
    never = LinkSigner(LINK_KEY).sign_confirm(ConfirmClaims(ws, list_id, "ann@example.com"))
    assert (await client.post(f"/f/confirm/{never}")).status_code == 404
    assert (await contact_row(api_engine, ws, "ann@example.com")).status == "pending"
    assert await members_of(api_engine, list_id) == []
    assert await outbox_events() == []


async def test_an_existing_contact_keeps_its_status_and_name_until_confirmed(
    api_client: MakeClient, api_engine: AsyncEngine, outbox_events: ReadOutbox
) -> None:
    client = await api_client()
    ws = await workspace(api_engine)
    other = await make_list(api_engine, ws, "Offers")
    list_id = await make_list(api_engine, ws)
    await make_contact(api_engine, ws, "bob@example.com", name="Bob", lists_of=(other,))
    await client.post(f"/f/{list_id}", data={"email": "bob@example.com", "name": "Mallory"})
    contact = await contact_row(api_engine, ws, "bob@example.com")
    assert (contact.status, contact.name) == ("subscribed", "Bob")
    assert await outbox_events("contacts.changed") == []
    assert len(await outbox_events("transactional.requested")) == 1


async def test_the_api_shows_a_lists_form_and_its_embeddable_html(
    api_client: MakeClient, api_engine: AsyncEngine
) -> None:
    client = await api_client(public_base_url=PUBLIC + "/")
    ws = await workspace(api_engine)
    list_id = await make_list(api_engine, ws, 'News & "Views"')
    private = await make_list(api_engine, ws, "Staff", public=False)
    embed = await client.get(f"/api/lists/{list_id}/signup-form")
    assert embed.status_code == 200
    body = embed.json()
    assert body["url"] == f"{PUBLIC}/f/{list_id}"
    assert f'action="{PUBLIC}/f/{list_id}"' in body["html"]
    assert "News &amp; &quot;Views&quot;" in body["html"]
    assert 'name="website"' in body["html"]
    assert 'name="email"' in body["html"]
    assert (await client.get(f"/api/lists/{private}/signup-form")).status_code == 404
    elsewhere = await api_client("other")
    assert (await elsewhere.get(f"/api/lists/{list_id}/signup-form")).status_code == 404
