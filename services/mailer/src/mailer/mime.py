"""The pieces of a message as RFC 5322 and MIME want them: merge fields filled per
recipient, text parts quoted-printable encoded once and filled per recipient, and header
values and addresses encoded so that none can break a header or read as another."""

from __future__ import annotations

import binascii
import html
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from email.header import Header
from email.utils import format_datetime, formataddr
from functools import lru_cache
from urllib.parse import quote

from mailer.domain import InvalidMessage, Recipient, header_safe

MERGE_FIELD = re.compile(r"\{\{\s*([A-Za-z_][A-Za-z0-9_]*)\s*\}\}")
# What "Hi {{first_name}}," says when the audience has no name for someone.
FALLBACK_NAME = "there"

_NOT_IN_ADDRESS = re.compile(r'[ <>(),;:"\[\]\\]')
_CRLF = b"\r\n"
_QP_LINE = 76  # RFC 2045: encoded lines at most this long, a soft line break's "=" included
# Bytes quoted-printable keeps as they are (printable ASCII but "=" and space), and those of
# them HTML also reads literally.
_QP_PLAIN = bytes(c for c in range(0x21, 0x7F) if c != ord("="))
_HTML_QP_PLAIN = _QP_PLAIN.translate(None, b"\"&'<>")
_QP_LINES = re.compile(rb".{1,%d}" % (_QP_LINE - 1))
# "Subject: " and this many characters fit the 78 a header line should keep to.
_PLAIN_SUBJECT = 78 - len("Subject: ")


def merge_values(recipient: Recipient) -> dict[str, str]:
    """The recipient's own fields, then first_name, name and email (always defined)."""
    name = recipient.name.strip()
    first = recipient.fields.get("first_name", "").strip() or (name.split()[0] if name else "")
    values = {key.lower(): value for key, value in recipient.fields.items()}
    values |= {
        "first_name": first or FALLBACK_NAME,
        "name": name or FALLBACK_NAME,
        "email": recipient.email,
    }
    return values


def merge(
    template: str, values: Mapping[str, str], escape: Callable[[str], str] = str
) -> str:
    """Replace `{{field}}`; a field the recipient does not have becomes empty, never raw braces."""
    return Merge.compile(template).fill(values, escape)


@dataclass(frozen=True)
class Merge:
    """A template split once at its merge fields, so that filling it per recipient is a join
    instead of a scan of the whole text."""

    pieces: tuple[str, ...]  # literal, field, literal, field, ..., literal

    @classmethod
    def compile(cls, template: str) -> Merge:
        pieces = MERGE_FIELD.split(template)
        return cls(tuple(p.lower() if i % 2 else p for i, p in enumerate(pieces)))

    def fill(self, values: Mapping[str, str], escape: Callable[[str], str] = str) -> str:
        pieces = list(self.pieces)
        for i in range(1, len(pieces), 2):
            pieces[i] = escape(values.get(pieces[i], ""))
        return "".join(pieces)


@dataclass(frozen=True)
class EncodedPart:
    """A text part with its literal text quoted-printable encoded once, so that per recipient
    only the merged values are encoded and the pieces joined.

    Every piece but the last ends in a line break or a soft line break ("=" at the end of a
    line, which decoders drop): each piece starts a line of its own, so no encoded line runs
    over 76 characters however the pieces are joined, and the decoded part is exactly the
    merged text.
    """

    head: bytes  # the boundary and the part's headers
    pieces: tuple[bytes | str, ...]  # an encoded literal, or the name of a merge field
    tail: bytes  # the encoded last literal, ending in CRLF

    @classmethod
    def compile(cls, boundary: str, subtype: str, template: str) -> EncodedPart:
        head = b"".join((
            f"--{boundary}\r\n".encode(),
            f'Content-Type: text/{subtype}; charset="utf-8"\r\n'.encode(),
            b"Content-Transfer-Encoding: quoted-printable\r\n\r\n",
        ))
        *pieces, last = Merge.compile(template).pieces
        encoded = tuple(p if i % 2 else _quoted_printable(p) for i, p in enumerate(pieces))
        tail = _quoted_printable(last, soft_break=False)
        if not tail.endswith(_CRLF):
            tail += _CRLF
        return cls(head, tuple(p for p in encoded if p), tail)

    def fill(self, values: Mapping[str, str], *, as_html: bool = False) -> bytes:
        """The part with `values` merged, HTML-escaped first when `as_html`."""
        encode = _quoted_printable_html if as_html else _quoted_printable
        out = [self.head]
        for piece in self.pieces:
            out.append(piece if isinstance(piece, bytes) else encode(values.get(piece, "")))
        out.append(self.tail)
        return b"".join(out)


def smtp_address(address: str, role: str = "to") -> str:
    """The address as SMTP and the headers carry it: ASCII, the domain in IDNA form."""
    local, domain = _ascii_parts(role, address)
    return f"{local}@{domain}"


def header(name: str, value: str) -> bytes:
    return f"{name}: {value}\r\n".encode("ascii")


def subject_header(subject: str) -> bytes:
    if subject.isascii() and len(subject) <= _PLAIN_SUBJECT and not looks_encoded(subject):
        # What Header would make of it: short plain ASCII needs neither folding nor encoding.
        return f"Subject: {subject}\r\n".encode("ascii")
    # Plain ASCII is only folded, unless it holds what reads as an encoded word: then it is
    # encoded itself, so that clients show "=?utf-8?q?...?=" as written instead of decoding
    # it into whatever it says (line breaks and a Bcc header among them).
    charset = "us-ascii" if subject.isascii() and not looks_encoded(subject) else "utf-8"
    folded = Header(subject, charset, header_name="Subject").encode(linesep="\r\n")
    return f"Subject: {folded}\r\n".encode("ascii")


def looks_encoded(text: str) -> bool:
    """Whether a mail client could read part of `text` as an RFC 2047 encoded word."""
    return "=?" in text


@lru_cache(maxsize=8)
def date_header(at: datetime) -> bytes:
    return header("Date", format_datetime(at))


def mailbox(role: str, name: str, address: str) -> str:
    header_safe(f"{role} name", name)
    local, domain = _ascii_parts(role, address)
    name = name.strip()
    if looks_encoded(name):
        # Clients decode encoded words even inside a quoted name: encode the name itself.
        phrase = Header(name, "utf-8").encode(linesep="\r\n")
        return f"{phrase} <{local}@{domain}>"
    # formataddr quotes specials and encodes a non-ASCII name as an RFC 2047 encoded word.
    return formataddr((name, f"{local}@{domain}"), charset="utf-8")


def _ascii_parts(role: str, address: str) -> tuple[str, str]:
    header_safe(f"{role} address", address)
    local, _, domain = address.rpartition("@")
    if not local or not domain or _NOT_IN_ADDRESS.search(address):
        raise InvalidMessage(f"{role} address: {address!r} is not local@domain")
    if not local.isascii():
        # Would need SMTPUTF8 end to end; refused rather than sent mangled.
        raise InvalidMessage(f"{role} address: non-ASCII local part in {address!r}")
    try:
        return local, _idna(domain)
    except UnicodeError as exc:
        raise InvalidMessage(f"{role} address: invalid domain in {address!r}") from exc


@lru_cache(maxsize=4096)
def _idna(domain: str) -> str:
    """Cached: most recipients share a few domains."""
    return domain.encode("idna").decode("ascii")


def _quoted_printable(text: str, *, soft_break: bool = True) -> bytes:
    """`text` quoted-printable encoded with CRLF line ends; with `soft_break`, ending in a line
    break so the next piece starts a line (empty text stays empty)."""
    if not text:
        return b""
    if soft_break and (plain := _plain_lines(text, _QP_PLAIN)) is not None:
        return plain
    # b2a_qp keeps "\n" as the line break it finds; SMTP wants CRLF, and a bare CR in the
    # source would otherwise survive as one.
    encoded = binascii.b2a_qp(normalised_lines(text).encode("utf-8"))
    if soft_break and not encoded.endswith(b"\n"):
        head, newline, last = encoded.rpartition(b"\n")
        if len(last) >= _QP_LINE:
            # Appending "=" would make the line too long: break it a little earlier, never
            # inside an "=XX" escape.
            cut = len(last) - 3
            while b"=" in last[cut - 2:cut]:
                cut -= 1
            last = last[:cut] + b"=\n" + last[cut:]
        encoded = head + newline + last + b"=\n"
    return encoded.replace(b"\n", _CRLF)


def _quoted_printable_html(text: str) -> bytes:
    """`text` HTML-escaped, then as `_quoted_printable` encodes it."""
    plain = _plain_lines(text, _HTML_QP_PLAIN)
    return plain if plain is not None else _quoted_printable(html.escape(text))


def _plain_lines(text: str, plain: bytes) -> bytes | None:
    """Non-empty `text` of `plain` bytes only (a link, mostly) stands for itself: cut into
    lines with soft line breaks. None for any other text."""
    if not text or not text.isascii():
        return None
    data = text.encode("ascii")
    if data.translate(None, plain):
        return None
    return b"=\r\n".join(_QP_LINES.findall(data)) + b"=\r\n"


def url_value(value: str) -> str:
    return quote(value, safe="")


def normalised_lines(text: str) -> str:
    return text.replace("\r\n", "\n").replace("\r", "\n")
