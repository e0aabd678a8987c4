"""The SMTP sessions against a real server: replies, resets, lost and stale connections."""

from __future__ import annotations

from typing import TYPE_CHECKING

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, Envelope, Session

from devstack.ports import LOOPBACK, free_port
from mailer.smtp import SmtpConfig, SmtpPool

if TYPE_CHECKING:  # test modules cannot import each other; the fixture provides it
    from conftest import ScriptedSmtp

MESSAGE = (b"From: a@x.example\r\nTo: b@y.example\r\nSubject: t\r\n"
           b"Message-ID: <1@x.example>\r\n\r\nhi\r\n")


async def test_a_refused_recipient_does_not_spoil_the_session(
    transport: SmtpPool, smtp: ScriptedSmtp
) -> None:
    smtp.script("gone@y.example", "550 5.1.1 No such user")

    refused = await transport.send("a@x.example", "gone@y.example", MESSAGE)
    accepted = await transport.send("a@x.example", "b@y.example", MESSAGE)

    assert (refused.code, refused.text, refused.stage) == (550, "5.1.1 No such user", "rcpt")
    assert (accepted.code, accepted.text, accepted.stage) == (250, "2.0.0 Ok: queued", "data")
    assert smtp.envelopes == [("a@x.example", ["b@y.example"])]


async def test_connection_lost_after_the_data_is_reported_as_uncertain(
    transport: SmtpPool, smtp: ScriptedSmtp
) -> None:
    smtp.script("b@y.example", "drop")
    reply = await transport.send("a@x.example", "b@y.example", MESSAGE)
    assert reply.code is None
    assert (reply.stage, reply.uncertain) == ("data", True)
    assert len(smtp.received) == 1  # the server did get it: that is the doubt


class _Counting:
    def __init__(self) -> None:
        self.messages = 0

    async def handle_DATA(  # noqa: N802 - aiosmtpd's hook name
        self, server: SMTP, session: Session, envelope: Envelope
    ) -> str:
        self.messages += 1
        return "250 OK"


async def test_a_session_closed_by_the_server_is_replaced_without_a_failure() -> None:
    handler, port = _Counting(), free_port()
    server = Controller(handler, hostname=LOOPBACK, port=port)
    server.start()
    pool = SmtpPool(SmtpConfig(LOOPBACK, port, timeout=5.0), size=1)
    try:
        first = await pool.send("a@x.example", "b@y.example", MESSAGE)
        server.stop()  # closes every open session; a new server takes the port
        server = Controller(handler, hostname=LOOPBACK, port=port)
        server.start()
        second = await pool.send("a@x.example", "b@y.example", MESSAGE)
    finally:
        await pool.close()
        server.stop()
    assert (first.code, second.code) == (250, 250)
    assert handler.messages == 2
