"""One email of a campaign, rendered once and personalised per recipient. Pure: campaign,
content and recipient data in, RFC 5322 bytes out.

`EmailTemplate.prepare` does the expensive work once per (campaign, sequence): CSS inlining,
finding the links to track, the fixed headers and the MIME skeleton. `render` then only merges
the recipient's fields, signs their links and quoted-printable-encodes the two bodies, which
costs a fraction of building an `EmailMessage` per recipient.

Every header value that comes from campaign or recipient data is checked for line breaks, here
and in `mailer.mime` (which encodes the merge fields, the text parts and the header values): a
bad value fails the delivery with a clear reason instead of a broken or injected header.
"""

from __future__ import annotations

import hashlib
import html
import re
import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

import css_inline

from contracts.links import TRACKED_LINK
from mailer.domain import Content, CrlfMessage, InvalidMessage, Recipient, Sender, header_safe
from mailer.mime import (
    EncodedPart,
    Merge,
    date_header,
    header,
    looks_encoded,
    mailbox,
    merge_values,
    normalised_lines,
    smtp_address,
    subject_header,
    url_value,
)

_PREHEADER_STYLE = (
    "display:none;font-size:1px;line-height:1px;max-height:0;max-width:0;opacity:0;"
    "overflow:hidden;mso-hide:all"
)
_BODY_OPEN = re.compile(r"<body\b[^>]*>", re.IGNORECASE)
_BODY_CLOSE = re.compile(r"</body\s*>", re.IGNORECASE)
_STYLE_BLOCK = re.compile(r"<style\b", re.IGNORECASE)
_LIST_PHRASE_UNSAFE = re.compile(r'[^\x20-\x7e]|["\\]')
# Merge keys the renderer fills itself; a double underscore cannot clash with audience fields
# that mean something to people.
_UNSUBSCRIBE, _OPEN, _CLICK = "__unsubscribe", "__open", "__click_"
_PREFERENCES = "__preferences"
_TRAP = "__trap"
# A link no person sees or reaches (no content, hidden, out of the tab order and of screen
# readers): what follows it is a link scanner, and campaign-api labels that machine engagement.
_TRAP_LINK = (f'<a href="{{{{{_TRAP}}}}}" style="display:none" aria-hidden="true" '
              'tabindex="-1"></a>')


class Links(Protocol):
    """The recipient's tracked links (signed tokens under the public base URL)."""

    def unsubscribe(self) -> str: ...

    def open_pixel(self) -> str: ...

    def preferences(self) -> str: ...

    def click(self, url: str) -> str: ...

    def trap(self) -> str: ...


@dataclass(frozen=True)
class MessageMeta:
    """Per-recipient values the renderer does not decide itself."""

    message_id: str
    date: datetime
    links: Links


def list_id(campaign_id: uuid.UUID, campaign_name: str, domain: str) -> str:
    """RFC 2919 List-Id: one list per campaign. The name is kept only where it is plain ASCII
    and reads as no encoded word, because the phrase is a quoted string and must not hold
    encoded words (clients decode them even there)."""
    label = f"<{campaign_id}.{domain}>"
    name = campaign_name.strip()
    if not name or _LIST_PHRASE_UNSAFE.search(name) or looks_encoded(name):
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
            header("From", mailbox("from", sender.name, sender.address)),
        ]
        if sender.reply_to:
            headers.append(header("Reply-To", mailbox("reply-to", "", sender.reply_to)))
        headers.append(header("List-Id", header_safe("list-id", list_id)))
        if unsubscribe_mailto:
            header_safe("unsubscribe mailto", unsubscribe_mailto)
        body_html, targets = _tracked(_inlined(content.body_html))
        # The boundary starts with "=_", which quoted-printable never produces: it cannot
        # occur in either encoded body.
        digest = hashlib.sha256(
            "\0".join((content.subject, content.body_text, content.body_html)).encode()
        ).hexdigest()[:24]
        boundary = f"=_{digest}"
        body_text = normalised_lines(content.body_text).rstrip()
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
                boundary, "plain", f"{body_text}\n\n--\nUnsubscribe: {{{{{_UNSUBSCRIBE}}}}}\n"
                f"Preferences: {{{{{_PREFERENCES}}}}}\n"),
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
        values[_PREFERENCES] = links.preferences()
        body_text = self.body_text.fill(values)
        values[_OPEN] = links.open_pixel()
        values[_TRAP] = links.trap()
        for key, target in self.click_targets:
            # A field inside a link is part of a URL: percent-encoded, so it cannot add
            # parameters or change where the link leads.
            values[key] = links.click(target.fill(values, url_value))
        body_html = self.body_html.fill(values, as_html=True)

        list_unsubscribe = f"<{unsubscribe}>"
        if self.unsubscribe_mailto:
            list_unsubscribe += f", <mailto:{self.unsubscribe_mailto}?subject=unsubscribe>"
        parts = [
            self.fixed_headers,
            header("To", mailbox("to", recipient.name, recipient.email)),
            subject_header(subject),
            date_header(meta.date.replace(microsecond=0)),
            header("Message-ID", header_safe("message-id", meta.message_id)),
            header("List-Unsubscribe", list_unsubscribe),
            self.mime_headers,
            body_text,
            body_html,
            self.closing,
        ]
        return CrlfMessage(b"".join(parts))


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


def render_transactional(
    sender: Sender, recipient: Recipient, content: Content, *, message_id: str, date: datetime
) -> CrlfMessage:
    """A message sent outside any campaign (a sign-up's confirmation): the bodies as given,
    merge fields filled, with no tracked link, open pixel, List-Id or List-Unsubscribe, since
    it is not list mail and what it links to must work as written. InvalidMessage when it
    cannot be built safely."""
    values = merge_values(recipient)
    subject = header_safe("subject", Merge.compile(content.subject).fill(values))
    digest = hashlib.sha256(
        "\0".join((content.subject, content.body_text, content.body_html)).encode()
    ).hexdigest()[:24]
    boundary = f"=_{digest}"  # "=_" never occurs in quoted-printable: not in either body
    text = normalised_lines(content.body_text).rstrip() + "\n"
    parts = [
        header("From", mailbox("from", sender.name, sender.address)),
        header("To", mailbox("to", recipient.name, recipient.email)),
        subject_header(subject),
        date_header(date.replace(microsecond=0)),
        header("Message-ID", header_safe("message-id", message_id)),
        b"MIME-Version: 1.0\r\n",
        f'Content-Type: multipart/alternative; boundary="{boundary}"\r\n\r\n'.encode(),
        EncodedPart.compile(boundary, "plain", text).fill(values),
        EncodedPart.compile(boundary, "html", _inlined(content.body_html)).fill(
            values, as_html=True),
        f"--{boundary}--\r\n".encode(),
    ]
    return CrlfMessage(b"".join(parts))


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

    return TRACKED_LINK.sub(placeholder, body), tuple(targets)


def _html_with_extras(body: str, preheader: str) -> str:
    """The preheader as the first, hidden element (inbox previews show it after the subject),
    the trap link, a visible unsubscribe link, as Gmail and CAN-SPAM ask, beside the preference
    centre's, and the open pixel at the end."""
    hidden = f'<div style="{_PREHEADER_STYLE}" aria-hidden="true">{preheader}</div>'
    footer = (
        _TRAP_LINK +
        '<p style="font-size:12px;color:#666666;margin-top:24px">'
        f'<a href="{{{{{_PREFERENCES}}}}}">Manage preferences</a> &middot; '
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
