"""Send-time optimisation: each contact's delivery is due at their preferred hour of the email's
weekday (contacts.changed's send_hours), in their zone, on the email's local date; a contact
without one at the campaign's send time there. Against a real migrated database and the real
handlers and dispatcher."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa

from contracts import ContactsChanged, ListMembersAdded, Schedule
from contracts.campaigns import SendWindow
from contracts.contacts import ContactsChangedPayload, ContactState, ListMembersPayload
from mailer import db, handlers

if TYPE_CHECKING:  # test modules cannot import each other; the fixtures provide these
    from conftest import World

CHANGED = datetime(2030, 1, 1, tzinfo=UTC)
# 09:00 in Berlin on Monday 4 March 2030 (CET, UTC+1): the campaign's send time.
BERLIN_NINE = datetime(2030, 3, 4, 8, tzinfo=UTC)
# Monday 19:00, other days 07:00.
EVENINGS_ON_MONDAY = [19, 7, 7, 7, 7, 7, 7]


async def contact(world: World, email: str, *, at: datetime = CHANGED, **state: Any) -> None:
    event = ContactsChanged.create(ContactsChangedPayload(contacts=[
        ContactState(email=email, changed_at=at, **state)]), **world.envelope())
    await world.handle(handlers.on_contacts_changed, event)
    joined = ListMembersAdded.create(
        ListMembersPayload(list_id=world.audience_id, emails=[email]), **world.envelope())
    await world.handle(handlers.on_list_members_added, joined)


async def optimised_campaign(world: World, **schedule: Any) -> None:
    await world.campaign(schedule=Schedule(
        schedule_type="daily", total_emails=3, start_at=BERLIN_NINE, send_time=time(9),
        timezone="Europe/Berlin", send_time_optimization=True, **schedule))


async def due_times(world: World) -> dict[str, datetime]:
    return {email: row.due_at for email, row in (await world.deliveries()).items()}


async def test_each_contact_is_due_at_their_hour_of_the_emails_weekday_in_their_zone(
    world: World,
) -> None:
    await optimised_campaign(world)
    await contact(world, "tokyo@example.com", timezone="Asia/Tokyo",
                  send_hours=EVENINGS_ON_MONDAY)
    await contact(world, "berlin@example.com", timezone="Europe/Berlin",
                  send_hours=[6, 8, 8, 8, 8, 8, 8])
    await contact(world, "newyork@example.com", timezone="America/New_York")
    await contact(world, "nowhere@example.com")

    await world.content(1, dispatch=False, send_at=BERLIN_NINE)
    await world.dispatch(datetime(2030, 3, 4, 23, tzinfo=UTC))

    assert await due_times(world) == {
        "tokyo@example.com": datetime(2030, 3, 4, 10, tzinfo=UTC),  # 19:00 JST
        "berlin@example.com": datetime(2030, 3, 4, 5, tzinfo=UTC),  # 06:00 CET
        # Without learned hours: 09:00 in their zone, the campaign's for a contact without one.
        "newyork@example.com": datetime(2030, 3, 4, 14, tzinfo=UTC),
        "nowhere@example.com": BERLIN_NINE,
    }


async def test_the_dispatches_start_at_the_local_dates_midnight_in_each_zone(
    world: World,
) -> None:
    await optimised_campaign(world)
    await contact(world, "tokyo@example.com", timezone="Asia/Tokyo", send_hours=[0] * 7)
    await world.content(1, dispatch=False, send_at=BERLIN_NINE)
    tokyo_midnight = datetime(2030, 3, 3, 15, tzinfo=UTC)

    assert await world.dispatch(tokyo_midnight - timedelta(seconds=1)) == 0
    assert await world.dispatch(tokyo_midnight) == 1
    assert await due_times(world) == {"tokyo@example.com": tokyo_midnight}


async def test_a_preferred_hour_outside_the_send_window_moves_to_its_next_opening(
    world: World,
) -> None:
    await optimised_campaign(world, send_window=SendWindow(start=time(8), end=time(18)))
    await contact(world, "late@example.com", timezone="Europe/Berlin",
                  send_hours=[22, 22, 22, 22, 22, 22, 22])
    await contact(world, "early@example.com", timezone="Europe/Berlin",
                  send_hours=[10, 10, 10, 10, 10, 10, 10])
    await world.content(1, dispatch=False, send_at=BERLIN_NINE)
    await world.dispatch(datetime(2030, 3, 5, 23, tzinfo=UTC))

    assert await due_times(world) == {
        "late@example.com": datetime(2030, 3, 5, 7, tzinfo=UTC),  # Tuesday 08:00 CET
        "early@example.com": datetime(2030, 3, 4, 9, tzinfo=UTC),
    }


async def test_a_preferred_hour_in_the_spring_gap_moves_forward_by_the_gap(
    world: World,
) -> None:
    """New York springs forward at 02:00 on Sunday 10 March 2030: 02:00 is sent at 03:00 EDT,
    as rules.sendtime treats every send time."""
    await optimised_campaign(world)
    await contact(world, "ny@example.com", timezone="America/New_York",
                  send_hours=[9, 9, 9, 9, 9, 9, 2])
    sunday_nine_berlin = datetime(2030, 3, 10, 8, tzinfo=UTC)
    await world.content(1, dispatch=False, send_at=sunday_nine_berlin)
    await world.dispatch(datetime(2030, 3, 11, tzinfo=UTC))

    assert await due_times(world) == {"ny@example.com": datetime(2030, 3, 10, 7, tzinfo=UTC)}


async def test_a_campaign_without_it_ignores_the_contacts_hours(world: World) -> None:
    await world.campaign(schedule=Schedule(
        schedule_type="daily", total_emails=3, start_at=BERLIN_NINE, send_time=time(9),
        timezone="Europe/Berlin", per_contact_time=True))
    await contact(world, "tokyo@example.com", timezone="Asia/Tokyo",
                  send_hours=EVENINGS_ON_MONDAY)
    await world.content(1, dispatch=False, send_at=BERLIN_NINE)
    await world.dispatch(datetime(2030, 3, 4, 23, tzinfo=UTC))

    assert await due_times(world) == {"tokyo@example.com": datetime(2030, 3, 4, 0, tzinfo=UTC)}


async def test_the_newest_contact_state_brings_its_hours(world: World) -> None:
    await contact(world, "ann@example.com", at=CHANGED + timedelta(hours=1),
                  send_hours=EVENINGS_ON_MONDAY)
    await contact(world, "ann@example.com", at=CHANGED)  # older, redelivered
    (row,) = await world.fetch(sa.select(db.contacts.c.send_hours))
    assert row.send_hours == EVENINGS_ON_MONDAY
