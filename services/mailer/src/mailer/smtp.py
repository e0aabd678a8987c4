"""SMTP over aiosmtplib: a few connections kept open between sends, one message at a time each.

`send` never raises for anything the server or the network does: every outcome is an
`SmtpReply`, and the domain decides what it means.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from dataclasses import dataclass
from typing import Literal

import aiosmtplib
import structlog
from aiolimiter import AsyncLimiter
from aiosmtplib import (
    SMTPAuthenticationError,
    SMTPConnectResponseError,
    SMTPException,
    SMTPHeloError,
    SMTPResponseException,
)

from mailer.domain import SmtpReply, SmtpStage

log = structlog.get_logger(__name__)


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
    """Up to `size` sessions to one server, each carrying one message at a time and reused
    between sends; `config.rate` caps the messages per second across all of them."""

    def __init__(self, config: SmtpConfig, size: int = 1) -> None:
        self.config = config
        self.concurrency = size
        # Small bursts only: a full second's worth at once would defeat a per-second limit.
        self._limiter = (
            AsyncLimiter(max(config.rate / 10, 1), 0.1) if config.rate else None
        )
        self._sessions = [_Session(config) for _ in range(size)]
        self._idle: asyncio.Queue[_Session] = asyncio.Queue()
        for session in self._sessions:
            self._idle.put_nowait(session)

    async def send(self, sender: str, recipient: str, message: bytes) -> SmtpReply:
        if self._limiter is not None:
            await self._limiter.acquire()
        session = await self._idle.get()
        try:
            return await session.send(sender, recipient, message)
        finally:
            self._idle.put_nowait(session)

    async def close(self) -> None:
        for session in self._sessions:
            await session.close()


class _Session:
    def __init__(self, config: SmtpConfig) -> None:
        self._config = config
        self._client: aiosmtplib.SMTP | None = None
        self._last_used = 0.0

    async def send(self, sender: str, recipient: str, message: bytes) -> SmtpReply:
        # Each command has its own timeout; this bounds the whole exchange as well.
        deadline = asyncio.get_running_loop().time() + 2 * self._config.timeout
        reused = self._reusable()
        reply = await self._transaction(sender, recipient, message, deadline)
        if reused and reply.code is None and reply.stage == "mail":
            # The server closed the idle session before our MAIL command: nothing of the
            # message went out, so a fresh session may try again at once.
            reply = await self._transaction(sender, recipient, message, deadline)
        return reply

    async def _transaction(
        self, sender: str, recipient: str, message: bytes, deadline: float
    ) -> SmtpReply:
        stage: SmtpStage = "connect"
        try:
            async with asyncio.timeout_at(deadline):
                client = await self._connected()
                stage = "mail"
                await client.mail(sender)
                stage = "rcpt"
                await client.rcpt(recipient)
                stage = "data"
                response = await client.data(message)
        except (SMTPAuthenticationError, SMTPHeloError, SMTPConnectResponseError) as exc:
            # The session failed, not this recipient: no reply that speaks about the message.
            self._drop()
            return SmtpReply(None, f"{exc.code} {exc.message}", "connect")
        except SMTPResponseException as exc:
            await self._reset()
            self._last_used = time.monotonic()
            return SmtpReply(exc.code, exc.message, stage)
        except (SMTPException, OSError, TimeoutError) as exc:
            self._drop()
            reason = f"{type(exc).__name__}: {exc}".rstrip(": ")
            return SmtpReply(None, reason, stage, uncertain=stage == "data")
        self._last_used = time.monotonic()
        return SmtpReply(response.code, response.message, "data")

    def _reusable(self) -> bool:
        fresh = time.monotonic() - self._last_used < self._config.max_idle
        return self._client is not None and self._client.is_connected and fresh

    async def _connected(self) -> aiosmtplib.SMTP:
        if self._client is not None and self._reusable():
            return self._client
        await self.close()
        config = self._config
        client = aiosmtplib.SMTP(
            hostname=config.host, port=config.port, timeout=config.timeout,
            use_tls=config.tls == "implicit", start_tls=config.tls == "starttls",
            username=config.username, password=config.password, cert_bundle=config.ca_file,
        )
        await client.connect()
        self._client = client
        self._last_used = time.monotonic()
        return client

    async def _reset(self) -> None:
        """Clear the refused transaction so the session can carry the next message."""
        if self._client is None or not self._client.is_connected:
            return
        try:
            await self._client.rset()
        except (SMTPException, OSError, TimeoutError):
            self._drop()

    def _drop(self) -> None:
        if self._client is not None:
            self._client.close()
            self._client = None

    async def close(self) -> None:
        if self._client is not None and self._client.is_connected:
            with contextlib.suppress(SMTPException, OSError, TimeoutError):
                await self._client.quit(timeout=min(self._config.timeout, 5.0))
        self._drop()
