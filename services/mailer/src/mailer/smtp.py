"""SMTP: a few sessions kept open between sends, each carrying messages one after another.

aiosmtplib opens each session (greeting, EHLO, STARTTLS, AUTH). The transactions then run on a
small protocol of our own, because aiosmtplib waits for each reply before the next command.
When the server offers PIPELINING (RFC 2920), MAIL, RCPT and DATA go out in one write; and when
another message is waiting as one's data goes out, its MAIL, RCPT and DATA ride in that same
write after the final dot, as Postfix's client does, their replies read after the final reply.
In steady state that is one write and one wait per message. Without PIPELINING, one command at
a time.

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
from collections import deque
from collections.abc import Awaitable, Callable
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

from mailer.domain import CrlfMessage, SmtpReply, SmtpStage

log = structlog.get_logger(__name__)

# A line that begins with a dot, where every line ends in CRLF. Searched for with re: its
# search for a literal prefix is about twice as fast here as `in` on bytes.
_DOT_LINE = re.compile(rb"\n\.")
# Nothing that could end the command or the address early.
_UNSAFE_IN_COMMAND = re.compile(r"[\x00-\x1f\x7f<>]")
_MAX_REPLY = 32_768  # a whole reply, continuation lines included


@dataclass(frozen=True)
class SmtpConfig:
    host: str
    port: int
    tls: Literal["none", "starttls", "implicit"] = "none"
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
        self._requests: asyncio.Queue[_Request] = asyncio.Queue()
        self._running: list[asyncio.Task[None]] = []  # one per session, started by a send

    async def send(self, sender: str, recipient: str, message: bytes) -> SmtpReply:
        for address in (sender, recipient):
            if _UNSAFE_IN_COMMAND.search(address):
                raise ValueError(f"{address!r} cannot be sent in an SMTP command")
        if self._limiter is not None:
            await self._limiter.acquire()
        if not self._running:
            self._running = [asyncio.create_task(s.run(self._requests)) for s in self._sessions]
        request = _Request(sender, recipient, message,
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


@dataclass(eq=False, slots=True)
class _Request:
    sender: str
    recipient: str
    message: bytes
    reply: asyncio.Future[SmtpReply]
    deadline: float = 0.0  # of the whole send, on the loop's clock, set when it is taken


class _Session:
    def __init__(self, config: SmtpConfig) -> None:
        self._config = config
        self._connection: _Connection | None = None
        self._last_used = 0.0

    async def run(self, requests: asyncio.Queue[_Request]) -> None:
        """Carry requests until cancelled, each to its reply."""
        carried: _Request | None = None
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

    async def _take(self, requests: asyncio.Queue[_Request]) -> _Request:
        while True:
            request = await requests.get()
            if self._started(request):
                return request

    async def _take_more(self, requests: asyncio.Queue[_Request]) -> _Request | None:
        """The next request if one is waiting, for its envelope to ride with a message."""
        # The caller of the message settled just before is about to queue its next one: one
        # turn of the loop lets it, so that one rides along instead of waiting a round trip.
        await asyncio.sleep(0)
        while not requests.empty():
            request = requests.get_nowait()
            if self._started(request):
                return request
        return None

    def _started(self, request: _Request) -> bool:
        """Starts the request's deadline; False when its caller no longer waits."""
        if request.reply.done():
            return False
        # Each command has its own timeout; this bounds the whole exchange as well.
        request.deadline = asyncio.get_running_loop().time() + 2 * self._config.timeout
        return True

    async def _send(
        self, request: _Request, requests: asyncio.Queue[_Request]
    ) -> tuple[SmtpReply, _Request | None]:
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
        self, request: _Request, requests: asyncio.Queue[_Request]
    ) -> tuple[SmtpReply, _Request | None]:
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
            return SmtpReply(None, _described(exc), "connect"), None
        reply, carried = await connection.transaction(
            request, partial(self._take_more, requests))
        if connection.closed:
            # A request whose envelope went out on it starts again on a fresh connection.
            self._drop()
        self._last_used = time.monotonic()
        return reply, carried

    def _usable(self, request: _Request) -> bool:
        """The open connection can carry this request: its envelope went out on it already,
        or the connection is open, quiet, and not idle long enough to have been dropped."""
        connection = self._connection
        if connection is None:
            return False
        if connection.carried is request:
            return not connection.closed
        fresh = time.monotonic() - self._last_used < self._config.max_idle
        return connection.ready and fresh

    async def _connected(self) -> _Connection:
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
        self._connection = _Connection(
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
            with contextlib.suppress(_Lost, TimeoutError):
                async with asyncio.timeout(min(self._config.timeout, 5.0)):
                    await self._connection.quit()
        self._drop()


class _Lost(Exception):  # noqa: N818 - a condition of the session, not an error of ours
    """The connection ended, or sent something that is not an SMTP reply."""


class _Connection(asyncio.Protocol):
    """One open SMTP session after its handshake: commands out, replies back in order."""

    def __init__(
        self, transport: asyncio.Transport, *, pipelining: bool, command_timeout: float
    ) -> None:
        self.pipelining = pipelining
        self._command_timeout = command_timeout
        self.closed = False
        # The request whose envelope went out with the last message's data, replies unread.
        self.carried: _Request | None = None
        self._transport = transport
        self._buffer = bytearray()
        self._lines: list[str] = []  # of a reply still being received
        self._replies: deque[tuple[int, str]] = deque()
        self._waiter: asyncio.Future[None] | None = None
        self._reason = "connection lost"
        transport.set_protocol(self)

    @property
    def ready(self) -> bool:
        """Open, and nothing received since the last reply: a server that spoke unasked
        (a 421 before closing an idle session) would have its words taken for our replies."""
        return not (self.closed or self._replies or self._lines or self._buffer)

    async def transaction(
        self, request: _Request, take_more: Callable[[], Awaitable[_Request | None]]
    ) -> tuple[SmtpReply, _Request | None]:
        """One message to one recipient; a lost connection or a timeout is a reply without a
        code, uncertain when the message had gone out. With PIPELINING, the envelope of the
        request `take_more` gives goes out with this message's data, and is returned."""
        stage: SmtpStage = "mail"
        sent = False
        more: _Request | None = None
        # Writes never wait (the transport buffers them): every wait is for a reply, and each
        # of those ends at the command timeout or at the send's deadline, whichever is first.
        try:
            refusal, stage = await self._envelope(request)
            if refusal is not None:
                await self._reset(request.deadline)
                return refusal, None
            data = _data_block(request.message)
            if self.pipelining and (more := await take_more()) is not None:
                data += _envelope(more)
                self.carried = more
            stage, sent = "data", True
            self._transport.write(data)
            code, text = await self._reply(request.deadline)
        except (_Lost, TimeoutError) as exc:
            self.abort()
            reason = self._reason if isinstance(exc, _Lost) else "TimeoutError"
            return SmtpReply(None, reason, stage, uncertain=sent), more
        return SmtpReply(code, text, "data"), more

    async def _envelope(self, request: _Request) -> tuple[SmtpReply | None, SmtpStage]:
        """MAIL, RCPT and DATA: the first refusal among their replies (None when the server
        waits for the message), and the stage a lost connection would have happened at."""
        if self.pipelining and self.carried is not request:
            self._transport.write(_envelope(request))
        self.carried = None
        refusal: SmtpReply | None = None
        for stage, expected in _STAGES:
            if not self.pipelining:
                self._transport.write(_command(stage, request))
            try:
                code, text = await self._reply(request.deadline)
            except _Lost:
                if refusal is None:
                    raise
                # Refused already (a 421 closes the session): that reply is the outcome.
                return refusal, stage
            if refusal is None and code // 100 != expected // 100:
                refusal = SmtpReply(code, text, stage)
                if not self.pipelining:
                    return refusal, stage
            elif refusal is not None and code == 354:
                # A server that asks for the message after refusing the envelope gets an
                # empty one, which it can only refuse.
                self._transport.write(b".\r\n")
                await self._reply(request.deadline)
        return refusal, "data"

    async def _reset(self, deadline: float) -> None:
        """Clear a refused transaction so the session can carry the next message."""
        if self.closed:
            return
        try:
            self._transport.write(b"RSET\r\n")
            await self._reply(deadline)
        except (_Lost, TimeoutError):
            self.abort()

    async def quit(self) -> None:
        self._transport.write(b"QUIT\r\n")
        await self._reply(float("inf"))
        self._transport.close()

    def abort(self) -> None:
        self.closed = True
        self._transport.abort()

    async def _reply(self, deadline: float) -> tuple[int, str]:
        while not self._replies:
            if self.closed:
                raise _Lost(self._reason)
            loop = asyncio.get_running_loop()
            waiter = self._waiter = loop.create_future()
            # A plain timer: asyncio.timeout costs more than the rest of a reply's handling.
            timer = loop.call_at(min(loop.time() + self._command_timeout, deadline),
                                 _expire, waiter)
            try:
                await waiter
            finally:
                timer.cancel()
                self._waiter = None
        return self._replies.popleft()

    # --- asyncio.Protocol ----------------------------------------------------------------

    def data_received(self, data: bytes) -> None:
        self._buffer += data
        while (end := self._buffer.find(b"\n")) >= 0:
            line = bytes(self._buffer[:end + 1])
            del self._buffer[:end + 1]
            code, more = line[:3], line[3:4]
            if not code.isdigit() or more not in (b" ", b"-", b"\r", b"\n"):
                self._lose(f"malformed SMTP reply: {line[:80]!r}")
                return
            self._lines.append(line[4:].strip(b" \t\r\n").decode("utf-8", "surrogateescape"))
            if more != b"-":
                self._replies.append((int(code), "\n".join(self._lines)))
                self._lines = []
        if len(self._buffer) + sum(map(len, self._lines)) > _MAX_REPLY:
            self._lose("SMTP reply too long")
        elif self._replies:
            self._wake()

    def eof_received(self) -> bool:
        self.closed = True
        self._wake()
        return False  # close the transport

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        if exc is not None:
            self._reason = _described(exc)
        self._wake()

    def _lose(self, reason: str) -> None:
        self._reason = reason
        self.abort()
        self._wake()

    def _wake(self) -> None:
        if self._waiter is not None and not self._waiter.done():
            self._waiter.set_result(None)


def _expire(waiter: asyncio.Future[None]) -> None:
    if not waiter.done():
        waiter.set_exception(TimeoutError())


_STAGES: tuple[tuple[SmtpStage, int], ...] = (("mail", 250), ("rcpt", 250), ("data", 354))


def _command(stage: SmtpStage, request: _Request) -> bytes:
    if stage == "mail":
        return f"MAIL FROM:<{request.sender}>\r\n".encode()
    if stage == "rcpt":
        return f"RCPT TO:<{request.recipient}>\r\n".encode()
    return b"DATA\r\n"


def _envelope(request: _Request) -> bytes:
    """MAIL, RCPT and DATA in one write, for a server that offers PIPELINING."""
    return b"".join(_command(stage, request) for stage, _ in _STAGES)


def _data_block(message: bytes) -> bytes:
    """The message as DATA carries it: CRLF line ends, leading dots doubled, the final dot.

    No bare CR or LF reaches the server, so none can end the data early at a server that would
    take one for a line end (SMTP smuggling)."""
    if not isinstance(message, CrlfMessage):
        # bytes.splitlines breaks at CRLF, CR and LF alike.
        message = b"\r\n".join(message.splitlines()) + b"\r\n"
    if message.startswith(b".") or _DOT_LINE.search(message) is not None:
        message = message.replace(b"\n.", b"\n..")
        if message.startswith(b"."):
            message = b"." + message
    return message + b".\r\n"


def _described(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}".rstrip(": ")
