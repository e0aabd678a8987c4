"""The preference centre behind every campaign email's footer link: the sender's public lists
with the contact's membership; leave, rejoin (a new consent record), or unsubscribe from
everything."""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from typing import Any

import httpx
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine

from campaign_api.db.contact_tables import suppressions
from contracts.links import LinkClaims, LinkSigner

from .conftest import LINK_KEY
from .consent_helpers import (
    consents_of,
    contact_row,
    make_contact,
    make_list,
    members_of,
    workspace,
)

MakeClient = Callable[..., Awaitable[httpx.AsyncClient]]
ReadOutbox = Callable[..., Awaitable[list[dict[str, Any]]]]
SIGNER = LinkSigner(LINK_KEY)


def _link(workspace_id: uuid.UUID, email: str, campaign_id: uuid.UUID | None = None) -> str:
    """The footer link exactly as the mailer signs it for a recipient of a campaign email."""
    claims = LinkClaims(workspace_id, campaign_id or uuid.uuid4(), 1, email)
    return f"/p/{SIGNER.recipient_tokens(claims).preferences}"


async def _suppression(engine: AsyncEngine, workspace_id: uuid.UUID, email: str) -> Any:
    async with engine.connect() as conn:
        return (await conn.execute(sa.select(suppressions).where(
            suppressions.c.workspace_id == workspace_id, suppressions.c.email == email))).first()


async def test_the_page_lists_the_public_lists_with_the_contacts_membership(
    api_client: MakeClient, api_engine: AsyncEngine
) -> None:
    client = await api_client()
    ws = await workspace(api_engine)
    news = await make_list(api_engine, ws, "Newsletter")
    offers = await make_list(api_engine, ws, "Offers")
    staff = await make_list(api_engine, ws, "Staff only", public=False)
    await make_contact(api_engine, ws, "ada@example.com", lists_of=(news, staff))
    page = await client.get(_link(ws, "ada@example.com"))
    assert page.status_code == 200
    assert page.headers["cache-control"] == "no-store, private"
    html = page.text
    assert "ada@example.com" in html
    assert "Staff only" not in html
    assert f"/lists/{news}/leave" in html
    assert f"/lists/{offers}/join" in html
    assert f"/lists/{news}/join" not in html
    assert f"/lists/{offers}/leave" not in html
    # Another workspace's link shows nothing of this one.
    other = await workspace(api_engine, "other")
    assert (await client.get(_link(other, "ada@example.com"))).status_code == 404


async def test_leaving_and_rejoining_a_list_withdraws_and_records_consent(
    api_client: MakeClient, api_engine: AsyncEngine, outbox_events: ReadOutbox
) -> None:
    client = await api_client()
    ws = await workspace(api_engine)
    news = await make_list(api_engine, ws, "Newsletter")
    contact_id = await make_contact(api_engine, ws, "ada@example.com", lists_of=(news,))
    link = _link(ws, "ada@example.com")

    left = await client.post(f"{link}/lists/{news}/leave")
    assert left.status_code == 303
    assert left.headers["location"] == f"{link}?done=left"
    assert await members_of(api_engine, news) == []
    [removed] = await outbox_events("list.members.removed")
    assert removed["payload"] == {"list_id": str(news), "emails": ["ada@example.com"]}
    assert "you have left that list" in (await client.get(f"{link}?done=left")).text

    joined = await client.post(f"{link}/lists/{news}/join",
                               headers={"User-Agent": "Mail reader"})
    assert joined.status_code == 303
    assert await members_of(api_engine, news) == ["ada@example.com"]
    [record] = await consents_of(api_engine, contact_id)
    assert (record.source, record.list_id, record.user_agent, record.ip) == (
        "preference_centre", news, "Mail reader", "127.0.0.1")
    assert record.confirmed_at is not None
    [added] = await outbox_events("list.members.added")
    assert added["payload"]["emails"] == ["ada@example.com"]
    # A private list cannot be joined from here, nor a list of another workspace.
    staff = await make_list(api_engine, ws, "Staff", public=False)
    assert (await client.post(f"{link}/lists/{staff}/join")).status_code == 404
    assert await members_of(api_engine, staff) == []


async def test_unsubscribing_from_everything_suppresses_and_rejoining_resubscribes(
    api_client: MakeClient, api_engine: AsyncEngine, outbox_events: ReadOutbox
) -> None:
    client = await api_client()
    ws = await workspace(api_engine)
    news = await make_list(api_engine, ws, "Newsletter")
    offers = await make_list(api_engine, ws, "Offers")
    await make_contact(api_engine, ws, "ada@example.com", lists_of=(news, offers))
    campaign_id = uuid.uuid4()
    link = _link(ws, "ada@example.com", campaign_id)

    done = await client.post(f"{link}/unsubscribe")
    assert done.status_code == 303
    assert (await contact_row(api_engine, ws, "ada@example.com")).status == "unsubscribed"
    assert (await _suppression(api_engine, ws, "ada@example.com")).reason == "unsubscribed"
    assert await members_of(api_engine, news) == await members_of(api_engine, offers) == []
    [suppressed] = await outbox_events("suppression.added")
    assert suppressed["payload"] == {"emails": ["ada@example.com"], "reason": "unsubscribed"}
    [changed] = await outbox_events("contacts.changed")
    assert changed["payload"]["contacts"][0]["status"] == "unsubscribed"
    assert len(await outbox_events("list.members.removed")) == 2
    # Counted as an unsubscribe from the campaign whose email carried the link.
    [unsubscribed] = await outbox_events("recipient.unsubscribed")
    assert unsubscribed["payload"]["campaign_id"] == str(campaign_id)
    page = await client.get(f"{link}?done=unsubscribed")
    assert "unsubscribed from everything" in page.text

    await client.post(f"{link}/lists/{offers}/join")
    assert (await contact_row(api_engine, ws, "ada@example.com")).status == "subscribed"
    assert await _suppression(api_engine, ws, "ada@example.com") is None
    [lifted] = await outbox_events("suppression.removed")
    assert lifted["payload"]["emails"] == ["ada@example.com"]
    assert await members_of(api_engine, offers) == ["ada@example.com"]
    assert await members_of(api_engine, news) == []


async def test_a_bounced_address_cannot_rejoin(
    api_client: MakeClient, api_engine: AsyncEngine, outbox_events: ReadOutbox
) -> None:
    client = await api_client()
    ws = await workspace(api_engine)
    news = await make_list(api_engine, ws)
    await make_contact(api_engine, ws, "gone@example.com", status="bounced")
    refused = await client.post(f"{_link(ws, 'gone@example.com')}/lists/{news}/join")
    assert refused.status_code == 409
    assert await members_of(api_engine, news) == []
    assert await outbox_events() == []


async def test_a_forged_or_foreign_link_shows_and_changes_nothing(
    api_client: MakeClient, api_engine: AsyncEngine, outbox_events: ReadOutbox
) -> None:
    client = await api_client()
    ws = await workspace(api_engine)
    news = await make_list(api_engine, ws)
    await make_contact(api_engine, ws, "ada@example.com", lists_of=(news,))
    claims = LinkClaims(ws, uuid.uuid4(), 1, "ada@example.com")
    unsubscribe_token = SIGNER.recipient_tokens(claims).unsubscribe
    forged = LinkSigner("z" * 40).recipient_tokens(claims).preferences
    for token in (unsubscribe_token, forged, "nonsense"):
        assert (await client.get(f"/p/{token}")).status_code == 404
        assert (await client.post(f"/p/{token}/unsubscribe")).status_code == 404
        assert (await client.post(f"/p/{token}/lists/{news}/leave")).status_code == 404
    assert await members_of(api_engine, news) == ["ada@example.com"]
    assert await outbox_events() == []
