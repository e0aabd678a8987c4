"""The scheduler's use cases against a real, migrated database and the real unit of work."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, datetime, time, timedelta
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine

from contracts import (
    CampaignCancelled,
    CampaignCompleted,
    CampaignCreated,
    CampaignPaused,
    CampaignResumed,
    CampaignScheduled,
    CampaignUpdated,
    EmailDue,
    Event,
    deterministic_id,
    parse_event,
)
from contracts.events import CampaignRef, CampaignScheduledPayload
from scheduler import db, handlers
from scheduler.domain import PLAN_LENGTH, PLAN_WINDOW
from servicekit.db import UnitOfWork, create_engine, outbox
from servicekit.settings import async_url

MakeCreated = Callable[..., CampaignCreated]
LEAD = timedelta(minutes=30)
WINDOW = timedelta(hours=6)
START = datetime(2030, 1, 7, tzinfo=UTC)  # a Monday


@pytest.fixture
async def engine(migrated_database: Callable[[str], Awaitable[str]]) -> AsyncIterator[AsyncEngine]:
    engine = create_engine(async_url(await migrated_database("scheduler")), pool_size=4)
    yield engine
    await engine.dispose()


async def handle(engine: AsyncEngine, handler: Callable[..., Awaitable[None]], event: Event,
                 **ports: Any) -> None:
    async with UnitOfWork(engine) as uow:
        await handler(event, uow, **ports)
        await uow.commit()


async def tick(engine: AsyncEngine, now: datetime, *, limit: int = 500) -> int:
    async with UnitOfWork(engine) as uow:
        handled = await handlers.emit_due(uow, now=now, lead=LEAD, catch_up=WINDOW, limit=limit)
        await uow.commit()
    return handled


async def schedule_of(engine: AsyncEngine, campaign_id: uuid.UUID) -> Any:
    async with engine.connect() as conn:
        return (await conn.execute(
            sa.select(db.schedules).where(db.schedules.c.campaign_id == campaign_id)
        )).one()


async def emitted(engine: AsyncEngine) -> list[Event]:
    async with engine.connect() as conn:
        rows = (await conn.execute(sa.select(outbox.c.data).order_by(outbox.c.id))).all()
    return [parse_event(r.data) for r in rows]


async def emails_due(engine: AsyncEngine) -> list[EmailDue]:
    return [e for e in await emitted(engine) if isinstance(e, EmailDue)]


async def plans(engine: AsyncEngine) -> list[CampaignScheduledPayload]:
    """Every campaign.scheduled payload, in outbox order."""
    return [e.payload for e in await emitted(engine) if isinstance(e, CampaignScheduled)]


async def skipped(engine: AsyncEngine, campaign_id: uuid.UUID) -> list[Any]:
    async with engine.connect() as conn:
        return list((await conn.execute(
            sa.select(db.skipped_sends)
            .where(db.skipped_sends.c.campaign_id == campaign_id)
            .order_by(db.skipped_sends.c.send_at)
        )).all())


def ref(event_type: type[Event], campaign_id: uuid.UUID) -> Event:
    return event_type.create(CampaignRef(campaign_id=campaign_id), workspace_id=uuid.uuid4())


def without_timestamp(row: Any) -> dict[str, Any]:
    fields: dict[str, Any] = row._asdict()
    fields.pop("updated_at")
    return fields


def daily(**fields: Any) -> dict[str, Any]:
    return {"schedule_type": "daily", "send_time": "09:00", "timezone": "UTC", **fields}


async def test_created_schedules_the_first_send_minus_the_lead(
    engine: AsyncEngine, make_created: MakeCreated
) -> None:
    event = make_created(**daily(start_at=START, total_emails=3, timezone="Europe/Berlin"))
    await handle(engine, handlers.on_created, event, lead=LEAD)

    row = await schedule_of(engine, event.payload.campaign_id)
    first = datetime(2030, 1, 7, 8, tzinfo=UTC)  # 09:00 CET
    assert (row.state, row.next_sequence, row.next_slot, row.total_emails) == ("active", 1, 0, 3)
    assert row.next_send_at == first
    assert row.due_at == first - LEAD
    assert (row.workspace_id, row.correlation_id) == (event.workspace_id, event.correlation_id)

    # A redelivered campaign.created changes nothing.
    await handle(engine, handlers.on_created, event, lead=LEAD)
    assert await schedule_of(engine, event.payload.campaign_id) == row


async def test_emit_due_emits_one_email_due_and_advances(
    engine: AsyncEngine, make_created: MakeCreated
) -> None:
    event = make_created(**daily(start_at=START, total_emails=3))
    campaign = event.payload.campaign_id
    await handle(engine, handlers.on_created, event, lead=LEAD)
    first = START.replace(hour=9)

    assert await tick(engine, first - LEAD - timedelta(seconds=1)) == 0
    assert await tick(engine, first - LEAD) == 1

    [due] = await emails_due(engine)
    assert due.event_id == deterministic_id("email.due", campaign, 1)
    assert (due.payload.campaign_id, due.payload.sequence, due.payload.total) == (campaign, 1, 3)
    assert due.payload.send_at == first
    assert (due.workspace_id, due.correlation_id) == (event.workspace_id, event.correlation_id)
    row = await schedule_of(engine, campaign)
    assert (row.next_sequence, row.next_slot) == (2, 1)
    assert row.next_send_at == first + timedelta(days=1)
    assert row.due_at == first + timedelta(days=1) - LEAD
    # Once emitted it is no longer due.
    assert await tick(engine, first) == 0


async def test_a_per_contact_time_email_is_due_a_lead_before_its_send_time_at_utc_plus_14(
    engine: AsyncEngine, make_created: MakeCreated
) -> None:
    """Content must exist before the first zone's 09:00 (UTC+14), not the campaign zone's; the
    events still carry the campaign zone's send time."""
    event = make_created(**daily(start_at=START, total_emails=2, timezone="Europe/Berlin",
                                 per_contact_time=True))
    campaign = event.payload.campaign_id
    await handle(engine, handlers.on_created, event, lead=LEAD)
    berlin = datetime(2030, 1, 7, 8, tzinfo=UTC)  # 09:00 CET
    kiritimati = datetime(2030, 1, 6, 19, tzinfo=UTC)  # 09:00 on 7 January at UTC+14

    row = await schedule_of(engine, campaign)
    assert (row.next_send_at, row.due_at) == (berlin, kiritimati - LEAD)
    assert await tick(engine, kiritimati - LEAD - timedelta(seconds=1)) == 0
    assert await tick(engine, kiritimati - LEAD) == 1
    [due] = await emails_due(engine)
    assert due.payload.send_at == berlin
    row = await schedule_of(engine, campaign)
    assert (row.next_send_at, row.due_at) == (berlin + timedelta(days=1),
                                              kiritimati + timedelta(days=1) - LEAD)


async def test_a_send_time_optimised_email_is_due_a_lead_before_its_local_midnight_at_utc_plus_14(
    engine: AsyncEngine, make_created: MakeCreated
) -> None:
    """A contact's preferred hour may be the local date's first: content must exist before
    00:00 of 7 January at UTC+14."""
    event = make_created(**daily(start_at=START, total_emails=2, timezone="Europe/Berlin",
                                 send_time_optimization=True))
    campaign = event.payload.campaign_id
    await handle(engine, handlers.on_created, event, lead=LEAD)
    berlin = datetime(2030, 1, 7, 8, tzinfo=UTC)  # 09:00 CET
    kiritimati_midnight = datetime(2030, 1, 6, 10, tzinfo=UTC)

    row = await schedule_of(engine, campaign)
    assert (row.next_send_at, row.due_at) == (berlin, kiritimati_midnight - LEAD)


async def test_emitting_a_schedule_twice_never_adds_a_second_outbox_row(
    engine: AsyncEngine, make_created: MakeCreated
) -> None:
    event = make_created(**daily(start_at=START, total_emails=3))
    campaign = event.payload.campaign_id
    await handle(engine, handlers.on_created, event, lead=LEAD)
    first = START.replace(hour=9)
    assert await tick(engine, first) == 1
    before = without_timestamp(await schedule_of(engine, campaign))

    # As if the advance were lost (a replica working from a stale copy): email 1 again.
    async with engine.begin() as conn:
        await db.update_schedule(conn, campaign, next_sequence=1, next_slot=0,
                                 next_send_at=first, due_at=first - LEAD)
    async with engine.connect() as conn:
        outbox_before = (await conn.execute(sa.select(outbox.c.event_id))).all()
    assert await tick(engine, first) == 1

    async with engine.connect() as conn:
        rows = (await conn.execute(sa.select(outbox.c.event_id, outbox.c.subject)
                                   .where(outbox.c.subject == "email.due"))).all()
        outbox_after = (await conn.execute(sa.select(outbox.c.event_id))).all()
    assert rows == [(deterministic_id("email.due", campaign, 1), "email.due")]
    # The same change again: its campaign.scheduled has the same id, so no new row either.
    assert outbox_after == outbox_before
    assert without_timestamp(await schedule_of(engine, campaign)) == before


async def test_paused_schedule_is_never_due(
    engine: AsyncEngine, make_created: MakeCreated
) -> None:
    event = make_created(**daily(start_at=START, total_emails=3))
    campaign = event.payload.campaign_id
    await handle(engine, handlers.on_created, event, lead=LEAD)
    await handle(engine, handlers.on_paused, ref(CampaignPaused, campaign))

    row = await schedule_of(engine, campaign)
    assert (row.state, row.due_at) == ("paused", None)
    assert await tick(engine, START + timedelta(days=365)) == 0
    assert await emails_due(engine) == []


async def test_resume_takes_the_next_slot_from_now_and_numbering_goes_on(
    engine: AsyncEngine, make_created: MakeCreated
) -> None:
    # Email 1 went out, then the campaign was paused; it is resumed ten days in, at 12:00.
    event = make_created(**daily(start_at=START, total_emails=20))
    campaign = event.payload.campaign_id
    await handle(engine, handlers.on_created, event, lead=LEAD)
    assert await tick(engine, START.replace(hour=9)) == 1
    await handle(engine, handlers.on_paused, ref(CampaignPaused, campaign))

    resumed_at = START + timedelta(days=10, hours=12)
    await handle(engine, handlers.on_resumed, ref(CampaignResumed, campaign), lead=LEAD,
                 clock=lambda: resumed_at)
    row = await schedule_of(engine, campaign)
    assert row.state == "active"
    assert row.next_send_at == START + timedelta(days=11, hours=9)
    assert row.next_send_at.time() == time(9)
    # The slots of the pause are dropped...
    assert row.next_slot == 11
    assert row.next_sequence == 2  # ...without using up a sequence number
    assert row.due_at == row.next_send_at - LEAD

    assert await tick(engine, row.next_send_at) == 1
    dues = await emails_due(engine)
    assert [d.payload.sequence for d in dues] == [1, 2]
    assert dues[1].payload.send_at == row.next_send_at
    assert await skipped(engine, campaign) == []


async def test_cancelled_campaign_sends_nothing_more(
    engine: AsyncEngine, make_created: MakeCreated
) -> None:
    event = make_created(**daily(start_at=START, total_emails=3))
    campaign = event.payload.campaign_id
    await handle(engine, handlers.on_created, event, lead=LEAD)
    assert await tick(engine, START.replace(hour=9)) == 1
    await handle(engine, handlers.on_cancelled, ref(CampaignCancelled, campaign))
    # Neither a resume nor time passing brings it back.
    await handle(engine, handlers.on_resumed, ref(CampaignResumed, campaign), lead=LEAD)

    row = await schedule_of(engine, campaign)
    assert (row.state, row.due_at, row.next_send_at) == ("cancelled", None, None)
    assert await tick(engine, START + timedelta(days=30)) == 0
    assert [type(e) for e in await emitted(engine) if not isinstance(e, CampaignScheduled)] == [
        EmailDue]
    assert [p.state for p in await plans(engine)] == ["active", "cancelled"]


async def test_the_last_email_completes_the_campaign(
    engine: AsyncEngine, make_created: MakeCreated
) -> None:
    # Tuesdays and Fridays for one month: slots counted from the rule, not given.
    event = make_created(schedule_type="weekly", weekly_days=[5, 2], total_months=1,
                         start_at=START, send_time="10:00", timezone="America/New_York")
    campaign = event.payload.campaign_id
    await handle(engine, handlers.on_created, event, lead=LEAD)
    total = (await schedule_of(engine, campaign)).total_emails
    assert total == 9  # Jan 8, 11, 15, 18, 22, 25, 29; Feb 1, 5

    while (row := await schedule_of(engine, campaign)).due_at is not None:
        assert await tick(engine, row.due_at) == 1

    events = await emitted(engine)
    dues = [e for e in events if isinstance(e, EmailDue)]
    assert [d.payload.sequence for d in dues] == list(range(1, total + 1))
    assert {d.payload.send_at.astimezone(UTC).hour for d in dues} == {15}  # 10:00 EST
    completed = events[-1]
    assert isinstance(completed, CampaignCompleted)
    assert completed.event_id == deterministic_id("campaign.completed", campaign)
    assert completed.payload.total_emails == total
    assert (row.state, row.next_send_at) == ("completed", None)
    assert await tick(engine, START + timedelta(days=365)) == 0


async def test_sends_missed_beyond_the_catch_up_window_are_skipped_not_sent(
    engine: AsyncEngine, make_created: MakeCreated
) -> None:
    event = make_created(**daily(start_at=START, total_emails=5))
    campaign = event.payload.campaign_id
    await handle(engine, handlers.on_created, event, lead=LEAD)
    # Back after nine days down, an hour after the tenth slot.
    now = START + timedelta(days=9, hours=10)

    assert await tick(engine, now) == 1
    assert await emails_due(engine) == []
    [first] = await skipped(engine, campaign)
    assert (first.slot, first.send_at) == (0, START.replace(hour=9))
    row = await schedule_of(engine, campaign)
    assert (row.state, row.next_slot, row.next_sequence) == ("active", 1, 1)

    # One slot per tick, never a burst: the other eight are skipped, the tenth is sent late.
    ticks = 1
    while await tick(engine, now):
        ticks += 1
    assert ticks == 10
    assert [s.slot for s in await skipped(engine, campaign)] == list(range(9))
    [due] = await emails_due(engine)
    assert (due.payload.sequence, due.payload.send_at) == (1, now.replace(hour=9))
    row = await schedule_of(engine, campaign)
    assert (row.next_slot, row.next_sequence, row.total_emails) == (10, 2, 5)


async def test_concurrent_ticks_emit_every_due_email_exactly_once(
    engine: AsyncEngine, make_created: MakeCreated
) -> None:
    events = [make_created(**daily(start_at=START, total_months=1)) for _ in range(200)]
    async with UnitOfWork(engine) as uow:
        for event in events:
            await handlers.on_created(event, uow, lead=LEAD)
        await uow.commit()

    # Each claims at most 120: without row locks they would handle 240 between them.
    handled = await asyncio.gather(*(tick(engine, START.replace(hour=9), limit=120)
                                     for _ in range(2)))
    assert sum(handled) == 200

    dues = await emails_due(engine)
    assert sorted(d.event_id for d in dues) == sorted(
        deterministic_id("email.due", e.payload.campaign_id, 1) for e in events
    )
    assert {d.payload.sequence for d in dues} == {1}
    async with engine.connect() as conn:
        sequences = (await conn.execute(
            sa.select(db.schedules.c.next_sequence, sa.func.count())
            .group_by(db.schedules.c.next_sequence)
        )).all()
    assert sequences == [(2, 200)]


async def test_every_change_publishes_the_plan_once(
    engine: AsyncEngine, make_created: MakeCreated
) -> None:
    event = make_created(**daily(start_at=START, total_emails=6))
    campaign = event.payload.campaign_id
    day = timedelta(days=1)
    nine = START.replace(hour=9)
    await handle(engine, handlers.on_created, event, lead=LEAD)
    await handle(engine, handlers.on_created, event, lead=LEAD)  # redelivered: no change

    [created] = await plans(engine)
    assert (created.campaign_id, created.state, created.total_emails) == (campaign, "active", 6)
    assert created.next_sequence == 1
    # The plan covers every email of this short campaign...
    assert created.next_send_times == [nine + i * day for i in range(6)]

    # ...so sending email 1 needs no new one.
    assert await tick(engine, nine) == 1
    assert len(await plans(engine)) == 1

    # Pause, resume within the same slot, pause again: the second pause has the same content
    # as the first but is a change of its own, so it is published too.
    pause, again = ref(CampaignPaused, campaign), ref(CampaignPaused, campaign)
    await handle(engine, handlers.on_paused, pause)
    await handle(engine, handlers.on_resumed, ref(CampaignResumed, campaign), lead=LEAD,
                 clock=lambda: nine + timedelta(hours=1))
    await handle(engine, handlers.on_paused, again)
    await handle(engine, handlers.on_resumed, ref(CampaignResumed, campaign), lead=LEAD,
                 clock=lambda: nine + 3 * day + timedelta(hours=1))
    lifecycle = (await plans(engine))[1:]
    assert [(p.state, p.next_sequence) for p in lifecycle] == [
        ("paused", 2), ("active", 2), ("paused", 2), ("active", 2)]
    assert [p.next_send_times for p in lifecycle] == [
        [], [nine + i * day for i in range(1, 6)], [],
        # Email 2 of 6 takes the first slot after the resume; five are left to plan.
        [nine + i * day for i in range(4, 9)]]

    await handle(engine, handlers.on_cancelled, ref(CampaignCancelled, campaign))
    cancelled = (await plans(engine))[-1]
    assert (cancelled.state, cancelled.next_send_times) == ("cancelled", [])
    assert len(await plans(engine)) == 6


async def test_a_long_plan_is_republished_only_when_it_runs_short(
    engine: AsyncEngine, make_created: MakeCreated
) -> None:
    event = make_created(**daily(start_at=START, total_emails=40))
    nine = START.replace(hour=9)
    day = timedelta(days=1)
    await handle(engine, handlers.on_created, event, lead=LEAD)
    [created] = await plans(engine)
    assert created.next_send_times == [nine + i * day for i in range(PLAN_WINDOW)]

    sent = 0
    while len(await plans(engine)) == 1:
        row = await schedule_of(engine, event.payload.campaign_id)
        assert await tick(engine, row.due_at) == 1
        sent += 1
    # Republished once fewer than PLAN_LENGTH of the published times were still to come.
    assert sent == PLAN_WINDOW - PLAN_LENGTH + 1
    renewed = (await plans(engine))[-1]
    assert renewed.next_sequence == sent + 1
    assert renewed.next_send_times == [nine + i * day for i in range(sent, 40)]


async def test_a_skipped_slot_republishes_the_plan(
    engine: AsyncEngine, make_created: MakeCreated
) -> None:
    event = make_created(**daily(start_at=START, total_emails=3))
    nine = START.replace(hour=9)
    await handle(engine, handlers.on_created, event, lead=LEAD)
    # Down for two days: the first slot is older than the catch-up window.
    assert await tick(engine, nine + timedelta(days=1, hours=12)) == 1
    assert await emails_due(engine) == []
    renewed = (await plans(engine))[-1]
    assert renewed.next_sequence == 1
    assert renewed.next_send_times == [nine + timedelta(days=d) for d in (1, 2, 3)]


async def test_a_skip_under_an_updated_rule_is_recorded_beside_the_old_ones(
    engine: AsyncEngine, make_created: MakeCreated
) -> None:
    event = make_created(**daily(start_at=START, total_emails=10))
    campaign = event.payload.campaign_id
    nine, day = START.replace(hour=9), timedelta(days=1)
    await handle(engine, handlers.on_created, event, lead=LEAD)
    assert await tick(engine, nine + day + timedelta(hours=12)) == 1  # slot 0 missed
    # From day 5 on; the new rule numbers its slots from 0 again.
    changed = make_created(campaign, **daily(start_at=START + 5 * day, total_emails=10)).payload
    await handle(engine, handlers.on_updated,
                 CampaignUpdated.create(changed, workspace_id=event.workspace_id),
                 lead=LEAD, clock=lambda: START + 2 * day)
    assert await tick(engine, nine + 6 * day + timedelta(hours=12)) == 1  # its slot 0 missed

    assert [(s.slot, s.send_at) for s in await skipped(engine, campaign)] == [
        (0, nine), (0, nine + 5 * day)]


async def test_the_plan_ends_completed(
    engine: AsyncEngine, make_created: MakeCreated
) -> None:
    event = make_created(**daily(start_at=START, total_emails=3))
    await handle(engine, handlers.on_created, event, lead=LEAD)
    while (row := await schedule_of(engine, event.payload.campaign_id)).due_at is not None:
        assert await tick(engine, row.due_at) == 1
    assert [(p.state, len(p.next_send_times)) for p in await plans(engine)] == [
        ("active", 3), ("completed", 0)]


async def test_an_unreadable_schedule_is_moved_aside_and_the_batch_goes_on(
    engine: AsyncEngine, make_created: MakeCreated
) -> None:
    events = [make_created(**daily(start_at=START, total_emails=3)) for _ in range(4)]
    for event in events:
        await handle(engine, handlers.on_created, event, lead=LEAD)
    broken = events[1].payload.campaign_id
    async with engine.begin() as conn:
        # A zone the time-zone database no longer knows, and one with a send time missing.
        await db.update_schedule(conn, broken, schedule={"schedule_type": "daily",
                                                         "timezone": "Mars/Olympus_Mons"})
        await db.update_schedule(conn, events[2].payload.campaign_id, next_send_at=None)

    assert await tick(engine, START.replace(hour=9)) == 4

    dues = await emails_due(engine)
    assert {d.payload.campaign_id for d in dues} == {
        events[0].payload.campaign_id, events[3].payload.campaign_id}
    for campaign in (broken, events[2].payload.campaign_id):
        row = await schedule_of(engine, campaign)
        assert (row.state, row.due_at, row.next_sequence) == ("error", None, 1)
        assert row.error
    assert "ValidationError" in (await schedule_of(engine, broken)).error
    # Moved aside, it no longer comes back on every tick.
    assert await tick(engine, START.replace(hour=9)) == 0


async def test_an_update_applies_the_new_rule_from_now_and_numbering_goes_on(
    engine: AsyncEngine, make_created: MakeCreated
) -> None:
    event = make_created(**daily(start_at=START, total_emails=10))
    campaign = event.payload.campaign_id
    await handle(engine, handlers.on_created, event, lead=LEAD)
    assert await tick(engine, START.replace(hour=9)) == 1
    # Tuesday noon: from now on Wednesdays at 10:00 in Berlin, four emails in all.
    changed = make_created(campaign, schedule_type="weekly", weekly_days=[3],
                           total_emails=4, start_at=START, send_time="10:00",
                           timezone="Europe/Berlin").payload
    update = CampaignUpdated.create(changed, workspace_id=event.workspace_id)
    await handle(engine, handlers.on_updated, update, lead=LEAD,
                 clock=lambda: START + timedelta(days=1, hours=12))

    row = await schedule_of(engine, campaign)
    wednesday = datetime(2030, 1, 9, 9, tzinfo=UTC)  # 10:00 CET
    assert (row.state, row.total_emails, row.next_sequence) == ("active", 4, 2)
    assert (row.next_send_at, row.due_at) == (wednesday, wednesday - LEAD)
    plan = (await plans(engine))[-1]
    # Emails 2, 3 and 4 are left.
    assert plan.next_send_times == [wednesday + timedelta(weeks=w) for w in range(3)]
    assert (plan.state, plan.total_emails, plan.next_sequence) == ("active", 4, 2)
