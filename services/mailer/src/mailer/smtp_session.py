"""One open SMTP session after aiosmtplib's handshake: the protocol our transactions run on,
MAIL, RCPT and DATA written (pipelined when the server offers it) and the replies read back in
order. `mailer.smtp` keeps these sessions in a pool and decides when one is opened again."""

from __future__ import annotations

import asyncio
import re
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from mailer.domain import CrlfMessage, SmtpReply, SmtpStage

# A line that begins with a dot, where every line ends in CRLF. Searched for with re: its
# search for a literal prefix is about twice as fast here as `in` on bytes.
_DOT_LINE = re.compile(rb"\n\.")
_MAX_REPLY = 32_768  # a whole reply, continuation lines included


@dataclass(eq=False, slots=True)
class Request:
    sender: str
    recipient: str
    message: bytes
    reply: asyncio.Future[SmtpReply]
    deadline: float = 0.0  # of the whole send, on the loop's clock, set when it is taken


class Lost(Exception):  # noqa: N818 - a condition of the session, not an error of ours
    """The connection ended, or sent something that is not an SMTP reply."""


class Connection(asyncio.Protocol):
    """One open SMTP session after its handshake: commands out, replies back in order."""

    def __init__(
        self, transport: asyncio.Transport, *, pipelining: bool, command_timeout: float
    ) -> None:
        self.pipelining = pipelining
        self._command_timeout = command_timeout
        self.closed = False
        # The request whose envelope went out with the last message's data, replies unread.
        self.carried: Request | None = None
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
        self, request: Request, take_more: Callable[[], Awaitable[Request | None]]
    ) -> tuple[SmtpReply, Request | None]:
        """One message to one recipient; a lost connection or a timeout is a reply without a
        code, uncertain when the message had gone out. With PIPELINING, the envelope of the
        request `take_more` gives goes out with this message's data, and is returned."""
        stage: SmtpStage = "mail"
        sent = False
        more: Request | None = None
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
        except (Lost, TimeoutError) as exc:
            self.abort()
            reason = self._reason if isinstance(exc, Lost) else "TimeoutError"
            return SmtpReply(None, reason, stage, uncertain=sent), more
        return SmtpReply(code, text, "data"), more

    async def _envelope(self, request: Request) -> tuple[SmtpReply | None, SmtpStage]:
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
            except Lost:
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
        except (Lost, TimeoutError):
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
                raise Lost(self._reason)
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
            self._reason = described(exc)
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


def _command(stage: SmtpStage, request: Request) -> bytes:
    if stage == "mail":
        return f"MAIL FROM:<{request.sender}>\r\n".encode()
    if stage == "rcpt":
        return f"RCPT TO:<{request.recipient}>\r\n".encode()
    return b"DATA\r\n"


def _envelope(request: Request) -> bytes:
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


def described(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}".rstrip(": ")
