"""What the SMTP sink received, counted per recipient: lost, duplicated and unexpected.

Every scenario mails its own recipients, `<n>@<scenario>.chaos.example`, one email each, so a
message belongs to the scenario of its recipient's domain. For one recipient, a second copy with
the same Message-ID is a duplicate (the crash window: sent again after a lost outcome); a
message with another Message-ID, or to an address no scenario mailed, is unexpected.
"""

from __future__ import annotations

import os
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from email import policy
from email.parser import BytesHeaderParser
from email.utils import getaddresses
from pathlib import Path

DOMAIN = "chaos.example"


def scenario_domain(slug: str) -> str:
    return f"{slug}.{DOMAIN}"


def recipients(slug: str, count: int) -> list[str]:
    return [f"r{i}@{scenario_domain(slug)}" for i in range(count)]


@dataclass(frozen=True)
class Received:
    recipient: str  # the To address, lower-cased
    message_id: str
    at: float  # when the sink stored it (the file's mtime, seconds since the epoch)

    @property
    def domain(self) -> str:
        return self.recipient.rpartition("@")[2]


@dataclass(frozen=True)
class Tally:
    expected: int
    received: int
    lost: int
    duplicated: int
    unexpected: int
    last_delivery: float | None  # the latest `at` among the messages counted
    # For each duplicate, when its recipient's first copy came: the send whose outcome was lost.
    first_copies: tuple[float, ...] = ()
    # When each message counted came, in order.
    arrivals: tuple[float, ...] = ()

    def longest_pause_after(self, moment: float) -> float | None:
        """The longest wait, from `moment` on, for the next message: from `moment` to the first
        one after it, then between one and the next. None when nothing came after `moment`.
        Mail that keeps flowing makes short pauses however much of it there is; a claim left to
        its lease shows as a pause once the rest is out."""
        after = [at for at in self.arrivals if at > moment]
        if not after:
            return None
        return max(b - a for a, b in zip([moment, *after], after, strict=False))


def tally(expected: Iterable[str], received: Iterable[Received]) -> Tally:
    """Count `received` (the messages of one scenario) against the addresses it mailed."""
    wanted = set(expected)
    per_recipient: dict[str, list[Received]] = defaultdict(list)
    for message in received:
        per_recipient[message.recipient].append(message)
    unexpected = 0
    first_copies: list[float] = []
    for recipient, messages in per_recipient.items():
        if recipient not in wanted:
            unexpected += len(messages)
            continue
        by_id: dict[str, list[float]] = defaultdict(list)
        for m in messages:
            by_id[m.message_id].append(m.at)
        unexpected += len(by_id) - 1
        for stamps in by_id.values():
            first_copies += [min(stamps)] * (len(stamps) - 1)
    stamps = [m.at for messages in per_recipient.values() for m in messages]
    return Tally(
        expected=len(wanted),
        received=len(stamps),
        lost=len(wanted - per_recipient.keys()),
        duplicated=len(first_copies),
        unexpected=unexpected,
        last_delivery=max(stamps, default=None),
        first_copies=tuple(sorted(first_copies)),
        arrivals=tuple(sorted(stamps)),
    )


class SinkReader:
    """Reads the sink's Maildir `new/` folder, parsing each message's headers once."""

    def __init__(self, maildir: Path) -> None:
        self._new = maildir / "new"
        self._parser = BytesHeaderParser(policy=policy.default)
        self._seen: dict[str, Received] = {}

    def count(self) -> int:
        """Messages stored so far, cheaply (no parsing)."""
        return len(os.listdir(self._new))

    def read(self) -> list[Received]:
        for name in os.listdir(self._new):
            if name not in self._seen:
                self._seen[name] = self._parse(self._new / name)
        return list(self._seen.values())

    def of(self, domain: str) -> list[Received]:
        return [m for m in self.read() if m.domain == domain]

    def _parse(self, path: Path) -> Received:
        raw = path.read_bytes()
        headers = self._parser.parsebytes(raw.split(b"\r\n\r\n", 1)[0])
        addresses = getaddresses([str(v) for v in headers.get_all("To", [])])
        recipient = addresses[0][1].lower() if addresses else ""
        return Received(recipient, str(headers.get("Message-ID", "")).strip(),
                        path.stat().st_mtime)
