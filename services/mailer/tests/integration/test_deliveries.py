"""The consumed events against a real migrated database: copies, suppressions, deliveries."""

from __future__ import annotations

import re
import uuid
from typing import TYPE_CHECKING

import pytest
import sqlalchemy as sa

from contracts import RecipientUnsubscribed
from contracts.events import RecipientUnsubscribedPayload
from mailer import db, handlers
from servicekit.consumer import RetryLater

if TYPE_CHECKING:  # test modules cannot import each other; the fixture provides it
    from conftest import World


MESSAGE_ID = re.compile(r"^<[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}@"
                        r"flowers\.example>$")


async def test_content_creates_one_pending_delivery_per_current_member(world: World) -> None:
    await world.campaign()
    await world.members(("ann@example.com", "Ann Lee"), ("bob@example.com", "Bob"),
                        ("cy@example.com", "Cy"))
    await world.handle(handlers.on_members_removed, world.removal("cy@example.com"))

    await world.content(1)

    rows = await world.deliveries()
    assert set(rows) == {"ann@example.com", "bob@example.com"}
    for row in rows.values():
        assert (row.campaign_id, row.sequence, row.state) == (world.campaign_id, 1, "pending")
        assert row.due_at == world.send_at
        assert row.attempts == 0
        assert MESSAGE_ID.match(row.message_id)
        assert row.message_id == f"<{row.id}@flowers.example>"
    assert rows["ann@example.com"].id != rows["bob@example.com"].id


async def test_duplicate_content_creates_no_second_delivery(world: World) -> None:
    await world.campaign()
    await world.members(("ann@example.com", "Ann"))
    first = world.content_event(1)
    await world.handle(handlers.on_content_generated, first)
    await world.dispatch(world.send_at)
    before = await world.deliveries()
    # Someone joins, then the same email is generated again (a redelivery under a new id).
    await world.members(("zed@example.com", "Zed"))
    await world.content(1, subject="A different subject")
    await world.handle(handlers.on_content_generated, first)
    await world.dispatch(world.send_at)

    after = await world.deliveries()
    assert set(after) == {"ann@example.com"}
    assert after["ann@example.com"].message_id == before["ann@example.com"].message_id
    (content,) = await world.fetch(sa.select(db.contents))
    assert content.subject == "Hello {{first_name}}"


async def test_message_ids_are_deterministic(world: World) -> None:
    """The same (campaign, k, recipient) gets the same id on every replica and every run."""
    await world.campaign()
    await world.members(("ann@example.com", "Ann"))
    await world.content(1)
    await world.content(2)
    rows = await world.fetch(sa.select(db.deliveries.c.sequence, db.deliveries.c.message_id))
    ids: dict[int, str] = {r.sequence: r.message_id for r in rows}
    assert len(set(ids.values())) == 2  # each email of the sequence has its own

    async with world.engine.begin() as conn:
        await conn.execute(sa.delete(db.deliveries))
        # As if the dispatcher had crashed before recording the dispatch done.
        await conn.execute(sa.update(db.dispatches).where(db.dispatches.c.sequence == 1)
                           .values(done_at=None))
    await world.dispatch(world.send_at)
    (again,) = await world.fetch(sa.select(db.deliveries.c.message_id))
    assert again.message_id == ids[1]


async def test_content_of_an_unknown_campaign_is_retried_later(world: World) -> None:
    with pytest.raises(RetryLater):
        await world.content(1)
    assert await world.fetch(sa.select(db.contents)) == []


async def test_content_of_a_cancelled_campaign_is_dropped(world: World) -> None:
    await world.campaign()
    await world.members(("ann@example.com", "Ann"))
    await world.cancel()
    await world.content(1)
    assert await world.deliveries() == {}


async def test_cancel_cancels_pending_deliveries(world: World) -> None:
    await world.campaign()
    await world.members(("ann@example.com", "Ann"))
    await world.content(1)
    await world.cancel()
    rows = await world.deliveries()
    assert rows["ann@example.com"].state == "cancelled"


async def test_updated_campaign_keeps_its_state(world: World) -> None:
    await world.campaign()
    await world.cancel()
    await world.campaign(name="Renamed")  # a campaign.updated carries the same definition
    async with world.engine.connect() as conn:
        campaign = await db.get_campaign(conn, world.campaign_id)
    assert campaign is not None
    assert (campaign.name, campaign.state) == ("Renamed", "cancelled")


async def test_re_added_member_is_current_again(world: World) -> None:
    await world.campaign()
    await world.members(("ann@example.com", "Ann"))
    await world.handle(handlers.on_members_removed, world.removal("ann@example.com"))
    await world.members(("ann@example.com", "Ann Lee", {"city": "Utrecht"}))
    (contact,) = await world.fetch(sa.select(db.contacts))
    assert (contact.name, contact.fields, contact.status) == ("Ann Lee", {"city": "Utrecht"},
                                                              "subscribed")
    (member,) = await world.fetch(sa.select(db.memberships))
    assert (member.list_id, member.email) == (world.audience_id, "ann@example.com")


async def test_unsubscribe_is_recorded_once_per_workspace(world: World) -> None:
    def unsubscribed(address: str) -> RecipientUnsubscribed:
        return RecipientUnsubscribed.create(
            RecipientUnsubscribedPayload(email=address, campaign_id=world.campaign_id),
            workspace_id=world.workspace_id, correlation_id=uuid.uuid4(),
        )

    await world.handle(handlers.on_unsubscribed, unsubscribed("Ann@Example.com"))
    await world.handle(handlers.on_unsubscribed, unsubscribed("ann@example.com"))
    rows = await world.fetch(sa.select(db.suppressions))
    assert [(r.workspace_id, r.email, r.reason) for r in rows] == [
        (world.workspace_id, "ann@example.com", "unsubscribed")
    ]
