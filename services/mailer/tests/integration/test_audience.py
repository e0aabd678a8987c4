"""Who receives an email is decided at its send time: contacts once per workspace, list and
segment memberships, targets with exclusions, and each contact's own due time, against a real
migrated database and the real handlers and dispatcher."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa

from contracts import (
    ContactsChanged,
    ContactsDeleted,
    ListMembersAdded,
    ListMembersRemoved,
    Schedule,
    SuppressionAdded,
    SuppressionRemoved,
)
from contracts.campaigns import AudienceTargets, SendWindow
from contracts.contacts import (
    ContactsChangedPayload,
    ContactsDeletedPayload,
    ContactState,
    ListMembersPayload,
    SuppressionPayload,
)
from mailer import db, handlers
from mailer.dispatcher import dispatch_due

if TYPE_CHECKING:  # test modules cannot import each other; the fixtures provide these
    from conftest import ScriptedSmtp, World

ANN, BOB, CY = "ann@example.com", "bob@example.com", "cy@example.com"
CHANGED = datetime(2030, 1, 1, tzinfo=UTC)


async def contacts(world: World, *emails: str, at: datetime = CHANGED, **state: Any) -> None:
    event = ContactsChanged.create(ContactsChangedPayload(contacts=[
        ContactState(email=email, name=email.split("@")[0].title(), changed_at=at, **state)
        for email in emails]), **world.envelope())
    await world.handle(handlers.on_contacts_changed, event)


async def join(world: World, list_id: uuid.UUID, *emails: str) -> None:
    event = ListMembersAdded.create(ListMembersPayload(list_id=list_id, emails=list(emails)),
                                    **world.envelope())
    await world.handle(handlers.on_list_members_added, event)


async def leave(world: World, list_id: uuid.UUID, *emails: str) -> None:
    event = ListMembersRemoved.create(ListMembersPayload(list_id=list_id, emails=list(emails)),
                                      **world.envelope())
    await world.handle(handlers.on_list_members_removed, event)


async def test_a_contact_who_joins_after_the_content_but_before_the_send_time_receives_it(
    world: World, smtp: ScriptedSmtp
) -> None:
    await world.campaign()
    await contacts(world, ANN, BOB)
    await join(world, world.audience_id, ANN)
    await world.content(1, dispatch=False)
    # Imported a minute later, before the send time.
    await join(world, world.audience_id, BOB)

    await world.send(world.send_at)

    assert {m["To"].addresses[0].addr_spec for m in smtp.received} == {ANN, BOB}
    assert {r.state for r in (await world.deliveries()).values()} == {"sent"}


async def test_a_contact_who_leaves_before_the_send_time_does_not_receive_it(
    world: World, smtp: ScriptedSmtp
) -> None:
    await world.campaign()
    await contacts(world, ANN, BOB)
    await join(world, world.audience_id, ANN, BOB)
    await world.content(1, dispatch=False)
    await leave(world, world.audience_id, BOB)

    await world.send(world.send_at)

    assert set(await world.deliveries()) == {ANN}
    assert smtp.to(BOB) == []


async def test_nothing_is_created_before_the_send_time(world: World) -> None:
    await world.campaign()
    await contacts(world, ANN)
    await join(world, world.audience_id, ANN)
    await world.content(1, dispatch=False)
    assert await world.dispatch(world.send_at - timedelta(seconds=1)) == 0
    assert await world.deliveries() == {}
    assert await world.dispatch(world.send_at) == 1
    # A dispatch runs once: the next pass creates nothing.
    assert await world.dispatch(world.send_at + timedelta(hours=1)) == 0


async def test_included_lists_and_segments_are_mailed_less_the_excluded_ones(
    world: World,
) -> None:
    newsletter, vip_segment, churned_segment = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
    await world.campaign(targets=AudienceTargets(include=[newsletter, vip_segment],
                                                 exclude=[churned_segment]))
    dan, eve = "dan@example.com", "eve@example.com"
    await contacts(world, ANN, BOB, CY, dan, eve)
    await join(world, world.audience_id, ANN)  # the campaign's own list is always included
    await join(world, newsletter, BOB, CY)
    await join(world, vip_segment, dan)
    await join(world, churned_segment, CY)
    await join(world, uuid.uuid4(), eve)  # a list this campaign does not target

    await world.content(1)

    assert set(await world.deliveries()) == {ANN, BOB, dan}


async def test_a_contact_on_two_of_the_campaigns_lists_gets_one_delivery(world: World) -> None:
    other = uuid.uuid4()
    await world.campaign(targets=AudienceTargets(include=[other]))
    await contacts(world, ANN)
    await join(world, world.audience_id, ANN)
    await join(world, other, ANN)
    await world.content(1)
    rows = await world.fetch(sa.select(db.deliveries))
    assert [r.email for r in rows] == [ANN]


async def test_only_subscribed_contacts_of_the_campaigns_own_workspace_are_mailed(
    world: World,
) -> None:
    await world.campaign()
    await contacts(world, ANN)
    await contacts(world, BOB, status="unsubscribed")
    await contacts(world, CY, status="pending")
    await join(world, world.audience_id, ANN, BOB, CY)
    # The same list id and address in another workspace are another tenant's.
    other = ContactsChanged.create(
        ContactsChangedPayload(contacts=[ContactState(email="zoe@example.com",
                                                      changed_at=CHANGED)]),
        workspace_id=uuid.uuid4(), correlation_id=uuid.uuid4())
    await world.handle(handlers.on_contacts_changed, other)
    foreign = ListMembersAdded.create(
        ListMembersPayload(list_id=world.audience_id, emails=["zoe@example.com"]),
        workspace_id=other.workspace_id, correlation_id=uuid.uuid4())
    await world.handle(handlers.on_list_members_added, foreign)

    await world.content(1)

    assert set(await world.deliveries()) == {ANN}


async def test_each_contact_is_due_at_the_send_time_in_their_own_zone(
    world: World, smtp: ScriptedSmtp
) -> None:
    """09:00 on 4 March 2030 in Tokyo, Berlin and New York; a contact without a zone takes
    the campaign's (Berlin)."""
    schedule = Schedule(schedule_type="daily", total_emails=3, start_at=world.send_at,
                        send_time="09:00", timezone="Europe/Berlin", per_contact_time=True)
    await world.campaign(schedule=schedule)
    tokyo, berlin, new_york, nowhere = (f"{n}@example.com" for n in
                                        ("tokyo", "berlin", "newyork", "nowhere"))
    await contacts(world, tokyo, timezone="Asia/Tokyo")
    await contacts(world, berlin, timezone="Europe/Berlin")
    await contacts(world, new_york, timezone="America/New_York")
    await contacts(world, nowhere)
    await join(world, world.audience_id, tokyo, berlin, new_york, nowhere)
    berlin_nine = datetime(2030, 3, 4, 8, tzinfo=UTC)

    await world.content(1, dispatch=False, send_at=berlin_nine)
    # The content is stored ahead of the earliest zone; the dispatches wait for each zone.
    assert await world.dispatch(datetime(2030, 3, 3, 23, 59, tzinfo=UTC)) == 0
    assert await world.dispatch(datetime(2030, 3, 4, 0, tzinfo=UTC)) == 1  # 09:00 JST
    assert set(await world.deliveries()) == {tokyo}
    await world.send(datetime(2030, 3, 4, 0, tzinfo=UTC))
    assert [m["To"].addresses[0].addr_spec for m in smtp.received] == [tokyo]

    await world.send(datetime(2030, 3, 4, 23, tzinfo=UTC))
    due = {email: row.due_at for email, row in (await world.deliveries()).items()}
    assert due == {tokyo: datetime(2030, 3, 4, 0, tzinfo=UTC), berlin: berlin_nine,
                   nowhere: berlin_nine, new_york: datetime(2030, 3, 4, 14, tzinfo=UTC)}
    assert len(smtp.received) == 4


async def test_a_contact_who_moved_zone_is_due_in_the_new_one(world: World) -> None:
    schedule = Schedule(schedule_type="daily", total_emails=3, start_at=world.send_at,
                        timezone="Europe/Berlin", per_contact_time=True)
    await world.campaign(schedule=schedule)
    await contacts(world, ANN, timezone="Asia/Tokyo")
    await join(world, world.audience_id, ANN)
    await world.content(1, dispatch=False, send_at=datetime(2030, 3, 4, 8, tzinfo=UTC))
    await contacts(world, ANN, timezone="America/New_York", at=CHANGED + timedelta(days=1))
    await world.dispatch(datetime(2030, 3, 4, 23, tzinfo=UTC))
    assert (await world.deliveries())[ANN].due_at == datetime(2030, 3, 4, 14, tzinfo=UTC)


async def test_the_newest_contact_state_wins_whatever_order_it_arrives_in(
    world: World,
) -> None:
    await contacts(world, ANN, at=CHANGED + timedelta(hours=1), status="unsubscribed",
                   language="de", timezone="Asia/Tokyo")
    await contacts(world, ANN, at=CHANGED, status="subscribed")  # an older state, redelivered
    (row,) = await world.fetch(sa.select(db.contacts))
    assert (row.status, row.language, row.timezone) == ("unsubscribed", "de", "Asia/Tokyo")


async def test_one_contact_and_one_membership_row_however_many_campaigns_share_a_list(
    world: World,
) -> None:
    shared = uuid.uuid4()
    for _ in range(3):
        world.campaign_id = uuid.uuid4()
        await world.campaign(targets=AudienceTargets(include=[shared]))
    await contacts(world, ANN)
    await join(world, shared, ANN)
    await join(world, shared, ANN)
    assert len(await world.fetch(sa.select(db.contacts))) == 1
    assert len(await world.fetch(sa.select(db.memberships))) == 1


async def test_a_deleted_contact_leaves_every_list_and_is_not_mailed(world: World) -> None:
    await world.campaign()
    await contacts(world, ANN, BOB)
    await join(world, world.audience_id, ANN, BOB)
    await world.content(1, dispatch=False)
    deleted = ContactsDeleted.create(ContactsDeletedPayload(emails=[BOB]), **world.envelope())
    await world.handle(handlers.on_contacts_deleted, deleted)
    await world.dispatch(world.send_at)
    assert set(await world.deliveries()) == {ANN}
    assert [r.email for r in await world.fetch(sa.select(db.memberships))] == [ANN]


async def test_a_contact_no_longer_subscribed_at_claim_time_is_settled_unsent(
    world: World, smtp: ScriptedSmtp
) -> None:
    await world.campaign()
    await contacts(world, ANN, BOB)
    await join(world, world.audience_id, ANN, BOB)
    await world.content(1)  # the send time came: both have a delivery
    await contacts(world, BOB, at=CHANGED + timedelta(hours=1), status="unsubscribed")
    await world.send(world.send_at)
    rows = await world.deliveries()
    assert (rows[ANN].state, rows[BOB].state) == ("sent", "cancelled")
    assert rows[BOB].attempts == 0
    assert smtp.to(BOB) == []


async def test_manual_suppressions_are_kept_and_removed(world: World, smtp: ScriptedSmtp) -> None:
    await world.campaign()
    await contacts(world, ANN)
    await join(world, world.audience_id, ANN)

    def change(kind: type[SuppressionAdded] | type[SuppressionRemoved]) -> Any:
        return kind.create(SuppressionPayload(emails=["Ann@Example.com"], reason="manual"),
                           **world.envelope())

    await world.handle(handlers.on_suppression_added, change(SuppressionAdded))
    rows = await world.fetch(sa.select(db.suppressions))
    assert [(r.email, r.reason) for r in rows] == [(ANN, "manual")]
    await world.content(1)
    await world.send(world.send_at)
    assert (await world.deliveries())[ANN].state == "suppressed"

    await world.handle(handlers.on_suppression_removed, change(SuppressionRemoved))
    assert await world.fetch(sa.select(db.suppressions)) == []
    await world.content(2)
    await world.send(world.send_at)
    assert len(smtp.to(ANN)) == 1


async def test_a_paused_campaigns_recipients_are_decided_when_it_resumes(world: World) -> None:
    await world.campaign()
    await contacts(world, ANN, BOB)
    await join(world, world.audience_id, ANN)
    await world.content(1, dispatch=False)
    async with world.engine.begin() as conn:
        await db.set_campaign_state(conn, world.campaign_id, "paused")
    assert await world.dispatch(world.send_at) == 0
    await join(world, world.audience_id, BOB)
    async with world.engine.begin() as conn:
        await db.set_campaign_state(conn, world.campaign_id, "active")
    assert await world.dispatch(world.send_at + timedelta(hours=1)) == 2


async def test_a_cancelled_campaigns_dispatch_creates_nothing(world: World) -> None:
    await world.campaign()
    await contacts(world, ANN)
    await join(world, world.audience_id, ANN)
    await world.content(1, dispatch=False)
    await world.cancel()
    assert await world.dispatch(world.send_at) == 0
    assert await world.deliveries() == {}


async def test_dispatchers_side_by_side_create_each_delivery_once(world: World) -> None:
    await world.campaign()
    emails = [f"reader{i}@example.com" for i in range(300)]
    await contacts(world, *emails)
    await join(world, world.audience_id, *emails)
    for sequence in (1, 2, 3):
        await world.content(sequence, dispatch=False)
    created = await asyncio.gather(*(
        dispatch_due(world.engine, now=world.send_at, default_sender=world.default_sender)
        for _ in range(3)))
    assert sum(created) == 900
    assert len(await world.fetch(sa.select(db.deliveries))) == 900


async def test_the_old_audience_events_still_put_members_on_the_campaigns_list(
    world: World, smtp: ScriptedSmtp
) -> None:
    await world.campaign()
    await world.members((ANN, "Ann Lee", {"city": "Utrecht"}), (BOB, "Bob"))
    await world.handle(handlers.on_members_removed, world.removal(BOB))
    (contact,) = [r for r in await world.fetch(sa.select(db.contacts)) if r.email == ANN]
    assert (contact.name, contact.fields, contact.status) == ("Ann Lee", {"city": "Utrecht"},
                                                              "subscribed")
    await world.content(1)
    await world.send(world.send_at)
    assert [m["To"].addresses[0].addr_spec for m in smtp.received] == [ANN]


async def test_a_delivery_due_outside_the_send_window_starts_at_its_next_opening_there(
    world: World,
) -> None:
    """The window is the contact's local time: 10:00-12:00 on weekdays. At 09:00 UTC on
    Monday 4 March 2030 it is 18:00 in Tokyo, and 09:00 in London."""
    schedule = Schedule(schedule_type="daily", total_emails=3, start_at=world.send_at,
                        send_time="09:00", timezone="Europe/London",
                        send_window=SendWindow(start="10:00", end="12:00",
                                               weekdays=[1, 2, 3, 4, 5]))
    await world.campaign(schedule=schedule)
    tokyo, london, nowhere = "tokyo@example.com", "london@example.com", "nowhere@example.com"
    await contacts(world, tokyo, timezone="Asia/Tokyo")
    await contacts(world, london, timezone="Europe/London")
    await contacts(world, nowhere)
    await join(world, world.audience_id, tokyo, london, nowhere)

    await world.content(1)

    due = {email: row.due_at for email, row in (await world.deliveries()).items()}
    assert due == {london: datetime(2030, 3, 4, 10, tzinfo=UTC),
                   nowhere: datetime(2030, 3, 4, 10, tzinfo=UTC),
                   tokyo: datetime(2030, 3, 5, 1, tzinfo=UTC)}  # Tuesday 10:00 JST
