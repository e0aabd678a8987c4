"""The development SMTP sink's Maildir, read for the outbox page.

Only present when `DEV_MAILDIR` is set (the development stack): it shows what the mailer really
sent, headers and parts as received.
"""

from __future__ import annotations

import mailbox
import re
from dataclasses import dataclass
from datetime import UTC, datetime
from email import message_from_bytes, policy
from email.message import EmailMessage
from email.parser import BytesHeaderParser
from email.utils import parsedate_to_datetime
from pathlib import Path

MAX_LISTED = 200
# Maildir keys are "<time>.<unique>.<host>"; anything else never names a message of ours.
_KEY = re.compile(r"^[A-Za-z0-9._-]{1,200}$")


@dataclass(frozen=True)
class Envelope:
    key: str
    subject: str
    to: str
    sender: str
    date: datetime | None


@dataclass(frozen=True)
class Message:
    envelope: Envelope
    html: str | None
    text: str | None
    headers: list[tuple[str, str]]


def _date(value: str | None) -> datetime | None:
    if not value:
        return None
    try:
        moment = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def _envelope(key: str, headers: EmailMessage | mailbox.Message) -> Envelope:
    return Envelope(key=key, subject=str(headers.get("Subject", "(no subject)")),
                    to=str(headers.get("To", "")), sender=str(headers.get("From", "")),
                    date=_date(headers.get("Date")))


def _box(maildir: Path) -> mailbox.Maildir | None:
    if not (maildir / "new").is_dir():
        return None
    return mailbox.Maildir(maildir, create=False)


def list_messages(maildir: Path, limit: int = MAX_LISTED) -> list[Envelope]:
    """The newest messages first, headers only."""
    box = _box(maildir)
    if box is None:
        return []
    parser = BytesHeaderParser(policy=policy.default)
    found = []
    for key in box.iterkeys():
        with box.get_file(key) as file:
            found.append(_envelope(key, parser.parse(file)))  # type: ignore[arg-type]
    oldest = datetime.min.replace(tzinfo=UTC)
    found.sort(key=lambda e: (e.date or oldest, e.key), reverse=True)
    return found[:limit]


def read_message(maildir: Path, key: str) -> Message | None:
    box = _box(maildir)
    if box is None or not _KEY.match(key):
        return None
    try:
        raw = box.get_bytes(key)
    except KeyError:
        return None
    msg = message_from_bytes(raw, policy=policy.default)
    assert isinstance(msg, EmailMessage)  # policy.default builds EmailMessage
    html = msg.get_body(preferencelist=("html",))
    text = msg.get_body(preferencelist=("plain",))
    return Message(
        envelope=_envelope(key, msg),
        html=html.get_content() if html is not None else None,
        text=text.get_content() if text is not None else None,
        headers=[(name, str(value)) for name, value in msg.items()],
    )
