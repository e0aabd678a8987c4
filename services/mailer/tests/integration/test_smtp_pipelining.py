"""Pipelining across messages: the next message's envelope rides in the write that ends the
current one's data, against a real server that records what each of its reads brought."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, Envelope, Session

from devstack.ports import LOOPBACK, free_port
from mailer.domain import CrlfMessage
from mailer.smtp import SmtpConfig, SmtpPool

if TYPE_CHECKING:  # test modules cannot import each other; the fixture provides it
    from conftest import ScriptedSmtp

MESSAGE = (b"From: a@x.example\r\nTo: b@y.example\r\nSubject: t\r\n"
           b"Message-ID: <1@x.example>\r\n\r\nhi\r\n")
# The end of one message's data and the next MAIL, arrived together.
RIDE = b"\r\n.\r\nMAIL FROM:<a@x.example>\r\nRCPT TO:<"


class _Recording(Controller):
    """A server that keeps each read from its clients, with the connection it came on."""

    def __init__(self, handler: object, **options: Any) -> None:
        super().__init__(handler, hostname=LOOPBACK, port=free_port(), **options)
        self.reads: list[tuple[int, bytes]] = []

    def factory(self) -> SMTP:
        return _RecordingSmtp(self.reads, self.handler, **self.SMTP_kwargs)

    def rides(self) -> int:
        return sum(data.count(RIDE) for _, data in self.reads)

    def connections(self) -> int:
        return len({connection for connection, _ in self.reads})


class _RecordingSmtp(SMTP):
    def __init__(self, reads: list[tuple[int, bytes]], *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._reads = reads

    def data_received(self, data: bytes) -> None:
        self._reads.append((id(self), data))
        super().data_received(data)


@pytest.fixture
def server(smtp: ScriptedSmtp) -> Iterator[_Recording]:
    """Answers as `smtp` is scripted to, PIPELINING offered."""
    controller = _Recording(smtp)
    controller.start()
    yield controller
    controller.stop()


def _pool(server: Controller) -> SmtpPool:
    return SmtpPool(SmtpConfig(LOOPBACK, server.port, timeout=5.0), size=1)


async def test_each_envelope_rides_with_the_data_before_it(
    server: _Recording, smtp: ScriptedSmtp
) -> None:
    # As the sender drives a pool: two callers per session, each sending its next message
    # as soon as its last one is answered.
    pool = _pool(server)
    replies = []

    async def caller(name: str) -> None:
        for i in range(10):
            replies.append(await pool.send("a@x.example", f"{name}{i}@y.example", MESSAGE))

    try:
        await asyncio.gather(caller("p"), caller("q"))
    finally:
        await pool.close()
    assert {(r.code, r.stage) for r in replies} == {(250, "data")}
    assert len(smtp.received) == 20
    # Only the first envelope went out alone; every other one in the write that ended the
    # message before it: one write and one wait per message.
    assert server.rides() == 19
    assert server.connections() == 1


async def test_a_session_lost_after_the_data_leaves_that_message_in_doubt_only(
    server: _Recording, smtp: ScriptedSmtp
) -> None:
    smtp.script("first@y.example", "drop")  # reads the message, closes without a reply
    pool = _pool(server)
    try:
        first, second = await asyncio.gather(
            pool.send("a@x.example", "first@y.example", MESSAGE),
            pool.send("a@x.example", "second@y.example", MESSAGE))
    finally:
        await pool.close()
    assert (first.code, first.stage, first.uncertain) == (None, "data", True)
    # The second envelope had gone out with the first message's data, and nothing of its own
    # data: it is sent again at once on a fresh session, and arrives once.
    assert (second.code, second.stage, second.uncertain) == (250, "data", False)
    assert server.rides() == 1
    assert server.connections() == 2
    assert [rcpts for _, rcpts in smtp.envelopes] == [["first@y.example"], ["second@y.example"]]


async def test_a_refused_envelope_that_rode_along_is_its_own_outcome(
    server: _Recording, smtp: ScriptedSmtp
) -> None:
    smtp.script("gone@y.example", "550 5.1.1 No such user")
    pool = _pool(server)
    try:
        replies = await asyncio.gather(*(
            pool.send("a@x.example", f"{name}@y.example", MESSAGE)
            for name in ("first", "gone", "third")))
    finally:
        await pool.close()
    first, gone, third = ((r.code, r.stage, r.uncertain) for r in replies)
    assert first == (250, "data", False)
    assert gone == (550, "rcpt", False)
    assert third == (250, "data", False)
    assert any(RIDE + b"gone@y.example>" in data for _, data in server.reads)
    # Reset, and the same session carried the next message.
    assert server.connections() == 1
    assert smtp.envelopes == [("a@x.example", ["first@y.example"]),
                              ("a@x.example", ["third@y.example"])]


async def test_a_send_cancelled_while_waiting_never_goes_out(
    server: _Recording, smtp: ScriptedSmtp
) -> None:
    pool = _pool(server)
    try:
        first = asyncio.create_task(pool.send("a@x.example", "first@y.example", MESSAGE))
        given_up = asyncio.create_task(pool.send("a@x.example", "late@y.example", MESSAGE))
        await asyncio.sleep(0)  # both wait for the session now
        given_up.cancel()
        reply = await first
        third = await pool.send("a@x.example", "third@y.example", MESSAGE)
    finally:
        await pool.close()
    assert (reply.code, third.code) == (250, 250)
    # Nobody would record its outcome: sending it anyway could only send it twice.
    assert [rcpts for _, rcpts in smtp.envelopes] == [["first@y.example"], ["third@y.example"]]
    assert not any(b"late@" in data for _, data in server.reads)


class _Accepting:
    async def handle_DATA(  # noqa: N802 - aiosmtpd's hook name
        self, server: SMTP, session: Session, envelope: Envelope
    ) -> str:
        return "250 OK"


async def test_without_pipelining_one_command_at_a_time() -> None:
    server = _Recording(_Accepting())  # aiosmtpd does not offer PIPELINING by itself
    server.start()
    pool = _pool(server)
    try:
        replies = await asyncio.gather(*(
            pool.send("a@x.example", f"r{i}@y.example", MESSAGE) for i in range(5)))
    finally:
        await pool.close()
        server.stop()
    assert {r.code for r in replies} == {250}
    assert server.connections() == 1
    assert not any(b"\r\nMAIL" in data or b"\r\nRCPT" in data for _, data in server.reads)


@pytest.mark.parametrize(("message", "wire", "received"), [
    # Bare LF and bare CR, each alone and around a lone dot: every line end goes out as CRLF,
    # every leading dot doubled, so only the final dot can end the data.
    (b"Subject: t\n\nhi\n.\nMAIL FROM:<x@evil.example>\r.\rtail\r\n.\nend",
     b"Subject: t\r\n\r\nhi\r\n..\r\nMAIL FROM:<x@evil.example>\r\n..\r\ntail\r\n..\r\nend\r\n"
     b".\r\n",
     b"Subject: t\r\n\r\nhi\r\n.\r\nMAIL FROM:<x@evil.example>\r\n.\r\ntail\r\n.\r\nend\r\n"),
    # Lines the renderer made: CRLF already, the leading dots are still doubled.
    (CrlfMessage(b".Subject: t\r\n\r\n.\r\n..x\r\n"), b"..Subject: t\r\n\r\n..\r\n...x\r\n.\r\n",
     b".Subject: t\r\n\r\n.\r\n..x\r\n"),
])
async def test_the_data_is_framed_whatever_line_ends_it_has(
    server: _Recording, smtp: ScriptedSmtp, message: bytes, wire: bytes, received: bytes
) -> None:
    pool = _pool(server)
    try:
        reply = await pool.send("a@x.example", "b@y.example", message)
    finally:
        await pool.close()
    assert reply.code == 250
    sent = b"".join(data for _, data in server.reads)
    assert sent.split(b"DATA\r\n", 1)[1].startswith(wire)
    assert b"\r" not in sent.replace(b"\r\n", b"")
    assert b"\n" not in sent.replace(b"\r\n", b"")
    assert smtp.raw == [received]
