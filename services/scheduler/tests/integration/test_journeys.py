"""Journeys in the scheduler against a real, migrated database and the real unit of work: the
content asked for once per email step, contacts entering on their trigger as the re-entry
policy allows, the timer batch emitting each step once, facts waking branches, goals and
lifecycle ending enrollments, and a new version taken by new entries only."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine

from contracts import (
    ActivityRecorded,
    CampaignCancelled,
    CampaignCreated,
    CampaignDefinition,
    CampaignPaused,
    CampaignResumed,
    CampaignUpdated,
    ContactErased,
    ContactsChanged,
    ContactState,
    EmailClicked,
    EmailDue,
    Event,
    JourneyActionDue,
    JourneyStepDue,
    ListMembersAdded,
    RecipientUnsubscribed,
    deterministic_id,
    parse_event,
)
from contracts.contacts import ContactErasedPayload, ContactsChangedPayload, ListMembersPayload
from contracts.events import CampaignRef, EmailClickedPayload, RecipientUnsubscribedPayload
from contracts.journey_events import ActivityPayload
from scheduler import db, handlers, journey_handlers, journey_timers
from scheduler.db import journeys as jdb
from servicekit.db import UnitOfWork, create_engine, outbox
from servicekit.settings import async_url
from testkit.holders import columns_holding

WORKSPACE = uuid.UUID("00000000-0000-4000-8000-00000000c0de")
T0 = datetime(2030, 1, 7, 9, tzinfo=UTC)
LIST = uuid.UUID(int=42)
LEAD = timedelta(minutes=30)


@pytest.fixture
async def engine(migrated_database: Callable[[str], Awaitable[str]]) -> AsyncIterator[AsyncEngine]:
    engine = create_engine(async_url(await migrated_database("scheduler")), pool_size=4)
    yield engine
    await engine.dispose()


def welcome(version: int = 1, *, trigger: dict[str, Any] | None = None,
            reentry: dict[str, Any] | None = None, second_goal: str = "Nudge") -> dict[str, Any]:
    return {
        "version": version,
        "trigger": trigger or {"type": "event_received", "name": "signed_up"},
        "start": "email-1",
        "steps": [
            {"type": "email", "id": "email-1", "goal": "Hello", "next": "wait-1", "sequence": 1},
            {"type": "wait", "id": "wait-1", "until": {"kind": "duration", "seconds": 120},
             "next": "clicked-1"},
            {"type": "branch", "id": "clicked-1",
             "condition": {"kind": "clicked", "step": "email-1", "within_seconds": 600},
             "then": "email-2a", "else": "email-2b"},
            {"type": "email", "id": "email-2a", "goal": "Thanks", "next": "tag", "sequence": 2},
            {"type": "email", "id": "email-2b", "goal": second_goal, "next": "done",
             "sequence": 3 if version == 1 else 4},
            {"type": "action", "id": "tag", "action": "add_tag", "tag": "engaged",
             "next": "done"},
            {"type": "exit", "id": "done"},
        ],
        "exit_on": [{"kind": "event", "name": "order.paid"}],
        "reentry": reentry or {"policy": "once"},
    }


def definition(campaign_id: uuid.UUID, graph: dict[str, Any]) -> CampaignDefinition:
    return CampaignDefinition.model_validate({
        "campaign_id": str(campaign_id), "audience_id": str(uuid.UUID(int=2)),
        "name": "Welcome", "description": "Welcome series", "model": "m",
        "schedule": {"schedule_type": "daily", "start_at": T0.isoformat(), "total_emails": 1,
                     "timezone": "UTC"},
        "kind": "journey", "journey": graph})


async def handle(engine: AsyncEngine, handler: Callable[..., Awaitable[None]], event: Event,
                 **ports: Any) -> None:
    async with UnitOfWork(engine) as uow:
        await handler(event, uow, **ports)
        await uow.commit()


async def save(engine: AsyncEngine, campaign_id: uuid.UUID, graph: dict[str, Any],
               *, updated: bool = False) -> None:
    if updated:
        await handle(engine, handlers.on_updated, CampaignUpdated.create(
            definition(campaign_id, graph), workspace_id=WORKSPACE), lead=LEAD,
            clock=lambda: T0)
    else:
        await handle(engine, handlers.on_created, CampaignCreated.create(
            definition(campaign_id, graph), workspace_id=WORKSPACE), lead=LEAD)


def clock(at: datetime) -> Callable[[], datetime]:
    return lambda: at


async def signed_up(engine: AsyncEngine, email: str, at: datetime = T0,
                    name: str = "signed_up") -> None:
    event = ActivityRecorded.create(ActivityPayload(
        event_id=uuid.uuid4(), email=email, name=name, occurred_at=at), workspace_id=WORKSPACE)
    await handle(engine, journey_handlers.on_activity, event, clock=clock(at))


async def tick(engine: AsyncEngine, now: datetime, limit: int = 500) -> int:
    async with UnitOfWork(engine) as uow:
        n = await journey_timers.advance_due(uow, now=now, limit=limit)
        await uow.commit()
    return n


async def emitted(engine: AsyncEngine) -> list[Event]:
    async with engine.connect() as conn:
        rows = (await conn.execute(sa.select(outbox.c.data).order_by(outbox.c.id))).all()
    return [parse_event(r.data) for r in rows]


async def steps_due(engine: AsyncEngine) -> list[JourneyStepDue]:
    return [e for e in await emitted(engine) if isinstance(e, JourneyStepDue)]


async def enrollments(engine: AsyncEngine) -> list[Any]:
    async with engine.connect() as conn:
        return list(await conn.execute(sa.select(jdb.enrollments).order_by(
            jdb.enrollments.c.email, jdb.enrollments.c.entry)))


async def test_a_saved_journey_asks_for_each_email_steps_content_once(
        engine: AsyncEngine) -> None:
    cid = uuid.uuid4()
    await save(engine, cid, welcome())
    await save(engine, cid, welcome(2, second_goal="A new nudge"), updated=True)
    dues = [e for e in await emitted(engine) if isinstance(e, EmailDue)]
    # Steps 1 to 3 on creation; the new version's changed step (4) alone on the update.
    assert [(d.payload.sequence, d.payload.total) for d in dues] == [
        (1, None), (2, None), (3, None), (4, None)]
    assert dues[0].event_id == deterministic_id("email.due", cid, 1)
    async with engine.connect() as conn:
        schedule = sa.select(db.schedules).where(db.schedules.c.campaign_id == cid)
        assert (await conn.execute(schedule)).first() is None  # no campaign-wide schedule


async def test_an_entry_walks_to_its_first_wait_and_emits_its_email_once(
        engine: AsyncEngine) -> None:
    cid = uuid.uuid4()
    await save(engine, cid, welcome())
    await signed_up(engine, "ada@example.com")
    assert await tick(engine, T0) == 1
    assert await tick(engine, T0 + timedelta(seconds=119)) == 0  # the wait is not up
    [due] = await steps_due(engine)
    [row] = await enrollments(engine)
    assert due.event_id == deterministic_id("journey.step_due", row.id, "email-1")
    assert (due.payload.step_id, due.payload.sequence, due.payload.send_at) == (
        "email-1", 1, T0)
    assert (row.step_id, row.state, row.due_at) == ("wait-1", "waiting", T0 + timedelta(minutes=2))


async def test_a_human_click_wakes_the_branch_and_sends_the_clickers_email(
        engine: AsyncEngine) -> None:
    cid = uuid.uuid4()
    await save(engine, cid, welcome())
    await signed_up(engine, "ada@example.com")
    await signed_up(engine, "bob@example.com")
    await tick(engine, T0)
    await tick(engine, T0 + timedelta(minutes=2))  # both at the branch, waiting for a click
    click_at = T0 + timedelta(minutes=4)
    await handle(engine, journey_handlers.on_clicked, EmailClicked.create(
        EmailClickedPayload(campaign_id=cid, sequence=1, recipient="ada@example.com",
                            url="https://x.example/a", human=True),
        workspace_id=WORKSPACE, occurred_at=click_at), clock=clock(click_at))
    assert await tick(engine, click_at) == 1  # only Ada's enrollment woke
    assert await tick(engine, T0 + timedelta(minutes=12)) == 1  # Bob's window is up
    sent = {(d.payload.email, d.payload.step_id) for d in await steps_due(engine)}
    assert sent == {("ada@example.com", "email-1"), ("bob@example.com", "email-1"),
                    ("ada@example.com", "email-2a"), ("bob@example.com", "email-2b")}
    [action] = [e for e in await emitted(engine) if isinstance(e, JourneyActionDue)]
    assert (action.payload.email, action.payload.tag) == ("ada@example.com", "engaged")
    assert {r.state for r in await enrollments(engine)} == {"done"}


async def test_a_click_no_person_made_wakes_nothing(engine: AsyncEngine) -> None:
    cid = uuid.uuid4()
    await save(engine, cid, welcome())
    await signed_up(engine, "ada@example.com")
    await tick(engine, T0)
    await tick(engine, T0 + timedelta(minutes=2))
    await handle(engine, journey_handlers.on_clicked, EmailClicked.create(
        EmailClickedPayload(campaign_id=cid, sequence=1, recipient="ada@example.com",
                            url="https://x.example/a", human=False),
        workspace_id=WORKSPACE), clock=clock(T0 + timedelta(minutes=3)))
    assert await tick(engine, T0 + timedelta(minutes=3)) == 0


async def test_a_goal_event_ends_the_enrollment_before_its_next_email(
        engine: AsyncEngine) -> None:
    cid = uuid.uuid4()
    await save(engine, cid, welcome())
    await signed_up(engine, "ada@example.com")
    await tick(engine, T0)
    await signed_up(engine, "ada@example.com", T0 + timedelta(minutes=1), name="order.paid")
    await tick(engine, T0 + timedelta(minutes=1))
    [row] = await enrollments(engine)
    assert (row.state, row.exit_reason) == ("exited", "goal")
    assert len(await steps_due(engine)) == 1


async def test_reentry_follows_the_journeys_policy(engine: AsyncEngine) -> None:
    once, again = uuid.uuid4(), uuid.uuid4()
    await save(engine, once, welcome(trigger={"type": "event_received", "name": "a"}))
    await save(engine, again, welcome(trigger={"type": "event_received", "name": "b"},
                                      reentry={"policy": "always", "min_gap_seconds": 3600}))
    for minutes in (0, 10, 70):
        at = T0 + timedelta(minutes=minutes)
        await signed_up(engine, "ada@example.com", at, name="a")
        await signed_up(engine, "ada@example.com", at, name="b")
    entries = [(r.campaign_id, r.entry, r.entered_at) for r in await enrollments(engine)]
    assert sorted(e[1:] for e in entries if e[0] == once) == [(1, T0)]
    assert sorted(e[1:] for e in entries if e[0] == again) == [
        (1, T0), (2, T0 + timedelta(minutes=70))]


async def test_list_members_enter_a_journey_triggered_by_their_list(engine: AsyncEngine) -> None:
    cid = uuid.uuid4()
    await save(engine, cid, welcome(trigger={"type": "list_joined", "list_id": str(LIST)}))
    await handle(engine, journey_handlers.on_members_added, ListMembersAdded.create(
        ListMembersPayload(list_id=LIST, emails=["a@example.com", "b@example.com"]),
        workspace_id=WORKSPACE), clock=clock(T0))
    await handle(engine, journey_handlers.on_members_added, ListMembersAdded.create(
        ListMembersPayload(list_id=uuid.uuid4(), emails=["c@example.com"]),
        workspace_id=WORKSPACE), clock=clock(T0))
    assert [r.email for r in await enrollments(engine)] == ["a@example.com", "b@example.com"]


async def test_enrollments_carry_on_with_their_version_and_new_entries_take_the_new_one(
        engine: AsyncEngine) -> None:
    cid = uuid.uuid4()
    await save(engine, cid, welcome())
    await signed_up(engine, "old@example.com")
    await tick(engine, T0)
    await save(engine, cid, welcome(2, second_goal="A new nudge"), updated=True)
    await signed_up(engine, "new@example.com")
    await tick(engine, T0)
    await tick(engine, T0 + timedelta(minutes=20))
    sent = {(d.payload.email, d.payload.step_id, d.payload.sequence, d.payload.version)
            for d in await steps_due(engine) if d.payload.step_id == "email-2b"}
    assert sent == {("old@example.com", "email-2b", 3, 1), ("new@example.com", "email-2b", 4, 2)}


async def test_a_paused_journey_holds_and_a_cancelled_one_ends_its_enrollments(
        engine: AsyncEngine) -> None:
    cid = uuid.uuid4()
    await save(engine, cid, welcome())
    await signed_up(engine, "ada@example.com")
    ref = CampaignRef(campaign_id=cid)
    await handle(engine, handlers.on_paused, CampaignPaused.create(ref, workspace_id=WORKSPACE))
    assert await tick(engine, T0) == 0
    await handle(engine, handlers.on_resumed, CampaignResumed.create(ref, workspace_id=WORKSPACE),
                 lead=LEAD, clock=clock(T0))
    assert await tick(engine, T0) == 1
    await handle(engine, handlers.on_cancelled,
                 CampaignCancelled.create(ref, workspace_id=WORKSPACE))
    [row] = await enrollments(engine)
    assert (row.state, row.exit_reason) == ("exited", "cancelled")
    assert await tick(engine, T0 + timedelta(hours=1)) == 0


async def test_an_unsubscribed_contact_leaves_every_journey(engine: AsyncEngine) -> None:
    cid = uuid.uuid4()
    await save(engine, cid, welcome())
    await signed_up(engine, "ada@example.com")
    await handle(engine, journey_handlers.on_unsubscribed, RecipientUnsubscribed.create(
        RecipientUnsubscribedPayload(email="ada@example.com"), workspace_id=WORKSPACE),
        clock=clock(T0))
    assert await tick(engine, T0) == 0
    assert await steps_due(engine) == []


async def test_a_confirmed_signup_enters_the_journey_of_its_form_only(
        engine: AsyncEngine) -> None:
    form, other = uuid.uuid4(), uuid.uuid4()
    cid = uuid.uuid4()
    await save(engine, cid, welcome(trigger={"type": "signup_confirmed", "form_id": str(form)}))
    for email, form_id in (("a@example.com", form), ("b@example.com", other)):
        event = ActivityRecorded.create(ActivityPayload(
            event_id=uuid.uuid4(), email=email, name="signup.confirmed",
            properties={"form_id": str(form_id)}, occurred_at=T0), workspace_id=WORKSPACE)
        await handle(engine, journey_handlers.on_activity, event, clock=clock(T0))
    assert [r.email for r in await enrollments(engine)] == ["a@example.com"]


async def test_a_tag_from_contacts_changed_steers_a_tag_branch(engine: AsyncEngine) -> None:
    graph = welcome()
    graph["steps"][2] = {"type": "branch", "id": "clicked-1",
                         "condition": {"kind": "tag", "tag": "vip"},
                         "then": "email-2a", "else": "email-2b"}
    cid = uuid.uuid4()
    await save(engine, cid, graph)
    await handle(engine, journey_handlers.on_contacts_changed, ContactsChanged.create(
        ContactsChangedPayload(contacts=[
            ContactState(email="vip@example.com", tags=["vip"], changed_at=T0),
            ContactState(email="new@example.com", changed_at=T0)]),
        workspace_id=WORKSPACE), clock=clock(T0))
    await signed_up(engine, "vip@example.com")
    await signed_up(engine, "new@example.com")
    await tick(engine, T0)
    await tick(engine, T0 + timedelta(minutes=2))
    second = {(d.payload.email, d.payload.step_id) for d in await steps_due(engine)
              if d.payload.step_id != "email-1"}
    assert second == {("vip@example.com", "email-2a"), ("new@example.com", "email-2b")}


async def test_the_next_due_time_leaves_out_paused_journeys(engine: AsyncEngine) -> None:
    paused, running = uuid.uuid4(), uuid.uuid4()
    await save(engine, paused, welcome(trigger={"type": "event_received", "name": "a"}))
    await save(engine, running, welcome(trigger={"type": "event_received", "name": "b"}))
    await signed_up(engine, "ada@example.com", T0, name="a")
    await signed_up(engine, "ada@example.com", T0 + timedelta(minutes=5), name="b")
    await handle(engine, handlers.on_paused, CampaignPaused.create(
        CampaignRef(campaign_id=paused), workspace_id=WORKSPACE))
    async with engine.connect() as conn:
        assert await jdb.next_due(conn) == T0 + timedelta(minutes=5)


async def test_a_date_field_enters_the_contact_at_its_next_anniversary(
        engine: AsyncEngine) -> None:
    cid = uuid.uuid4()
    await save(engine, cid, welcome(trigger={"type": "date_field", "field": "birthday",
                                             "at": "09:00"}))
    await handle(engine, journey_handlers.on_contacts_changed, ContactsChanged.create(
        ContactsChangedPayload(contacts=[
            ContactState(email="ada@example.com", fields={"birthday": "1990-03-01"},
                         changed_at=T0),
            ContactState(email="bob@example.com", changed_at=T0)]),
        workspace_id=WORKSPACE), clock=clock(T0))
    [row] = await enrollments(engine)
    birthday = datetime(2030, 3, 1, 9, tzinfo=UTC)
    assert (row.email, row.state, row.due_at, row.entered_at) == (
        "ada@example.com", "waiting", birthday, birthday)
    assert await tick(engine, birthday - timedelta(seconds=1)) == 0
    assert await tick(engine, birthday) == 1
    [due] = await steps_due(engine)
    assert (due.payload.email, due.payload.send_at) == ("ada@example.com", birthday)


async def test_an_erased_contact_leaves_no_enrollment_and_no_fact_behind(
        engine: AsyncEngine) -> None:
    cid = uuid.uuid4()
    await save(engine, cid, welcome())
    for person in ("erase.me@example.com", "bob@example.com"):
        await signed_up(engine, person)
    await tick(engine, T0)
    await handle(engine, journey_handlers.on_clicked, EmailClicked.create(
        EmailClickedPayload(campaign_id=cid, sequence=1, recipient="erase.me@example.com",
                            url="https://x.example/a", human=True),
        workspace_id=WORKSPACE, occurred_at=T0), clock=clock(T0))
    async with engine.connect() as conn:
        assert "enrollments.email" in await columns_holding(conn, "erase.me@example.com")

    await handle(engine, handlers.on_contact_erased, ContactErased.create(
        ContactErasedPayload(email="Erase.Me@example.com"), workspace_id=WORKSPACE))

    async with engine.connect() as conn:
        # The journey.step_due already relayed stays until the outbox's prune; nothing else.
        assert await columns_holding(conn, "erase.me@example.com") in ([], ["outbox.data"])
    assert [r.email for r in await enrollments(engine)] == ["bob@example.com"]
    assert await tick(engine, T0 + timedelta(minutes=12)) == 1  # Bob's alone goes on
