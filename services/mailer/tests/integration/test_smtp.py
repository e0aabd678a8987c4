"""The SMTP sessions against a real server: replies, resets, lost and stale connections."""

from __future__ import annotations

import asyncio
import ssl
import subprocess
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, AuthResult, Envelope, LoginPassword, Session

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


class _Chatty(_Counting):
    """Says more than its reply after each message, as a server about to drop an idle session
    may."""

    async def handle_DATA(  # noqa: N802 - aiosmtpd's hook name
        self, server: SMTP, session: Session, envelope: Envelope
    ) -> str:
        await super().handle_DATA(server, session, envelope)
        return "250 OK\r\n421 4.4.2 unasked"


async def test_a_session_the_server_spoke_in_unasked_is_not_reused() -> None:
    handler, port = _Chatty(), free_port()
    server = Controller(handler, hostname=LOOPBACK, port=port)
    server.start()
    pool = SmtpPool(SmtpConfig(LOOPBACK, port, timeout=5.0), size=1)
    try:
        first = await pool.send("a@x.example", "b@y.example", MESSAGE)
        await asyncio.sleep(0.2)  # the extra line arrives
        second = await pool.send("a@x.example", "c@y.example", MESSAGE)
    finally:
        await pool.close()
        server.stop()
    # Had the 421 been taken for the reply to the next MAIL, the second send would be refused.
    assert (first.code, second.code) == (250, 250)
    assert handler.messages == 2


class _Sessions:
    """Counts messages per client connection (its peer address)."""

    def __init__(self) -> None:
        self.peers: list[object] = []

    async def handle_DATA(  # noqa: N802 - aiosmtpd's hook name
        self, server: SMTP, session: Session, envelope: Envelope
    ) -> str:
        self.peers.append(session.peer)
        return "250 OK"


def _server(handler: object, **options: Any) -> Controller:
    controller = Controller(handler, hostname=LOOPBACK, port=free_port(), **options)
    controller.start()
    return controller


async def test_sessions_are_kept_open_and_limited_to_the_pool_size() -> None:
    handler = _Sessions()
    server = _server(handler)
    pool = SmtpPool(SmtpConfig(LOOPBACK, server.port, timeout=5.0), size=3)
    try:
        replies = await asyncio.gather(*(
            pool.send("a@x.example", f"r{i}@y.example", MESSAGE) for i in range(30)))
    finally:
        await pool.close()
        server.stop()
    assert {r.code for r in replies} == {250}
    assert len(handler.peers) == 30
    assert len(set(handler.peers)) == 3


async def test_the_rate_limit_spreads_messages_over_time() -> None:
    handler = _Sessions()
    server = _server(handler)
    pool = SmtpPool(SmtpConfig(LOOPBACK, server.port, timeout=5.0, rate=20), size=4)
    try:
        started = time.monotonic()
        await asyncio.gather(*(
            pool.send("a@x.example", f"r{i}@y.example", MESSAGE) for i in range(30)))
        elapsed = time.monotonic() - started
    finally:
        await pool.close()
        server.stop()
    assert len(handler.peers) == 30
    # 20 a second in bursts of 2 per 0.1 s: 30 messages cannot go out in much under 1.5 s.
    assert elapsed >= 1.3


async def test_credentials_are_sent_with_auth() -> None:
    logins: list[tuple[bytes, bytes]] = []

    def authenticator(server: SMTP, session: Session, envelope: Envelope, mechanism: str,
                      auth_data: object) -> AuthResult:
        assert isinstance(auth_data, LoginPassword)
        logins.append((auth_data.login, auth_data.password))
        return AuthResult(success=auth_data.password == b"s3cret")

    handler = _Sessions()
    server = _server(handler, authenticator=authenticator, auth_require_tls=False,
                     auth_required=True)
    right = SmtpPool(SmtpConfig(LOOPBACK, server.port, timeout=5.0, username="mailer",
                                password="s3cret"))
    wrong = SmtpPool(SmtpConfig(LOOPBACK, server.port, timeout=1.0, username="mailer",
                                password="nope"))
    try:
        accepted = await right.send("a@x.example", "b@y.example", MESSAGE)
        refused = await wrong.send("a@x.example", "b@y.example", MESSAGE)
    finally:
        await right.close()
        await wrong.close()
        server.stop()
    assert accepted.code == 250
    # A session that cannot log in says nothing about the recipient: deferred, not failed.
    assert (refused.code, refused.stage) == (None, "connect")
    assert logins == [(b"mailer", b"s3cret"), (b"mailer", b"nope")]
    assert len(handler.peers) == 1


@pytest.fixture(scope="module")
def certificate(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, ssl.SSLContext]:
    """A self-signed certificate for 127.0.0.1: the file a client trusts, the server's context."""
    folder = tmp_path_factory.mktemp("tls")
    cert, key = folder / "cert.pem", folder / "key.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
         "-keyout", str(key), "-out", str(cert), "-subj", "/CN=sink.test",
         "-addext", f"subjectAltName=IP:{LOOPBACK}"],
        check=True, capture_output=True,
    )
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert, key)
    return cert, context


@pytest.mark.parametrize("mode", ["starttls", "implicit"])
async def test_tls_as_configured(
    certificate: tuple[Path, ssl.SSLContext], mode: Literal["starttls", "implicit"]
) -> None:
    cert, context = certificate
    handler = _Sessions()
    options: dict[str, Any] = (
        {"tls_context": context, "require_starttls": True} if mode == "starttls"
        else {"ssl_context": context}
    )
    server = _server(handler, **options)
    trusting = SmtpPool(SmtpConfig(LOOPBACK, server.port, tls=mode, timeout=5.0,
                                   ca_file=str(cert)))
    # Without the CA the certificate does not verify: nothing is sent in the clear instead.
    doubting = SmtpPool(SmtpConfig(LOOPBACK, server.port, tls=mode, timeout=2.0))
    try:
        accepted = await trusting.send("a@x.example", "b@y.example", MESSAGE)
        refused = await doubting.send("a@x.example", "b@y.example", MESSAGE)
    finally:
        await trusting.close()
        await doubting.close()
        server.stop()
    assert accepted.code == 250
    assert (refused.code, refused.stage) == (None, "connect")
    assert len(handler.peers) == 1
