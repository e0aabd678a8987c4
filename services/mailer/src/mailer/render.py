"""One email of a campaign, rendered once and personalised per recipient. Pure: campaign,
content and recipient data in, RFC 5322 bytes out.

`EmailTemplate.prepare` does the expensive work once per (campaign, sequence): CSS inlining,
finding the links to track, the fixed headers and the MIME skeleton. `render` then only merges
the recipient's fields, signs their links and quoted-printable-encodes the two bodies, which
costs a fraction of building an `EmailMessage` per recipient.

Every header value that comes from campaign or recipient data is checked for line breaks here:
a bad value fails the delivery with a clear reason instead of a broken or injected header.
"""

from __future__ import annotations

import binascii
import hashlib
import html
import re
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from email.header import Header
from email.utils import format_datetime, formataddr
from functools import lru_cache
from typing import Protocol
from urllib.parse import quote

import css_inline

from mailer.domain import Content, CrlfMessage, InvalidMessage, Recipient, Sender, header_safe

MERGE_FIELD = re.compile(r"\{\{\s*([A-Za-z_][A-Za-z0-9_]*)\s*\}\}")
# What "Hi {{first_name}}," says when the audience has no name for someone.
FALLBACK_NAME = "there"

_PREHEADER_STYLE = (
    "display:none;font-size:1px;line-height:1px;max-height:0;max-width:0;opacity:0;"
    "overflow:hidden;mso-hide:all"
)
_BODY_OPEN = re.compile(r"<body\b[^>]*>", re.IGNORECASE)
_BODY_CLOSE = re.compile(r"</body\s*>", re.IGNORECASE)
_STYLE_BLOCK = re.compile(r"<style\b", re.IGNORECASE)
_TRACKED_LINK = re.compile(r"""(\bhref\s*=\s*)(["'])(https?://[^"'<>\s]+)\2""", re.IGNORECASE)
_NOT_IN_ADDRESS = re.compile(r'[ <>(),;:"\[\]\\]')
_LIST_PHRASE_UNSAFE = re.compile(r'[^\x20-\x7e]|["\\]')
# Merge keys the renderer fills itself; a double underscore cannot clash with audience fields
# that mean something to people.
_UNSUBSCRIBE, _OPEN, _CLICK = "__unsubscribe", "__open", "__click_"
_CRLF = b"\r\n"
_QP_LINE = 76  # RFC 2045: encoded lines at most this long, a soft line break's "=" included
# Bytes quoted-printable keeps as they are (printable ASCII but "=" and space), and those of
# them HTML also reads literally.
_QP_PLAIN = bytes(c for c in range(0x21, 0x7F) if c != ord("="))
_HTML_QP_PLAIN = _QP_PLAIN.translate(None, b"\"&'<>")
_QP_LINES = re.compile(rb".{1,%d}" % (_QP_LINE - 1))
# "Subject: " and this many characters fit the 78 a header line should keep to.
_PLAIN_SUBJECT = 78 - len("Subject: ")


class Links(Protocol):
    """The recipient's tracked links (signed tokens under the public base URL)."""

    def unsubscribe(self) -> str: ...

    def open_pixel(self) -> str: ...

    def click(self, url: str) -> str: ...


@dataclass(frozen=True)
class MessageMeta:
    """Per-recipient values the renderer does not decide itself."""

    message_id: str
    date: datetime
    links: Links


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


def list_id(campaign_id: uuid.UUID, campaign_name: str, domain: str) -> str:
    """RFC 2919 List-Id: one list per campaign. The name is kept only where it is plain ASCII
    and reads as no encoded word, because the phrase is a quoted string and must not hold
    encoded words (clients decode them even there)."""
    label = f"<{campaign_id}.{domain}>"
    name = campaign_name.strip()
    if not name or _LIST_PHRASE_UNSAFE.search(name) or _looks_encoded(name):
        return label
    return f'"{name}" {label}'


@dataclass(frozen=True)
class EmailTemplate:
    """The parts of one email that are the same for every recipient."""

    fixed_headers: bytes  # From, Reply-To, List-Id
    subject: Merge
    body_text: EncodedPart
    body_html: EncodedPart  # CSS inlined, tracked links, footer and pixel as merge fields
    click_targets: tuple[tuple[str, Merge], ...]  # the merge field each link's URL fills
    unsubscribe_mailto: str | None
    mime_headers: bytes  # the headers after List-Unsubscribe, and the blank line
    closing: bytes  # the closing boundary
    envelope_sender: str  # the From address as MAIL FROM carries it

    @classmethod
    def prepare(
        cls,
        sender: Sender,
        content: Content,
        *,
        list_id: str,
        unsubscribe_mailto: str | None = None,
    ) -> EmailTemplate:
        """InvalidMessage when the campaign's own data cannot make a safe message."""
        headers = [
            _header("From", _mailbox("from", sender.name, sender.address)),
        ]
        if sender.reply_to:
            headers.append(_header("Reply-To", _mailbox("reply-to", "", sender.reply_to)))
        headers.append(_header("List-Id", header_safe("list-id", list_id)))
        if unsubscribe_mailto:
            header_safe("unsubscribe mailto", unsubscribe_mailto)
        body_html, targets = _tracked(_inlined(content.body_html))
        # The boundary starts with "=_", which quoted-printable never produces: it cannot
        # occur in either encoded body.
        digest = hashlib.sha256(
            "\0".join((content.subject, content.body_text, content.body_html)).encode()
        ).hexdigest()[:24]
        boundary = f"=_{digest}"
        body_text = _normalised_lines(content.body_text).rstrip()
        mime_headers = b"".join((
            # RFC 8058: one-click unsubscribe by POST, without cookies or a confirmation page.
            b"List-Unsubscribe-Post: List-Unsubscribe=One-Click\r\n",
            b"MIME-Version: 1.0\r\n",
            f'Content-Type: multipart/alternative; boundary="{boundary}"\r\n\r\n'.encode(),
        ))
        return cls(
            fixed_headers=b"".join(headers),
            subject=Merge.compile(content.subject),
            body_text=EncodedPart.compile(
                boundary, "plain", f"{body_text}\n\n--\nUnsubscribe: {{{{{_UNSUBSCRIBE}}}}}\n"),
            body_html=EncodedPart.compile(
                boundary, "html", _html_with_extras(body_html, content.preheader)),
            click_targets=tuple(
                (f"{_CLICK}{index}", Merge.compile(t)) for index, t in enumerate(targets)),
            unsubscribe_mailto=unsubscribe_mailto,
            mime_headers=mime_headers,
            closing=f"--{boundary}--\r\n".encode(),
            envelope_sender=smtp_address(sender.address, "from"),
        )

    def render(self, recipient: Recipient, meta: MessageMeta) -> CrlfMessage:
        """The message as it goes over SMTP (CRLF line ends only: every header value is
        checked for line breaks, both bodies are quoted-printable); InvalidMessage when it
        cannot be built safely for this recipient."""
        values = merge_values(recipient)
        links = meta.links
        unsubscribe = header_safe("unsubscribe url", links.unsubscribe())
        subject = header_safe("subject", self.subject.fill(values))
        values[_UNSUBSCRIBE] = unsubscribe
        body_text = self.body_text.fill(values)
        values[_OPEN] = links.open_pixel()
        for key, target in self.click_targets:
            # A field inside a link is part of a URL: percent-encoded, so it cannot add
            # parameters or change where the link leads.
            values[key] = links.click(target.fill(values, _url_value))
        body_html = self.body_html.fill(values, as_html=True)

        list_unsubscribe = f"<{unsubscribe}>"
        if self.unsubscribe_mailto:
            list_unsubscribe += f", <mailto:{self.unsubscribe_mailto}?subject=unsubscribe>"
        parts = [
            self.fixed_headers,
            _header("To", _mailbox("to", recipient.name, recipient.email)),
            _subject_header(subject),
            _date_header(meta.date.replace(microsecond=0)),
            _header("Message-ID", header_safe("message-id", meta.message_id)),
            _header("List-Unsubscribe", list_unsubscribe),
            self.mime_headers,
            body_text,
            body_html,
            self.closing,
        ]
        return CrlfMessage(b"".join(parts))


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


def render_message(
    sender: Sender,
    recipient: Recipient,
    content: Content,
    meta: MessageMeta,
    *,
    list_id: str,
    unsubscribe_mailto: str | None = None,
) -> CrlfMessage:
    """One message on its own: prepare and render in one go."""
    template = EmailTemplate.prepare(sender, content, list_id=list_id,
                                     unsubscribe_mailto=unsubscribe_mailto)
    return template.render(recipient, meta)


def smtp_address(address: str, role: str = "to") -> str:
    """The address as SMTP and the headers carry it: ASCII, the domain in IDNA form."""
    local, domain = _ascii_parts(role, address)
    return f"{local}@{domain}"


def _header(name: str, value: str) -> bytes:
    return f"{name}: {value}\r\n".encode("ascii")


def _subject_header(subject: str) -> bytes:
    if subject.isascii() and len(subject) <= _PLAIN_SUBJECT and not _looks_encoded(subject):
        # What Header would make of it: short plain ASCII needs neither folding nor encoding.
        return f"Subject: {subject}\r\n".encode("ascii")
    # Plain ASCII is only folded, unless it holds what reads as an encoded word: then it is
    # encoded itself, so that clients show "=?utf-8?q?...?=" as written instead of decoding
    # it into whatever it says (line breaks and a Bcc header among them).
    charset = "us-ascii" if subject.isascii() and not _looks_encoded(subject) else "utf-8"
    folded = Header(subject, charset, header_name="Subject").encode(linesep="\r\n")
    return f"Subject: {folded}\r\n".encode("ascii")


def _looks_encoded(text: str) -> bool:
    """Whether a mail client could read part of `text` as an RFC 2047 encoded word."""
    return "=?" in text


@lru_cache(maxsize=8)
def _date_header(at: datetime) -> bytes:
    return _header("Date", format_datetime(at))


def _mailbox(role: str, name: str, address: str) -> str:
    header_safe(f"{role} name", name)
    local, domain = _ascii_parts(role, address)
    name = name.strip()
    if _looks_encoded(name):
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
    encoded = binascii.b2a_qp(_normalised_lines(text).encode("utf-8"))
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


def _url_value(value: str) -> str:
    return quote(value, safe="")


def _normalised_lines(text: str) -> str:
    return text.replace("\r\n", "\n").replace("\r", "\n")


def _inlined(body: str) -> str:
    """`<style>` rules moved into style attributes: many webmail clients drop style blocks.
    HTML without one is left exactly as written."""
    if not _STYLE_BLOCK.search(body):
        return body
    try:
        return str(css_inline.inline(body))
    except ValueError as exc:  # css_inline's InlineError is a ValueError
        raise InvalidMessage(f"CSS could not be inlined: {exc}") from exc


def _tracked(body: str) -> tuple[str, tuple[str, ...]]:
    """Every http(s) link replaced by a placeholder for the recipient's click link."""
    targets: list[str] = []

    def placeholder(match: re.Match[str]) -> str:
        targets.append(html.unescape(match.group(3)))
        return f"{match.group(1)}{match.group(2)}{{{{{_CLICK}{len(targets) - 1}}}}}{match.group(2)}"

    return _TRACKED_LINK.sub(placeholder, body), tuple(targets)


def _html_with_extras(body: str, preheader: str) -> str:
    """The preheader as the first, hidden element (inbox previews show it after the subject),
    a visible unsubscribe link, as Gmail and CAN-SPAM ask, and the open pixel at the end."""
    hidden = f'<div style="{_PREHEADER_STYLE}" aria-hidden="true">{preheader}</div>'
    footer = (
        '<p style="font-size:12px;color:#666666;margin-top:24px">'
        f'<a href="{{{{{_UNSUBSCRIBE}}}}}">Unsubscribe</a></p>'
        f'<img src="{{{{{_OPEN}}}}}" width="1" height="1" alt="" style="display:block;border:0">'
    )
    if preheader:
        opened = _BODY_OPEN.search(body)
        at = opened.end() if opened else 0
        body = body[:at] + hidden + body[at:]
    closings = list(_BODY_CLOSE.finditer(body))
    at = closings[-1].start() if closings else len(body)
    return body[:at] + footer + body[at:]
