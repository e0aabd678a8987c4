"""The sender step against a real database and a real SMTP server that answers as scripted."""

from __future__ import annotations

import uuid
from datetime import timedelta
from typing import TYPE_CHECKING

import sqlalchemy as sa
from prometheus_client import REGISTRY

from contracts import (
    CampaignPaused,
    CampaignResumed,
    EmailSent,
    RecipientUnsubscribed,
    deterministic_id,
)
from contracts.events import CampaignRef, RecipientUnsubscribedPayload
from devstack.ports import LOOPBACK, free_port
from mailer import db, handlers
from mailer.domain import RetryPolicy
from mailer.sender import send_due_batch
from mailer.smtp import SmtpConfig, SmtpPool

if TYPE_CHECKING:  # test modules cannot import each other; the fixtures provide these
    from conftest import ScriptedSmtp, World

ANN, BOB = "ann@example.com", "bob@example.com"


async def _two_recipients(world: World) -> None:
    await world.campaign()
    await world.members((ANN, "Ann Lee"), (BOB, "", {"first_name": "Bobby"}))
    await world.content(1)


async def _overwrite_member(world: World, email: str, **values: object) -> None:
    """Our own copy of a member changed behind the handlers' back, as bad stored data would."""
    async with world.engine.begin() as conn:
        await conn.execute(sa.update(db.contacts)
                           .where(db.contacts.c.email == email).values(**values))


def _metrics() -> dict[str, tuple[float, float]]:
    """Per outcome: deliveries counted and SMTP sends timed, so far in this process."""
    def sample(name: str, outcome: str) -> float:
        return REGISTRY.get_sample_value(name, {"outcome": outcome}) or 0.0
    return {outcome: (sample("mailer_deliveries_total", outcome),
                      sample("smtp_send_seconds_count", outcome))
            for outcome in ("sent", "deferred")}


async def test_sends_one_message_per_recipient_and_emits_email_sent(
    world: World, smtp: ScriptedSmtp
) -> None:
    await _two_recipients(world)
    now = world.send_at + timedelta(seconds=1)
    before = _metrics()

    assert await world.send(now) == 2
    assert _metrics()["sent"] == (before["sent"][0] + 2, before["sent"][1] + 2)

    assert sorted(m["To"].addresses[0].addr_spec for m in smtp.received) == [ANN, BOB]
    rows = await world.deliveries()
    (ann,) = smtp.to(ANN)
    assert ann["Subject"] == "Hello Ann"
    assert ann["From"].addresses[0].display_name == "Flower Shop"
    assert ann["From"].addresses[0].addr_spec == "news@flowers.example"
    assert ann["To"].addresses[0].display_name == "Ann Lee"
    assert ann["Reply-To"].addresses[0].addr_spec == "help@flowers.example"
    assert ann["Message-ID"] == rows[ANN].message_id
    assert ann["Date"].datetime == now.replace(microsecond=0)
    unsubscribe = str(ann["List-Unsubscribe"])
    prefix = "<https://mail.example.org/u/"
    assert unsubscribe.startswith(prefix)
    assert unsubscribe.endswith(">")
    claims = world.options.link_signer.verify("unsubscribe", unsubscribe[len(prefix):-1])
    assert (claims.campaign_id, claims.sequence, claims.email) == (world.campaign_id, 1, ANN)
    assert ann["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    assert ann["List-Id"] == f'"Spring news" <{world.campaign_id}.flowers.example>'
    html = ann.get_body(("html",))
    assert html is not None
    assert "Dear Ann Lee, tulips are in." in html.get_content()
    assert smtp.to(BOB)[0]["Subject"] == "Hello Bobby"
    assert smtp.envelopes[0][0] == "news@flowers.example"

    for address in (ANN, BOB):
        assert rows[address].state == "sent"
        assert rows[address].sent_at is not None
        assert rows[address].attempts == 1
        assert rows[address].last_reply == "250 2.0.0 Ok: queued"
    events = await world.events("email.sent")
    assert {e["payload"]["recipient"] for e in events} == {ANN, BOB}
    for event in events:
        recipient = event["payload"]["recipient"]
        assert event["outbox_event_id"] == str(
            deterministic_id("email.sent", world.campaign_id, 1, recipient)
        )
        assert event["payload"]["message_id"] == rows[recipient].message_id
        assert event["workspace_id"] == str(world.workspace_id)
        # What consumers will parse: the contract holds for the event as published.
        event.pop("outbox_event_id")
        assert EmailSent.model_validate(event).payload.recipient == recipient

    assert await world.send(now + timedelta(minutes=10)) == 0
    assert len(smtp.received) == 2


async def test_nothing_is_sent_before_it_is_due(world: World, smtp: ScriptedSmtp) -> None:
    await _two_recipients(world)
    assert await world.send(world.send_at - timedelta(seconds=1)) == 0
    assert smtp.received == []


async def test_4xx_defers_with_backoff_then_sends(world: World, smtp: ScriptedSmtp) -> None:
    await _two_recipients(world)
    smtp.script(ANN, "451 4.7.1 Greylisted, try again later")
    now = world.send_at
    before = _metrics()

    await world.send(now)
    after = _metrics()
    assert {o: (after[o][0] - before[o][0], after[o][1] - before[o][1]) for o in after} == {
        "sent": (1, 1), "deferred": (1, 1)}

    ann = (await world.deliveries())[ANN]
    assert ann.state == "pending"
    assert ann.attempts == 1
    assert ann.due_at >= now + timedelta(minutes=1)
    assert (ann.smtp_code, ann.enhanced_code) == (451, "4.7.1")
    assert smtp.to(ANN) == []
    assert [e["payload"]["recipient"] for e in await world.events("email.sent")] == [BOB]
    assert await world.events("email.failed") == []

    assert await world.send(now + timedelta(seconds=30)) == 0  # not due again yet
    await world.send(ann.due_at)
    assert (await world.deliveries())[ANN].state == "sent"
    assert len(smtp.to(ANN)) == 1


async def test_5xx_unknown_user_fails_and_suppresses(world: World, smtp: ScriptedSmtp) -> None:
    await _two_recipients(world)
    smtp.script(ANN, "550 5.1.1 <ann@example.com>: Recipient address rejected")

    await world.send(world.send_at)

    ann = (await world.deliveries())[ANN]
    assert (ann.state, ann.smtp_code, ann.enhanced_code) == ("failed", 550, "5.1.1")
    (failed,) = await world.events("email.failed")
    assert failed["payload"] | {"reason": None} == {
        "campaign_id": str(world.campaign_id), "sequence": 1, "recipient": ANN,
        "permanent": True, "smtp_code": 550, "enhanced_code": "5.1.1", "reason": None,
        "kind": "bounced",
    }
    assert "Recipient address rejected" in failed["payload"]["reason"]
    assert failed["outbox_event_id"] == str(
        deterministic_id("email.failed", world.campaign_id, 1, ANN)
    )
    suppressed = await world.fetch(sa.select(db.suppressions))
    assert [(s.email, s.reason) for s in suppressed] == [(ANN, "bounced")]

    # The next email of the campaign is not offered to the server at all.
    await world.content(2)
    await world.send(world.send_at)
    rows = await world.fetch(sa.select(db.deliveries).where(db.deliveries.c.sequence == 2))
    assert {r.email: r.state for r in rows} == {ANN: "suppressed", BOB: "sent"}
    assert len(smtp.to(BOB)) == 2


async def test_5xx_policy_rejection_fails_without_suppressing(
    world: World, smtp: ScriptedSmtp
) -> None:
    await _two_recipients(world)
    smtp.script(ANN, "554 5.7.1 Message refused by policy")
    await world.send(world.send_at)
    assert (await world.deliveries())[ANN].state == "failed"
    assert await world.fetch(sa.select(db.suppressions)) == []


async def test_unsubscribed_address_is_not_sent_to(world: World, smtp: ScriptedSmtp) -> None:
    await _two_recipients(world)
    await world.handle(handlers.on_unsubscribed, RecipientUnsubscribed.create(
        RecipientUnsubscribedPayload(email="Ann@Example.com"),
        workspace_id=world.workspace_id, correlation_id=uuid.uuid4(),
    ))

    await world.send(world.send_at)

    assert smtp.to(ANN) == []
    assert len(smtp.to(BOB)) == 1
    ann = (await world.deliveries())[ANN]
    # Settled at claim time: never attempted, so no attempt is counted.
    assert (ann.state, ann.attempts, ann.first_attempt_at) == ("suppressed", 0, None)
    (failed,) = await world.events("email.failed")
    assert failed["payload"]["recipient"] == ANN
    assert failed["payload"]["permanent"] is True
    assert failed["payload"]["reason"] == "suppressed"
    assert failed["payload"]["kind"] == "suppressed"


async def test_unsubscribe_in_another_workspace_does_not_suppress(
    world: World, smtp: ScriptedSmtp
) -> None:
    await _two_recipients(world)
    await world.handle(handlers.on_unsubscribed, RecipientUnsubscribed.create(
        RecipientUnsubscribedPayload(email=ANN),
        workspace_id=uuid.uuid4(), correlation_id=uuid.uuid4(),
    ))
    await world.send(world.send_at)
    assert len(smtp.to(ANN)) == 1


async def test_header_injection_through_merge_field_fails_the_delivery(
    world: World, smtp: ScriptedSmtp
) -> None:
    await world.campaign()
    await world.members((ANN, "Ann", {"first_name": "Ann\r\nBcc: everyone@example.net"}),
                        (BOB, "Bob"))
    await world.content(1)

    await world.send(world.send_at)

    assert [m["To"].addresses[0].addr_spec for m in smtp.received] == [BOB]
    assert all(m["Bcc"] is None for m in smtp.received)
    ann = (await world.deliveries())[ANN]
    assert ann.state == "failed"
    assert "subject" in ann.last_reply
    assert "line breaks" in ann.last_reply
    (failed,) = await world.events("email.failed")
    assert failed["payload"]["recipient"] == ANN
    assert failed["payload"]["permanent"] is True
    assert failed["payload"]["kind"] == "invalid"


async def test_bad_recipient_name_in_the_database_is_rejected(
    world: World, smtp: ScriptedSmtp
) -> None:
    """The copy in our own table is not trusted either: the render step checks every header."""
    await _two_recipients(world)
    await _overwrite_member(world, ANN, name="Ann\nX-Injected: yes")
    await world.send(world.send_at)
    assert smtp.to(ANN) == []
    assert (await world.deliveries())[ANN].state == "failed"


async def test_orphaned_sending_delivery_is_reclaimed_after_its_lease(
    world: World, smtp: ScriptedSmtp
) -> None:
    await _two_recipients(world)
    lease = world.options.lease
    now = world.send_at + timedelta(hours=1)
    # A process claimed both, then died: one just now, the other longer ago than the lease.
    async with world.engine.begin() as conn:
        for address, since in ((ANN, now - lease - timedelta(seconds=1)),
                               (BOB, now - timedelta(seconds=5))):
            await conn.execute(
                sa.update(db.deliveries).where(db.deliveries.c.email == address)
                .values(state="sending", sending_since=since, attempts=1,
                        first_attempt_at=since)
            )

    assert await world.send(now) == 1

    rows = await world.deliveries()
    assert (rows[ANN].state, rows[ANN].attempts) == ("sent", 2)
    assert rows[BOB].state == "sending"  # still within its lease: may be in flight
    (message,) = smtp.received
    assert message["Message-ID"] == rows[ANN].message_id


async def test_connection_lost_after_data_retries_with_the_same_message_id(
    world: World, smtp: ScriptedSmtp
) -> None:
    await _two_recipients(world)
    smtp.script(ANN, "drop")

    await world.send(world.send_at)

    ann = (await world.deliveries())[ANN]
    assert ann.state == "pending"
    assert "may have been delivered" in ann.last_reply
    await world.send(ann.due_at)
    first, second = smtp.to(ANN)  # RFC 1047: the server had it; the resend is the duplicate
    assert first["Message-ID"] == second["Message-ID"] == ann.message_id
    assert (await world.deliveries())[ANN].state == "sent"
    assert len(await world.events("email.sent")) == 2  # one per recipient, not per attempt


async def test_unreachable_server_defers_every_delivery(world: World) -> None:
    await _two_recipients(world)
    closed = SmtpPool(SmtpConfig(LOOPBACK, free_port(), timeout=2.0))
    try:
        await send_due_batch(world.engine, closed, options=world.options, now=world.send_at)
    finally:
        await closed.close()
    for row in (await world.deliveries()).values():
        assert (row.state, row.attempts, row.smtp_code) == ("pending", 1, None)
        # The first step of the schedule, counted from when the attempt ended.
        assert timedelta(minutes=1) <= row.due_at - world.send_at < timedelta(minutes=1, seconds=5)


async def test_transient_failures_give_up_after_the_maximum_age(
    world: World, smtp: ScriptedSmtp
) -> None:
    await _two_recipients(world)
    smtp.script(ANN, "421 4.3.2 Service shutting down")

    await world.send(world.send_at, retry=RetryPolicy(max_age=timedelta(seconds=30)))

    ann = (await world.deliveries())[ANN]
    assert ann.state == "failed"
    assert ann.last_reply.startswith("gave up after 1 attempts")
    (failed,) = await world.events("email.failed")
    assert failed["payload"]["permanent"] is False
    assert failed["payload"]["kind"] == "expired"


async def test_paused_campaign_waits_and_cancelled_campaign_is_not_sent(
    world: World, smtp: ScriptedSmtp
) -> None:
    await _two_recipients(world)
    ref = CampaignRef(campaign_id=world.campaign_id)
    await world.handle(handlers.on_lifecycle, CampaignPaused.create(ref, **world.envelope()),
                       change="paused")
    assert await world.send(world.send_at) == 0

    await world.handle(handlers.on_lifecycle, CampaignResumed.create(ref, **world.envelope()),
                       change="resumed")
    smtp.script(ANN, "451 4.7.1 later")
    await world.send(world.send_at)
    await world.cancel()
    # A delivery that slipped back to pending after the cancel is caught at claim time.
    async with world.engine.begin() as conn:
        await conn.execute(sa.update(db.deliveries).where(db.deliveries.c.email == ANN)
                           .values(state="pending"))
    await world.send(world.send_at + timedelta(hours=1))

    rows = await world.deliveries()
    assert (rows[ANN].state, rows[BOB].state) == ("cancelled", "sent")
    assert smtp.to(ANN) == []


async def test_member_removed_after_content_is_not_sent(
    world: World, smtp: ScriptedSmtp
) -> None:
    await _two_recipients(world)
    await world.handle(handlers.on_members_removed, world.removal(ANN))
    await world.send(world.send_at)
    assert smtp.to(ANN) == []
    ann = (await world.deliveries())[ANN]
    assert (ann.state, ann.attempts, ann.sending_since) == ("cancelled", 0, None)


async def test_a_delivery_that_fails_to_render_is_deferred_not_left_sending(
    world: World, smtp: ScriptedSmtp
) -> None:
    await _two_recipients(world)
    # Stored data outside the contract (fields are strings in every audience event): rendering
    # fails with an error no check expects.
    await _overwrite_member(world, ANN, fields={"first_name": 5})

    assert await world.send(world.send_at) == 2

    rows = await world.deliveries()
    assert rows[BOB].state == "sent"
    ann = rows[ANN]
    assert (ann.state, ann.attempts) == ("pending", 1)
    assert ann.last_reply.startswith("rendering failed: AttributeError")
    assert ann.due_at >= world.send_at + timedelta(minutes=1)
    assert smtp.to(ANN) == []
