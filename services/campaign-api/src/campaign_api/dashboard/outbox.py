"""The development SMTP sink's Maildir, read for the outbox page.

Only present when `DEV_MAILDIR` is set (the development stack): it shows what the mailer really
sent, headers and parts as received. A workspace sees only the mail of its own campaigns (the
List-Id names the campaign): the messages hold live unsubscribe and tracking links.
"""

from __future__ import annotations

import mailbox
import os
import re
import threading
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from email import message_from_bytes, policy
from email.message import EmailMessage
from email.parser import BytesHeaderParser
from email.utils import parsedate_to_datetime
from pathlib import Path

PAGE_SIZE = 50
# Maildir keys are "<time>.<unique>.<host>"; anything else never names a message of ours.
_KEY = re.compile(r"^[A-Za-z0-9._-]{1,200}$")
# The mailer's List-Id is "<campaign id>.<domain>" (RFC 2919), with an optional phrase before.
_LIST_ID = re.compile(r"<([0-9a-fA-F-]{36})\.[^>]*>\s*$")
_LIST_ID_LINE = re.compile(rb"^List-Id:(.*(?:\r?\n[ \t].*)*)", re.MULTILINE | re.IGNORECASE)
# Headers end at the first blank line; no header block of ours comes near this size.
_HEAD_BYTES = 64 * 1024


@dataclass(frozen=True)
class Envelope:
    key: str
    subject: str
    to: str
    sender: str
    date: datetime | None
    campaign_id: uuid.UUID | None = None
    received_ns: int = 0


@dataclass(frozen=True)
class Message:
    envelope: Envelope
    html: str | None
    text: str | None
    headers: list[tuple[str, str]]


@dataclass(frozen=True)
class Page:
    messages: list[Envelope]
    older: str | None  # the key to page on from, when there are older messages


def _date(value: str | None) -> datetime | None:
    if not value:
        return None
    try:
        moment = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def campaign_of(list_id: object) -> uuid.UUID | None:
    found = _LIST_ID.search(str(list_id or ""))
    if found is None:
        return None
    try:
        return uuid.UUID(found.group(1))
    except ValueError:
        return None


def _envelope(key: str, headers: EmailMessage | mailbox.Message,
              received_ns: int = 0) -> Envelope:
    return Envelope(key=key, subject=str(headers.get("Subject", "(no subject)")),
                    to=str(headers.get("To", "")), sender=str(headers.get("From", "")),
                    date=_date(headers.get("Date")),
                    campaign_id=campaign_of(headers.get("List-Id")), received_ns=received_ns)


def _box(maildir: Path) -> mailbox.Maildir | None:
    if not (maildir / "new").is_dir():
        return None
    return mailbox.Maildir(maildir, create=False)


@dataclass
class _Entry:
    key: str
    path: Path
    received_ns: int  # when the sink stored it (the file's mtime)
    campaign_id: uuid.UUID | None
    envelope: Envelope | None = None  # parsed when first shown


class OutboxIndex:
    """The messages of a Maildir, newest first, each file read once.

    A delivered Maildir file never changes (it is only renamed from new/ to cur/, keeping its
    key), so a key seen before needs no second look: a listing costs a directory scan plus the
    List-Id of what arrived since the last one; the full headers are parsed only for the
    messages a page shows, and kept.
    """

    def __init__(self, maildir: Path) -> None:
        self.maildir = maildir
        self._known: dict[str, _Entry] = {}
        self._newest_first: list[_Entry] = []
        self._position: dict[str, int] = {}
        self._lock = threading.Lock()  # listings run in worker threads

    def _scan(self) -> dict[str, Path]:
        found: dict[str, Path] = {}
        for sub in ("new", "cur"):
            try:
                entries = list(os.scandir(self.maildir / sub))
            except FileNotFoundError:
                continue
            for entry in entries:
                if not entry.name.startswith("."):
                    found[entry.name.split(":", 1)[0]] = Path(entry.path)  # ":2,S" flags
        return found

    @staticmethod
    def _head(path: Path) -> tuple[bytes, int] | None:
        """The header block and the file's mtime; None when the file moved meanwhile."""
        try:
            with path.open("rb") as file:
                received = os.fstat(file.fileno()).st_mtime_ns
                head = file.read(_HEAD_BYTES)
        except FileNotFoundError:  # moved to cur/: found there by the next scan
            return None
        end = min((i for i in (head.find(b"\r\n\r\n"), head.find(b"\n\n")) if i >= 0),
                  default=len(head))
        return head[:end + 2], received

    def _refresh(self) -> None:
        present = self._scan()
        changed = False
        for gone in self._known.keys() - present.keys():
            del self._known[gone]
            changed = True
        for key, path in present.items():
            entry = self._known.get(key)
            if entry is not None:
                entry.path = path
            elif (read := self._head(path)) is not None:
                head, received = read
                found = _LIST_ID_LINE.search(head)
                campaign = campaign_of(found.group(1).decode("ascii", "replace")) if found else None
                self._known[key] = _Entry(key, path, received, campaign)
                changed = True
        if changed:
            self._newest_first = sorted(self._known.values(),
                                        key=lambda e: (e.received_ns, e.key), reverse=True)
            self._position = {e.key: i for i, e in enumerate(self._newest_first)}

    def _envelope(self, entry: _Entry) -> Envelope:
        if entry.envelope is None:
            read = self._head(entry.path)
            headers = BytesHeaderParser(policy=policy.default).parsebytes(read[0] if read else b"")
            entry.envelope = _envelope(entry.key, headers, entry.received_ns)
        return entry.envelope

    def page(self, campaigns: set[uuid.UUID], before: str | None = None,
             limit: int = PAGE_SIZE) -> Page:
        """The newest `limit` messages of these campaigns, older than the message `before`
        (from the start when it is unknown)."""
        with self._lock:
            self._refresh()
            start = self._position.get(before, -1) + 1 if before else 0
            shown: list[_Entry] = []
            older = None
            for entry in self._newest_first[start:]:
                if entry.campaign_id in campaigns:
                    if len(shown) == limit:
                        older = shown[-1].key
                        break
                    shown.append(entry)
            return Page([self._envelope(e) for e in shown], older=older)


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
