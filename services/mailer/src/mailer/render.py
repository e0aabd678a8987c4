"""One recipient's message: merge fields, text + HTML alternatives and the headers inbox
providers require. Pure: campaign and recipient data in, RFC 5322 bytes out.

Every header value that comes from campaign or recipient data is checked for line breaks here,
before the `email` package sees it: a bad value fails the delivery with a clear reason instead
of a broken or injected header.
"""

from __future__ import annotations

import html
import re
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from email import errors as email_errors
from email.headerregistry import Address
from email.message import EmailMessage
from email.policy import SMTP
from email.utils import format_datetime

from mailer.domain import Content, InvalidMessage, Recipient, Sender, header_safe

MERGE_FIELD = re.compile(r"\{\{\s*([A-Za-z_][A-Za-z0-9_]*)\s*\}\}")
# What "Hi {{first_name}}," says when the audience has no name for someone.
FALLBACK_NAME = "there"

_PREHEADER_STYLE = (
    "display:none;font-size:1px;line-height:1px;max-height:0;max-width:0;opacity:0;"
    "overflow:hidden;mso-hide:all"
)
_BODY_OPEN = re.compile(r"<body\b[^>]*>", re.IGNORECASE)
_BODY_CLOSE = re.compile(r"</body\s*>", re.IGNORECASE)
_LIST_PHRASE_UNSAFE = re.compile(r'[^\x20-\x7e]|["\\]')


@dataclass(frozen=True)
class MessageMeta:
    """Per-message values the renderer does not decide itself."""

    message_id: str
    date: datetime
    list_id: str
    unsubscribe_url: str


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
    return MERGE_FIELD.sub(lambda m: escape(values.get(m.group(1).lower(), "")), template)


def list_id(campaign_id: uuid.UUID, campaign_name: str, domain: str) -> str:
    """RFC 2919 List-Id: one list per campaign. The name is kept only where it is plain ASCII,
    because the phrase is a quoted string and must not hold encoded words."""
    label = f"<{campaign_id}.{domain}>"
    name = campaign_name.strip()
    if not name or _LIST_PHRASE_UNSAFE.search(name):
        return label
    return f'"{name}" {label}'


def render_message(
    sender: Sender, recipient: Recipient, content: Content, meta: MessageMeta
) -> bytes:
    """The message as it goes over SMTP (CRLF line ends); InvalidMessage when it cannot be
    built safely."""
    values = merge_values(recipient)
    subject = header_safe("subject", merge(content.subject, values))
    preheader = merge(content.preheader, values, html.escape)
    body_text = merge(content.body_text, values)
    body_html = merge(content.body_html, values, html.escape)

    msg = EmailMessage(policy=SMTP)
    try:
        msg["From"] = _mailbox("from", sender.name, sender.address)
        msg["To"] = _mailbox("to", recipient.name, recipient.email)
        if sender.reply_to:
            msg["Reply-To"] = _mailbox("reply-to", "", sender.reply_to)
        msg["Subject"] = subject
        msg["Date"] = format_datetime(meta.date)
        msg["Message-ID"] = header_safe("message-id", meta.message_id)
        msg["List-Id"] = header_safe("list-id", meta.list_id)
        msg["List-Unsubscribe"] = f"<{header_safe('unsubscribe url', meta.unsubscribe_url)}>"
        # RFC 8058: one-click unsubscribe by POST, without cookies or a confirmation page.
        msg["List-Unsubscribe-Post"] = "List-Unsubscribe=One-Click"
        msg.set_content(_text_with_footer(body_text, meta.unsubscribe_url))
        msg.add_alternative(
            _html_with_extras(body_html, preheader, meta.unsubscribe_url), subtype="html"
        )
        return msg.as_bytes()
    except (ValueError, email_errors.MessageError) as exc:
        if isinstance(exc, InvalidMessage):
            raise
        raise InvalidMessage(f"message could not be built: {exc}") from exc


def smtp_address(address: str, role: str = "to") -> str:
    """The address as SMTP and the headers carry it: ASCII, the domain in IDNA form."""
    local, domain = _ascii_parts(role, address)
    return f"{local}@{domain}"


def _mailbox(role: str, name: str, address: str) -> Address:
    header_safe(f"{role} name", name)
    local, domain = _ascii_parts(role, address)
    return Address(display_name=name.strip(), username=local, domain=domain)


def _ascii_parts(role: str, address: str) -> tuple[str, str]:
    header_safe(f"{role} address", address)
    local, _, domain = address.rpartition("@")
    if not local or not domain:
        raise InvalidMessage(f"{role} address: {address!r} is not local@domain")
    if not local.isascii():
        # Would need SMTPUTF8 end to end; refused rather than sent mangled.
        raise InvalidMessage(f"{role} address: non-ASCII local part in {address!r}")
    try:
        return local, domain.encode("idna").decode("ascii")
    except UnicodeError as exc:
        raise InvalidMessage(f"{role} address: invalid domain in {address!r}") from exc


def _text_with_footer(body: str, unsubscribe_url: str) -> str:
    return f"{body.rstrip()}\n\n--\nUnsubscribe: {unsubscribe_url}\n"


def _html_with_extras(body: str, preheader: str, unsubscribe_url: str) -> str:
    """The preheader as the first, hidden element (inbox previews show it after the subject)
    and a visible unsubscribe link at the end, as Gmail and CAN-SPAM ask."""
    hidden = f'<div style="{_PREHEADER_STYLE}" aria-hidden="true">{preheader}</div>'
    link = html.escape(unsubscribe_url, quote=True)
    footer = (
        '<p style="font-size:12px;color:#666666;margin-top:24px">'
        f'<a href="{link}">Unsubscribe</a></p>'
    )
    if preheader:
        opened = _BODY_OPEN.search(body)
        at = opened.end() if opened else 0
        body = body[:at] + hidden + body[at:]
    closings = list(_BODY_CLOSE.finditer(body))
    at = closings[-1].start() if closings else len(body)
    return body[:at] + footer + body[at:]
