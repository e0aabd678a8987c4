"""Development SMTP sink: accepts every message and stores it in a Maildir.

Messages are kept exactly as received (after SMTP dot-unstuffing), byte for byte, in the
Maildir's `new/` folder, so tests and the dashboard see what the mailer really sent. Nothing is
added, not even the envelope: the headers are what a reader looks at.

Run it alone with `python -m devstack.smtp_sink --port 2525 --maildir .data/maildir`.
"""

from __future__ import annotations

import mailbox
import signal
from pathlib import Path
from types import TracebackType
from typing import Annotated, Self

import structlog
import typer
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, Envelope, Session

from devstack.ports import LOOPBACK
from devstack.shutdown import interrupt_on_signals

log = structlog.get_logger(__name__)


class MaildirHandler:
    """aiosmtpd handler that delivers every message into one Maildir."""

    def __init__(self, maildir: Path) -> None:
        # Maildir(create=True) skips tmp/new/cur when the folder already exists, empty or not.
        for sub in ("tmp", "new", "cur"):
            (Path(maildir) / sub).mkdir(parents=True, exist_ok=True)
        self.maildir = mailbox.Maildir(maildir, create=False)

    async def handle_DATA(  # noqa: N802 (the hook name aiosmtpd calls)
        self, server: SMTP, session: Session, envelope: Envelope
    ) -> str:
        # With decode_data=False the raw bytes are the one faithful copy of the message.
        content = envelope.original_content
        if content is None:
            return "554 Transaction failed: no message data"
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
        self._controller = Controller(
            MaildirHandler(maildir), hostname=host, port=port, decode_data=False
        )
        self._started = False

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
