"""The frequency cap at claim time, and retries kept inside the send window, against a real
database and a real SMTP server."""

from __future__ import annotations

import asyncio
import uuid
from collections import Counter
from dataclasses import replace
from datetime import UTC, datetime, time, timedelta
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine

from contracts import ContactsChanged, Schedule, SendWindow, WorkspaceUpdated
from contracts.contacts import ContactsChangedPayload, ContactState
from contracts.events import WorkspaceSettingsPayload
from mailer import db, handlers, policy_handlers
from mailer.sender import send_due_batch
from mailer.smtp import SmtpPool
from servicekit.db import create_engine

if TYPE_CHECKING:  # test modules cannot import each other; the fixtures provide these
    from conftest import ScriptedSmtp, World

ANN = "ann@example.com"


async def _caps(world: World, **settings: Any) -> None:
    event = WorkspaceUpdated.create(WorkspaceSettingsPayload(name="Shop", **settings),
                                    workspace_id=world.workspace_id)
    await world.handle(policy_handlers.on_workspace_updated, event)


async def _campaigns(world: World, count: int, *members: tuple[str, str]) -> list[World]:
    """`count` campaigns of the world's workspace, each with its first email due for
    `members`."""
    worlds = [world, *(replace(world, campaign_id=uuid.uuid4(), audience_id=uuid.uuid4())
                       for _ in range(count - 1))]
    for w in worlds:
        await w.campaign()
        await w.members(*members)
        await w.content(1)
    return worlds


async def _rows(world: World) -> list[Any]:
    return await world.fetch(sa.select(db.deliveries).order_by(db.deliveries.c.state))


async def test_two_campaigns_in_one_minute_with_a_cap_of_one_a_day_send_one_defer_the_other(
    world: World, smtp: ScriptedSmtp
) -> None:
    await _caps(world, frequency_cap_day=1)
    await _campaigns(world, 2, (ANN, "Ann"))
    now = world.send_at + timedelta(seconds=20)

    await world.send(now)

    pending, sent = await _rows(world)
    assert len(smtp.to(ANN)) == 1
    assert (sent.state, sent.deferred_reason) == ("sent", None)
    assert pending.state == "pending"
    assert pending.due_at == now + timedelta(days=1)
    assert pending.deferred_reason == "frequency cap: 1 a day"
    assert pending.attempts == 0  # not attempted: the retry policy's clock has not started
    assert await world.events("email.failed") == []

    # Nothing else goes during the day; once the day has passed since the first was sent,
    # the second one goes.
    assert await world.send(now + timedelta(hours=23)) == 0
    await world.send(sent.sent_at + timedelta(days=1, seconds=1))
    assert [r.state for r in await _rows(world)] == ["sent", "sent"]
    assert len(smtp.to(ANN)) == 2


async def test_over_the_cap_with_skip_the_delivery_fails_as_capped_with_its_reason(
    world: World, smtp: ScriptedSmtp
) -> None:
    await _caps(world, frequency_cap_day=5, frequency_cap_week=1, over_cap="skip")
    await _campaigns(world, 2, (ANN, "Ann"))

    await world.send(world.send_at)

    failed, sent = await _rows(world)
    assert (sent.state, failed.state) == ("sent", "failed")
    assert failed.last_reply == failed.deferred_reason == "frequency cap: 5 a day, 1 a week"
    [event] = await world.events("email.failed")
    assert event["payload"]["kind"] == "capped"
    assert event["payload"]["campaign_id"] == str(failed.campaign_id)
    assert event["payload"]["recipient"] == ANN
    assert len(smtp.to(ANN)) == 1


async def test_the_cap_counts_per_workspace_and_not_without_a_cap(
    world: World, smtp: ScriptedSmtp
) -> None:
    # Two campaigns of a workspace without a cap, and one of another workspace with one.
    await _campaigns(world, 2, (ANN, "Ann"))
    other = replace(world, workspace_id=uuid.uuid4(), campaign_id=uuid.uuid4(),
                    audience_id=uuid.uuid4())
    await _caps(other, frequency_cap_day=1)
    await _campaigns(other, 1, (ANN, "Ann"))

    await world.send(world.send_at)

    assert [r.state for r in await _rows(world)] == ["sent"] * 3
    assert len(smtp.to(ANN)) == 3


async def test_concurrent_claimers_never_let_two_emails_to_one_contact_through_the_cap(
    world: World, smtp: ScriptedSmtp, transport: SmtpPool
) -> None:
    contacts = [(f"reader{i}@example.com", f"Reader {i}") for i in range(12)]
    await _caps(world, frequency_cap_day=1)
    await _campaigns(world, 2, *contacts)
    await world.dispatch(world.send_at)
    # Both campaigns' deliveries to a contact fall due together and before the next
    # contact's: claimers taking one delivery each at the same moment hold one contact's two.
    async with world.engine.begin() as conn:
        await conn.execute(sa.update(db.deliveries).values(due_at=sa.text(
            "CAST(:at AS timestamptz) + CAST(substring(email from 'reader([0-9]+)@') AS int)"
            " * interval '1 second'").bindparams(at=world.send_at)))
    engine: AsyncEngine = create_engine(world.engine.url.render_as_string(hide_password=False),
                                        pool_size=8)
    options = replace(world.options, batch_size=1)
    now = world.send_at + timedelta(minutes=1)
    try:
        for _ in range(30):
            claimed = await asyncio.gather(*(
                send_due_batch(engine, transport, options=options, now=now) for _ in range(4)))
            if not any(claimed):
                break
    finally:
        await engine.dispose()

    rows = await _rows(world)
    assert Counter(r.state for r in rows) == {"sent": 12, "pending": 12}
    assert Counter(r.email for r in rows if r.state == "sent") == {e: 1 for e, _ in contacts}
    assert {r.deferred_reason for r in rows if r.state == "pending"} == {
        "frequency cap: 1 a day"}
    assert sorted(str(m["To"]) for m in smtp.received) == sorted(
        f"{name} <{email}>" for email, name in contacts)


async def test_a_retry_that_would_fall_outside_the_send_window_waits_for_its_next_opening(
    world: World, smtp: ScriptedSmtp
) -> None:
    # Mondays 09:00-09:30 in New York; the world's send time, 2030-03-04 09:00 UTC, is a
    # Monday, 04:00 there: the first attempt is made at 09:29 New York time.
    window = SendWindow(start=time(9), end=time(9, 30), weekdays=[1])
    schedule = Schedule(schedule_type="daily", total_emails=3, timezone="America/New_York",
                        start_at=world.send_at - timedelta(days=1), send_window=window)
    await world.campaign(schedule=schedule)
    await world.members((ANN, "Ann"))
    await world.content(1)
    smtp.script(ANN, "451 4.7.1 Greylisted, try again later")
    inside = datetime(2030, 3, 4, 14, 29, tzinfo=UTC)  # 09:29 EST

    await world.send(inside)

    [ann] = await _rows(world)
    assert (ann.state, ann.smtp_code) == ("pending", 451)
    # One minute later would be 09:30: closed. The next opening is a week on, 09:00 EDT.
    assert ann.due_at == datetime(2030, 3, 11, 13, 0, tzinfo=UTC)
    await world.send(ann.due_at)
    assert [r.state for r in await _rows(world)] == ["sent"]


async def test_the_window_of_a_retry_is_reckoned_in_the_contacts_own_zone(
    world: World, smtp: ScriptedSmtp
) -> None:
    # Mondays 09:00-09:30, campaign in New York, Ann in Tokyo (09:00 there is 00:00 UTC).
    window = SendWindow(start=time(9), end=time(9, 30), weekdays=[1])
    schedule = Schedule(schedule_type="daily", total_emails=3, timezone="America/New_York",
                        start_at=world.send_at - timedelta(days=1), send_window=window)
    await world.campaign(schedule=schedule)
    await world.members((ANN, "Ann"))
    tokyo = ContactState(email=ANN, name="Ann", timezone="Asia/Tokyo",
                         changed_at=datetime.now(UTC))
    await world.handle(handlers.on_contacts_changed, ContactsChanged.create(
        ContactsChangedPayload(contacts=[tokyo]), workspace_id=world.workspace_id))
    await world.content(1)
    smtp.script(ANN, "451 4.7.1 Greylisted, try again later")

    await world.send(datetime(2030, 3, 11, 0, 29, tzinfo=UTC))  # Monday 09:29 in Tokyo

    [ann] = await _rows(world)
    assert (ann.state, ann.smtp_code) == ("pending", 451)
    assert ann.due_at == datetime(2030, 3, 18, 0, 0, tzinfo=UTC)  # next Monday 09:00 Tokyo
