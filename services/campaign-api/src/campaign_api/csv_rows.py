"""CSV parsed as it arrives: text in, (line number, record) out, one record at a time.

A record ends at a newline outside quotes, so a quoted field may hold newlines; nothing but the
current record is ever held. Pure: no I/O.
"""

from __future__ import annotations

import codecs
import csv
from collections.abc import AsyncIterable, AsyncIterator, Iterator

from campaign_api.domain import InvalidRecipient, Recipient, field_name, recipient

MAX_COLUMNS = 52
MAX_RECORD_CHARS = 64 * 1024


# What a file without even a header is told (every CSV the API takes needs an email column).
EMPTY_FILE = "empty: a header with an 'email' column is required"


class BadFile(ValueError):  # noqa: N818 - reads as what it is
    pass


async def records(chunks: AsyncIterable[bytes]) -> AsyncIterator[tuple[int, str]]:
    """The (first line's number, record) of a CSV arriving in chunks, one at a time."""
    splitter = RecordSplitter()
    async for chunk in chunks:
        for record in splitter.feed(chunk):
            yield record
    for record in splitter.finish():
        yield record


class RecordSplitter:
    """Feed bytes in chunks; take complete records out with their first line's number."""

    def __init__(self) -> None:
        self._decoder = codecs.getincrementaldecoder("utf-8-sig")(errors="replace")
        self._pending = ""  # the incomplete last physical line
        self._record: list[str] = []
        self._quotes = 0
        self._line = 0
        self._start = 1

    def feed(self, chunk: bytes) -> Iterator[tuple[int, str]]:
        text = self._pending + self._decoder.decode(chunk)
        lines = text.split("\n")
        self._pending = lines.pop()
        if len(self._pending) > MAX_RECORD_CHARS:
            raise BadFile(f"line {self._line + 1}: longer than {MAX_RECORD_CHARS} characters")
        for line in lines:
            yield from self._take(line + "\n")

    def finish(self) -> Iterator[tuple[int, str]]:
        tail = self._pending + self._decoder.decode(b"", final=True)
        self._pending = ""
        if tail:
            yield from self._take(tail)
        if self._record:  # an unclosed quote: what is left is one (broken) record
            yield self._start, "".join(self._record)
            self._record = []

    def _take(self, line: str) -> Iterator[tuple[int, str]]:
        self._line += 1
        if not self._record:
            self._start = self._line
        self._record.append(line)
        self._quotes += line.count('"')
        if sum(map(len, self._record)) > MAX_RECORD_CHARS:
            raise BadFile(f"line {self._start}: a record longer than {MAX_RECORD_CHARS} "
                          "characters (an unclosed quote?)")
        if self._quotes % 2 == 0:
            yield self._start, "".join(self._record)
            self._record, self._quotes = [], 0


def parse_record(record: str) -> list[str]:
    try:
        return next(csv.reader([record], strict=True), [])
    except csv.Error as exc:
        raise InvalidRecipient(f"row: {exc}") from exc


class RowReader:
    """The header names the columns: `email` (required), `name`, and any others as fields."""

    def __init__(self, header: list[str]) -> None:
        names = [field_name(h) for h in header]
        if "email" not in names:
            raise BadFile("line 1: the header needs an 'email' column")
        if len(names) > MAX_COLUMNS:
            raise BadFile(f"line 1: at most {MAX_COLUMNS} columns")
        if len(set(names)) != len(names):
            raise BadFile("line 1: column names repeat")
        self._names = names
        self._email = names.index("email")
        self._name = names.index("name") if "name" in names else None

    @property
    def fields(self) -> list[str]:
        """The columns that become merge fields."""
        return [n for i, n in enumerate(self._names) if i not in (self._email, self._name)]

    def recipient(self, values: list[str]) -> Recipient:
        if len(values) != len(self._names):
            raise InvalidRecipient(
                f"row: {len(values)} columns where the header has {len(self._names)}")
        fields = {n: v.strip() for i, (n, v) in enumerate(zip(self._names, values, strict=True))
                  if i not in (self._email, self._name) and v.strip()}
        name = values[self._name] if self._name is not None else ""
        return recipient(values[self._email], name, fields)
