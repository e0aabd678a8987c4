"""Each way an SMTP server can answer or fail, and the state and event it leaves behind
(the table in docs/architecture.md, "## Mail")."""

from __future__ import annotations

from datetime import timedelta
from typing import TYPE_CHECKING

import pytest
import sqlalchemy as sa

from mailer import db
from mailer.smtp import SmtpConfig, SmtpPool

if TYPE_CHECKING:  # test modules cannot import each other; the fixtures provide these
    from aiosmtpd.controller import Controller

    from conftest import ScriptedSmtp, World

ANN, BOB = "ann@example.com", "bob@example.com"


async def _two_recipients(world: World) -> None:
    await world.campaign()
    await world.members((ANN, "Ann Lee"), (BOB, "Bob"))
    await world.content(1)


@pytest.mark.parametrize(
    ("reply", "code", "enhanced"),
    [
        ("421 4.3.2 Service shutting down, closing channel", 421, "4.3.2"),
        ("451 4.7.1 Greylisted, try again later", 451, "4.7.1"),
        ("452 4.2.2 Mailbox full", 452, "4.2.2"),
    ],
)
async def test_4xx_at_rcpt_defers_and_the_next_attempt_sends(
    world: World, smtp: ScriptedSmtp, reply: str, code: int, enhanced: str
) -> None:
    await _two_recipients(world)
    smtp.script(ANN, reply)

    await world.send(world.send_at)

    rows = await world.deliveries()
    ann = rows[ANN]
    assert (ann.state, ann.attempts, ann.smtp_code, ann.enhanced_code) == (
        "pending", 1, code, enhanced)
    assert ann.last_reply == reply
    assert ann.due_at >= world.send_at + timedelta(minutes=1)
    # The other recipient is unaffected, even when the server closed the session (421).
    assert rows[BOB].state == "sent"
    assert await world.events("email.failed") == []
    assert smtp.to(ANN) == []

    await world.send(ann.due_at)
    assert (await world.deliveries())[ANN].state == "sent"
    assert len(smtp.to(ANN)) == 1
    assert await world.fetch(sa.select(db.suppressions)) == []


@pytest.mark.parametrize(
    ("stage", "reply", "code", "enhanced", "suppressed"),
    [
        ("rcpt", "550 5.1.1 <ann@example.com>: Recipient address rejected", 550, "5.1.1", True),
        ("data", "552 5.2.2 Mailbox full, over quota", 552, "5.2.2", False),
        ("data", "550 5.7.1 Message rejected as spam", 550, "5.7.1", False),
    ],
)
async def test_5xx_fails_permanently(
    world: World, smtp: ScriptedSmtp, stage: str, reply: str, code: int, enhanced: str,
    suppressed: bool,
) -> None:
    await _two_recipients(world)
    if stage == "rcpt":
        smtp.script(ANN, reply)
    else:
        smtp.script_data(ANN, reply)

    await world.send(world.send_at)

    rows = await world.deliveries()
    ann = rows[ANN]
    assert (ann.state, ann.smtp_code, ann.enhanced_code) == ("failed", code, enhanced)
    assert ann.last_reply == reply
    assert rows[BOB].state == "sent"
    (failed,) = await world.events("email.failed")
    payload = failed["payload"]
    assert (payload["recipient"], payload["permanent"], payload["smtp_code"],
            payload["enhanced_code"]) == (ANN, True, code, enhanced)
    on_list = [s.email for s in await world.fetch(sa.select(db.suppressions))]
    assert on_list == ([ANN] if suppressed else [])
    # Final: a later pass does not try again.
    await world.send(world.send_at + timedelta(days=1))
    assert smtp.to(ANN) == []


async def test_connection_closed_before_data_defers_with_nothing_delivered(
    world: World, smtp: ScriptedSmtp
) -> None:
    await _two_recipients(world)
    smtp.script(ANN, "close")

    await world.send(world.send_at)

    rows = await world.deliveries()
    ann = rows[ANN]
    assert (ann.state, ann.attempts, ann.smtp_code) == ("pending", 1, None)
    # Nothing of the message went out: not an uncertain outcome.
    assert "may have been delivered" not in ann.last_reply
    assert rows[BOB].state == "sent"
    assert smtp.to(ANN) == []
    await world.send(ann.due_at)
    assert len(smtp.to(ANN)) == 1
    assert (await world.deliveries())[ANN].state == "sent"


async def test_a_slow_server_within_the_timeout_is_waited_for(
    world: World, smtp: ScriptedSmtp
) -> None:
    await _two_recipients(world)
    smtp.script_data(ANN, "slow:1.0")  # the pool's timeout is 5 s

    await world.send(world.send_at)

    assert {r.state for r in (await world.deliveries()).values()} == {"sent"}
    assert len(smtp.to(ANN)) == 1


async def test_a_server_slower_than_the_timeout_leaves_the_message_in_doubt(
    world: World, smtp: ScriptedSmtp, smtp_server: Controller
) -> None:
    await _two_recipients(world)
    smtp.script_data(ANN, "slow:1.5")
    impatient = SmtpPool(SmtpConfig(smtp_server.hostname, smtp_server.port, timeout=0.5), size=1)
    world.transport = impatient
    try:
        await world.send(world.send_at)
        ann = (await world.deliveries())[ANN]
        # The data went out and no reply came: it may have arrived, so it is retried with the
        # same Message-ID (RFC 1047) rather than given up.
        assert (ann.state, ann.attempts, ann.smtp_code) == ("pending", 1, None)
        assert "may have been delivered" in ann.last_reply
        assert (await world.deliveries())[BOB].state == "sent"

        await world.send(ann.due_at)
    finally:
        await impatient.close()
    ann = (await world.deliveries())[ANN]
    assert (ann.state, ann.attempts) == ("sent", 2)
    assert [m["Message-ID"] for m in smtp.to(ANN)] == [ann.message_id] * len(smtp.to(ANN))
    assert len(await world.events("email.sent")) == 2
