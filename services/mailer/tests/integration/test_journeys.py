"""A journey's emails go to one contact at a time: its content is stored without a dispatch,
and each journey.step_due creates that contact's one delivery, due at the step's send time,
checked and sent as any other; against a real migrated database, the real handlers and a
real SMTP server."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

import pytest
import sqlalchemy as sa

from contracts import (
    ContactsChanged,
    JourneyStepDue,
    RecipientUnsubscribed,
    SuppressionAdded,
    deterministic_id,
)
from contracts.contacts import ContactsChangedPayload, ContactState, SuppressionPayload
from contracts.events import RecipientUnsubscribedPayload
from contracts.journey_events import JourneyStepDuePayload
from contracts.journeys import EmailStep, EventReceived, ExitStep, JourneyGraph
from mailer import db, handlers, journeys
from servicekit.consumer import RetryLater

if TYPE_CHECKING:  # test modules cannot import each other; the fixtures provide these
    from conftest import ScriptedSmtp, World

ANN, BOB = "ann@example.com", "bob@example.com"
CHANGED = datetime(2030, 1, 1, tzinfo=UTC)
STEP_AT = datetime(2030, 3, 4, 9, 30, tzinfo=UTC)
GRAPH = JourneyGraph(
    trigger=EventReceived(name="signed_up"), start="welcome",
    steps=[EmailStep(id="welcome", goal="Welcome them", next="thanks", sequence=1),
           EmailStep(id="thanks", goal="Thank them", next="done", sequence=2),
           ExitStep(id="done")])


async def journey(world: World) -> None:
    await world.campaign(kind="journey", journey=GRAPH)


async def contacts(world: World, *emails: str, **state: Any) -> None:
    event = ContactsChanged.create(ContactsChangedPayload(contacts=[
        ContactState(email=email, name=email.split("@")[0].title(), changed_at=CHANGED, **state)
        for email in emails]), **world.envelope())
    await world.handle(handlers.on_contacts_changed, event)


def step_due(world: World, email: str, *, step: str = "welcome", sequence: int = 1,
             enrollment: uuid.UUID | None = None, send_at: datetime = STEP_AT,
             ) -> JourneyStepDue:
    enrollment_id = enrollment or deterministic_id("enrollment", world.campaign_id, email)
    return JourneyStepDue.create(JourneyStepDuePayload(
        campaign_id=world.campaign_id, version=1, enrollment_id=enrollment_id, step_id=step,
        sequence=sequence, email=email, send_at=send_at), **world.envelope())


async def reach(world: World, event: JourneyStepDue) -> None:
    await world.handle(journeys.on_step_due, event, default_sender=world.default_sender)


async def test_a_journey_emails_content_is_stored_without_sending_it_to_anyone(
    world: World, smtp: ScriptedSmtp
) -> None:
    await journey(world)
    await contacts(world, ANN)

    await world.content(1)

    assert await world.fetch(sa.select(db.contents.c.sequence)) == [(1,)]
    assert await world.fetch(sa.select(db.dispatches)) == []
    assert await world.send(world.send_at + timedelta(days=1)) == 0
    assert smtp.received == []


async def test_a_step_due_sends_that_contact_alone_the_steps_email_at_its_time_personalised(
    world: World, smtp: ScriptedSmtp
) -> None:
    await journey(world)
    # Neither is on any list of the journey: its contacts are its enrollments.
    await contacts(world, ANN, BOB, fields={"first_name": "Annie"})
    await world.content(1, dispatch=False)

    await reach(world, step_due(world, ANN))

    (row,) = (await world.deliveries()).values()
    assert (row.email, row.sequence, row.state, row.due_at) == (ANN, 1, "pending", STEP_AT)
    enrollment = deterministic_id("enrollment", world.campaign_id, ANN)
    assert row.id == deterministic_id("journey.delivery", enrollment, "welcome")
    assert await world.send(STEP_AT - timedelta(seconds=1)) == 0
    assert await world.send(STEP_AT) == 1
    (message,) = smtp.received
    assert message["To"].addresses[0].addr_spec == ANN
    assert message["Subject"] == "Hello Annie"
    assert message["Message-ID"] == row.message_id
    # Tracked under the step's sequence, as campaign-api's engagement and reports read it.
    unsubscribe = str(message["List-Unsubscribe"]).removeprefix(
        "<https://mail.example.org/u/").removesuffix(">")
    claims = world.options.link_signer.verify("unsubscribe", unsubscribe)
    assert (claims.campaign_id, claims.sequence, claims.email) == (world.campaign_id, 1, ANN)
    (sent,) = await world.events("email.sent")
    assert (sent["payload"]["recipient"], sent["payload"]["sequence"]) == (ANN, 1)


async def test_a_step_due_again_creates_nothing_and_a_reentry_gets_the_email_again(
    world: World, smtp: ScriptedSmtp
) -> None:
    await journey(world)
    await contacts(world, ANN)
    await world.content(1, dispatch=False)
    first = step_due(world, ANN, enrollment=uuid.uuid4())

    await reach(world, first)
    await reach(world, first)
    assert await world.send(STEP_AT) == 1
    await reach(world, step_due(world, ANN, enrollment=uuid.uuid4(),
                                send_at=STEP_AT + timedelta(days=2)))
    assert await world.send(STEP_AT + timedelta(days=2)) == 1

    assert len(smtp.to(ANN)) == 2
    rows = await world.fetch(sa.select(db.deliveries.c.state))
    assert sorted(r.state for r in rows) == ["sent", "sent"]
    sent = await world.events("email.sent")
    assert len({e["outbox_event_id"] for e in sent}) == 2


async def test_a_step_due_waits_for_the_steps_content_the_contact_and_the_campaign(
    world: World, smtp: ScriptedSmtp
) -> None:
    with pytest.raises(RetryLater, match="campaign"):
        await reach(world, step_due(world, ANN))
    await journey(world)
    with pytest.raises(RetryLater, match="contact"):
        await reach(world, step_due(world, ANN))
    await contacts(world, ANN)
    await world.content(1, dispatch=False)
    with pytest.raises(RetryLater, match="email 2 of journey"):
        await reach(world, step_due(world, ANN, step="thanks", sequence=2))
    assert await world.deliveries() == {}

    await world.content(2, dispatch=False, subject="Thanks {{first_name}}")
    await reach(world, step_due(world, ANN, step="thanks", sequence=2))

    assert await world.send(STEP_AT) == 1
    assert smtp.to(ANN)[0]["Subject"] == "Thanks Ann"


async def test_an_unsubscribed_or_suppressed_contact_is_not_sent_the_step(
    world: World, smtp: ScriptedSmtp
) -> None:
    await journey(world)
    await contacts(world, ANN, BOB)
    await world.content(1, dispatch=False)
    await reach(world, step_due(world, ANN))
    await reach(world, step_due(world, BOB))
    # Both after their step fell due, before it was sent.
    await world.handle(handlers.on_unsubscribed, RecipientUnsubscribed.create(
        RecipientUnsubscribedPayload(email=ANN, campaign_id=world.campaign_id), **world.envelope()))
    await world.handle(handlers.on_suppression_added, SuppressionAdded.create(
        SuppressionPayload(emails=[BOB], reason="bounced"), **world.envelope()))

    await world.send(STEP_AT)

    assert smtp.received == []
    assert {r.email: r.state for r in (await world.deliveries()).values()} == {
        ANN: "suppressed", BOB: "suppressed"}


async def test_a_cancelled_journey_sends_no_step_pending_or_due_later(
    world: World, smtp: ScriptedSmtp
) -> None:
    await journey(world)
    await contacts(world, ANN, BOB)
    await world.content(1, dispatch=False)
    await reach(world, step_due(world, ANN))

    await world.cancel()
    await reach(world, step_due(world, BOB))
    await world.send(STEP_AT)

    assert smtp.received == []
    assert {r.email: r.state for r in (await world.deliveries()).values()} == {ANN: "cancelled"}

