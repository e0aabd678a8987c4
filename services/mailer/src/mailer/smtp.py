"""SMTP: a few sessions kept open between sends, each carrying messages one after another.

aiosmtplib opens each session (greeting, EHLO, STARTTLS, AUTH). The transactions then run on a
small protocol of our own, because aiosmtplib waits for each reply before the next command.
When the server offers PIPELINING (RFC 2920), MAIL, RCPT and DATA go out in one write; and when
another message is waiting as one's data goes out, its MAIL, RCPT and DATA ride in that same
write after the final dot, as Postfix's client does, their replies read after the final reply.
In steady state that is one write and one wait per message. Without PIPELINING, one command at
a time. That protocol is `mailer.smtp_session`; this module keeps the sessions.

Sends wait in one queue. A session takes the next when it is free, and one more, without
waiting, whenever it writes a message's data. A message whose envelope rode along on a session
lost before its MAIL was answered had nothing of it sent: a fresh session tries it at once.

`send` never raises for anything the server or the network does: every outcome is an
`SmtpReply`, and the domain decides what it means.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
import time
from dataclasses import dataclass
from functools import partial
from typing import Literal, cast

import aiosmtplib
import structlog
from aiolimiter import AsyncLimiter
from aiosmtplib import (
    SMTPAuthenticationError,
    SMTPConnectResponseError,
    SMTPException,
    SMTPHeloError,
)

from mailer.domain import SmtpReply
from mailer.smtp_session import Connection, Lost, Request, described

log = structlog.get_logger(__name__)

# Nothing that could end the command or the address early.
_UNSAFE_IN_COMMAND = re.compile(r"[\x00-\x1f\x7f<>]")


# How the session to the server is secured: plain, upgraded with STARTTLS, or TLS from the start.
TlsMode = Literal["none", "starttls", "implicit"]


@dataclass(frozen=True)
class SmtpConfig:
    host: str
    port: int
    tls: TlsMode = "none"
    timeout: float = 30.0  # per command
    username: str | None = None
    password: str | None = None
    # Servers drop idle sessions after a minute or so; reconnect rather than find out mid-send.
    max_idle: float = 30.0
    rate: float | None = None  # messages per second, None for no limit
    # CA bundle to verify the server's certificate with; None trusts the system's CAs.
    ca_file: str | None = None


class SmtpPool:
    """Up to `size` sessions to one server, reused between sends; `config.rate` caps the
    messages per second across all of them."""

    def __init__(self, config: SmtpConfig, size: int = 1) -> None:
        self.config = config
        self.concurrency = size
        # Small bursts only: a full second's worth at once would defeat a per-second limit.
        self._limiter = (
            AsyncLimiter(max(config.rate / 10, 1), 0.1) if config.rate else None
        )
        self._sessions = [_Session(config) for _ in range(size)]
        self._requests: asyncio.Queue[Request] = asyncio.Queue()
        self._running: list[asyncio.Task[None]] = []  # one per session, started by a send

    async def send(self, sender: str, recipient: str, message: bytes) -> SmtpReply:
        for address in (sender, recipient):
            if _UNSAFE_IN_COMMAND.search(address):
                raise ValueError(f"{address!r} cannot be sent in an SMTP command")
        if self._limiter is not None:
            await self._limiter.acquire()
        if not self._running:
            self._running = [asyncio.create_task(s.run(self._requests)) for s in self._sessions]
        request = Request(sender, recipient, message,
                           asyncio.get_running_loop().create_future())
        self._requests.put_nowait(request)
        return await request.reply

    async def close(self) -> None:
        for task in self._running:
            task.cancel()
        await asyncio.gather(*self._running, return_exceptions=True)
        self._running = []
        while not self._requests.empty():
            self._requests.get_nowait().reply.cancel()
        for session in self._sessions:
            await session.close()


class _Session:
    def __init__(self, config: SmtpConfig) -> None:
        self._config = config
        self._connection: Connection | None = None
        self._last_used = 0.0

    async def run(self, requests: asyncio.Queue[Request]) -> None:
        """Carry requests until cancelled, each to its reply."""
        carried: Request | None = None
        while True:
            request = carried or await self._take(requests)
            try:
                reply, carried = await self._send(request, requests)
            except BaseException as exc:
                # A bug, or the pool closing: what was under way on the connection is unknown
                # now, and its callers get the exception or are cancelled.
                connection = self._connection
                held = [request]
                if connection is not None and connection.carried is not None:
                    held.append(connection.carried)
                self._drop()
                for unsettled in (r.reply for r in held if not r.reply.done()):
                    if isinstance(exc, Exception):
                        unsettled.set_exception(exc)
                    else:
                        unsettled.cancel()
                if not isinstance(exc, Exception):
                    raise
                carried = None
                continue
            if not request.reply.done():  # else its caller was cancelled
                request.reply.set_result(reply)

    async def _take(self, requests: asyncio.Queue[Request]) -> Request:
        while True:
            request = await requests.get()
            if self._started(request):
                return request

    async def _take_more(self, requests: asyncio.Queue[Request]) -> Request | None:
        """The next request if one is waiting, for its envelope to ride with a message."""
        # The caller of the message settled just before is about to queue its next one: one
        # turn of the loop lets it, so that one rides along instead of waiting a round trip.
        await asyncio.sleep(0)
        while not requests.empty():
            request = requests.get_nowait()
            if self._started(request):
                return request
        return None

    def _started(self, request: Request) -> bool:
        """Starts the request's deadline; False when its caller no longer waits."""
        if request.reply.done():
            return False
        # Each command has its own timeout; this bounds the whole exchange as well.
        request.deadline = asyncio.get_running_loop().time() + 2 * self._config.timeout
        return True

    async def _send(
        self, request: Request, requests: asyncio.Queue[Request]
    ) -> tuple[SmtpReply, Request | None]:
        """The request's reply, and the request whose envelope went out with its data."""
        reused = self._usable(request)
        reply, carried = await self._transaction(request, requests)
        if reused and reply.code is None and reply.stage == "mail":
            # The session was lost before any reply to our MAIL command (an idle one the
            # server closed, or one that closed after answering the message this envelope
            # rode with): nothing of this message went out, so a fresh session may try at once.
            reply, carried = await self._transaction(request, requests)
        return reply, carried

    async def _transaction(
        self, request: Request, requests: asyncio.Queue[Request]
    ) -> tuple[SmtpReply, Request | None]:
        connection = self._connection
        try:
            if connection is None or not self._usable(request):
                async with asyncio.timeout_at(request.deadline):
                    connection = await self._connected()
        except (SMTPAuthenticationError, SMTPHeloError, SMTPConnectResponseError) as exc:
            # The session failed, not this recipient: no reply that speaks about the message.
            self._drop()
            return SmtpReply(None, f"{exc.code} {exc.message}", "connect"), None
        except (SMTPException, OSError, TimeoutError) as exc:
            self._drop()
            return SmtpReply(None, described(exc), "connect"), None
        reply, carried = await connection.transaction(
            request, partial(self._take_more, requests))
        if connection.closed:
            # A request whose envelope went out on it starts again on a fresh connection.
            self._drop()
        self._last_used = time.monotonic()
        return reply, carried

    def _usable(self, request: Request) -> bool:
        """The open connection can carry this request: its envelope went out on it already,
        or the connection is open, quiet, and not idle long enough to have been dropped."""
        connection = self._connection
        if connection is None:
            return False
        if connection.carried is request:
            return not connection.closed
        fresh = time.monotonic() - self._last_used < self._config.max_idle
        return connection.ready and fresh

    async def _connected(self) -> Connection:
        await self.close()
        config = self._config
        client = aiosmtplib.SMTP(
            hostname=config.host, port=config.port, timeout=config.timeout,
            use_tls=config.tls == "implicit", start_tls=config.tls == "starttls",
            username=config.username, password=config.password, cert_bundle=config.ca_file,
        )
        await client.connect()
        if client.is_ehlo_or_helo_needed:  # connect() greets only when TLS or AUTH needed it
            try:
                await client.ehlo()
            except SMTPHeloError:
                await client.helo()
        # uvloop's transports are not subclasses of asyncio.Transport, only alike.
        transport = cast(asyncio.Transport | None, client.transport)
        if transport is None:
            raise SMTPException("the SMTP connection has no transport")
        # From here on the session's replies come to our protocol; aiosmtplib is done.
        self._connection = Connection(
            transport, pipelining=client.supports_extension("pipelining"),
            command_timeout=config.timeout)
        self._last_used = time.monotonic()
        return self._connection

    def _drop(self) -> None:
        if self._connection is not None:
            self._connection.abort()
            self._connection = None

    async def close(self) -> None:
        if self._connection is not None and not self._connection.closed:
            with contextlib.suppress(Lost, TimeoutError):
                async with asyncio.timeout(min(self._config.timeout, 5.0)):
                    await self._connection.quit()
        self._drop()
