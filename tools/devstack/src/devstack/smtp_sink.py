"""Development SMTP sink: accepts every message and stores it in a Maildir.

Messages are kept exactly as received (after SMTP dot-unstuffing), byte for byte, in the
Maildir's `new/` folder, so tests and the dashboard see what the mailer really sent. Nothing is
added, not even the envelope: the headers are what a reader looks at.

Run it alone with `python -m devstack.smtp_sink --port 2525 --maildir .data/maildir`.

For crash tests a running sink can be given a fault (`SmtpSink.set_fault`): it then answers one
transaction in every few with 421 at RCPT and closes the session, or closes the connection once
the message data has arrived, before storing it and before any reply. Without one, the hooks
answer exactly as aiosmtpd would.
"""

from __future__ import annotations

import asyncio
import mailbox
import signal
import threading
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Annotated, Literal, Self

import structlog
import typer
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, Envelope, Session

from devstack.ports import LOOPBACK
from devstack.shutdown import interrupt_on_signals

log = structlog.get_logger(__name__)


REPLY_421 = "421 4.3.2 Service shutting down, closing transmission channel"


@dataclass(frozen=True)
class SinkFault:
    """One transaction in `every` is answered 421 at RCPT (`"421"`: the sink then closes the
    session, as a server going down does), or loses its connection after the message data,
    unstored and unanswered (`"drop"`: to the client the outcome is unknown)."""

    kind: Literal["421", "drop"]
    every: int = 3

    def __post_init__(self) -> None:
        if self.every < 1:
            raise ValueError(f"every must be at least 1, got {self.every}")


class MaildirHandler:
    """aiosmtpd handler that delivers every message into one Maildir."""

    def __init__(self, maildir: Path) -> None:
        # Maildir(create=True) skips tmp/new/cur when the folder already exists, empty or not.
        for sub in ("tmp", "new", "cur"):
            (Path(maildir) / sub).mkdir(parents=True, exist_ok=True)
        self.maildir = mailbox.Maildir(maildir, create=False)
        # Set from the caller's thread, read on the server's: the lock keeps the count exact.
        self._lock = threading.Lock()
        self._fault: SinkFault | None = None
        self._seen = 0
        self.faults_injected = 0

    def set_fault(self, fault: SinkFault | None) -> None:
        with self._lock:
            self._fault, self._seen = fault, 0

    def _strikes(self, kind: str) -> bool:
        """Whether this transaction is one the current fault hits."""
        with self._lock:
            if self._fault is None or self._fault.kind != kind:
                return False
            self._seen += 1
            if self._seen % self._fault.every:
                return False
            self.faults_injected += 1
            return True

    async def handle_RCPT(  # noqa: N802 (the hook name aiosmtpd calls)
        self, server: SMTP, session: Session, envelope: Envelope, address: str,
        rcpt_options: list[str],
    ) -> str:
        if self._strikes("421"):
            # Closed once the reply is written: aiosmtpd writes it when this returns.
            if server.transport is not None:
                asyncio.get_running_loop().call_soon(server.transport.close)
            return REPLY_421
        # What aiosmtpd does when a handler has no RCPT hook.
        envelope.rcpt_tos.append(address)
        envelope.rcpt_options.extend(rcpt_options)
        return "250 OK"

    async def handle_DATA(  # noqa: N802 (the hook name aiosmtpd calls)
        self, server: SMTP, session: Session, envelope: Envelope
    ) -> str:
        # With decode_data=False the raw bytes are the one faithful copy of the message.
        content = envelope.original_content
        if content is None:
            return "554 Transaction failed: no message data"
        if self._strikes("drop"):
            if isinstance(server.transport, asyncio.Transport):
                server.transport.abort()
            log.info("mail dropped", mail_from=envelope.mail_from, rcpt_tos=envelope.rcpt_tos)
            return "451 4.3.0 Connection dropped"  # never sent: the connection is gone
        key = self.maildir.add(content)
        log.info(
            "mail stored",
            key=key,
            mail_from=envelope.mail_from,
            rcpt_tos=envelope.rcpt_tos,
            size=len(content),
        )
        return "250 Message accepted for delivery"


class SmtpSink:
    """An SMTP server on its own thread that stores what it receives in `maildir`."""

    def __init__(self, host: str, port: int, maildir: Path) -> None:
        if port == 0:
            # aiosmtpd's readiness check connects to the configured port.
            raise ValueError("SmtpSink needs a concrete port; use devstack.ports.free_port()")
        self.host = host
        self.port = port
        self.maildir = maildir
        self._handler = MaildirHandler(maildir)
        self._controller = Controller(self._handler, hostname=host, port=port, decode_data=False)
        self._started = False

    def set_fault(self, fault: SinkFault | None) -> None:
        """Answer transactions as `fault` says from now on; None: accept everything again."""
        self._handler.set_fault(fault)
        log.info("smtp sink fault", fault=fault)

    @property
    def faults_injected(self) -> int:
        """Transactions a fault has hit since the sink started."""
        return self._handler.faults_injected

    def start(self) -> Self:
        self._controller.start()
        self._started = True
        log.info("smtp sink started", host=self.host, port=self.port, maildir=str(self.maildir))
        return self

    def stop(self) -> None:
        """Stop accepting mail. Safe to call repeatedly."""
        if self._started:
            self._controller.stop()
            self._started = False
            log.info("smtp sink stopped", port=self.port)

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()


def main(
    maildir: Annotated[Path, typer.Option(help="Maildir to deliver into (created if missing).")],
    port: Annotated[int, typer.Option(help="TCP port to listen on.")] = 2525,
    host: Annotated[str, typer.Option(help="Address to listen on.")] = LOOPBACK,
) -> None:
    """Accept every message and store it, unchanged, in MAILDIR/new."""
    interrupt_on_signals()
    with SmtpSink(host, port, maildir):
        typer.echo(f"SMTP sink on {host}:{port}, delivering into {maildir / 'new'}")
        try:
            while True:
                signal.pause()
        except KeyboardInterrupt:
            pass


if __name__ == "__main__":
    typer.run(main)
