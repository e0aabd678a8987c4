"""What a model answers, turned into an email we are willing to send: parsed tolerantly,
validated strictly, HTML sanitised by allow-list. Pure, no I/O."""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from typing import Any

import nh3

from content_generator.domain import EmailContent
from content_generator.plaintext import html_to_text, text_to_html

# The merge fields the mailer fills in per recipient; any other {{...}} or {%...%} is removed,
# so a model cannot leave placeholders (or template code) for the renderer to trip on.
MERGE_FIELDS = frozenset({"first_name", "name", "email"})

MAX_SUBJECT = 150
MAX_PREHEADER = 200
MAX_HTML = 100_000
MAX_TEXT = 50_000

# C0 controls but tab and newlines, and DEL: invisible in mail, and PostgreSQL refuses NUL.
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
_TEMPLATE_TAG = re.compile(r"\{\{\s*([^{}]*?)\s*\}\}|\{%.*?%\}", re.DOTALL)
_WHITESPACE = re.compile(r"\s+")
_FENCE = re.compile(r"```(?:json|JSON)?\s*(.*?)```", re.DOTALL)

_SANITISER = nh3.Cleaner(
    tags={
        "p", "br", "h1", "h2", "h3", "ul", "ol", "li", "strong", "em", "b", "i", "a",
        "blockquote", "hr", "span", "div", "table", "thead", "tbody", "tr", "td", "th",
    },
    # Removed with their content, not just unwrapped.
    clean_content_tags={"script", "style", "title"},
    attributes={
        "a": {"href", "title"},
        "table": {"width", "border", "cellpadding", "cellspacing"},
        "td": {"colspan", "rowspan", "align"},
        "th": {"colspan", "rowspan", "align"},
    },
    url_schemes={"http", "https", "mailto"},
    # A relative link means nothing in a mailbox.
    url_relative="deny",
    link_rel=None,
)


class InvalidOutputError(ValueError):
    """The model's answer is not a usable email; asking again may give a better one."""


def parse_json_object(content: str) -> dict[str, Any]:
    """The JSON object in a model's answer, whether bare, in a ```json fence or amid prose."""
    text = content.strip()
    candidates = [text, *(m.group(1).strip() for m in _FENCE.finditer(text))]
    for candidate in candidates:
        try:
            value = json.loads(candidate)
        except ValueError:
            continue
        if isinstance(value, dict):
            return value
    # Prose around the object: decode from each "{" until one yields an object.
    decoder = json.JSONDecoder()
    for match in re.finditer(r"\{", text):
        try:
            value, _ = decoder.raw_decode(text, match.start())
        except ValueError:
            continue
        if isinstance(value, dict):
            return value
    raise InvalidOutputError("the answer holds no JSON object")


def keep_merge_fields(text: str) -> str:
    """Known merge fields in their canonical spelling; every other template tag removed."""

    def replace(match: re.Match[str]) -> str:
        name = match.group(1)
        return f"{{{{{name}}}}}" if name in MERGE_FIELDS else ""

    return _TEMPLATE_TAG.sub(replace, text)


def sanitise_html(markup: str) -> str:
    return _SANITISER.clean(keep_merge_fields(markup)).strip()


def one_line(text: str) -> str:
    """Header-safe: merge fields kept, every run of whitespace (CR and LF too) one space."""
    return _WHITESPACE.sub(" ", keep_merge_fields(text)).strip()


def _field(data: Mapping[str, object], name: str) -> str:
    value = data.get(name, "")
    if value is None:
        return ""
    if not isinstance(value, str):
        raise InvalidOutputError(f"{name}: expected a string, got {type(value).__name__}")
    return _CONTROL.sub("", value)


def validate_email(data: Mapping[str, object]) -> EmailContent:
    """A usable email from the fields a model answered, or InvalidOutputError saying why not."""
    subject = one_line(_field(data, "subject"))
    if not subject:
        raise InvalidOutputError("subject: empty")
    if len(subject) > MAX_SUBJECT:
        raise InvalidOutputError(f"subject: {len(subject)} characters, at most {MAX_SUBJECT}")
    preheader = one_line(_field(data, "preheader"))
    if len(preheader) > MAX_PREHEADER:
        raise InvalidOutputError(f"preheader: {len(preheader)} characters, at most {MAX_PREHEADER}")

    body_html = sanitise_html(_field(data, "body_html"))
    body_text = keep_merge_fields(_field(data, "body_text")).replace("\r\n", "\n").strip()
    if not html_to_text(body_html):
        body_html = text_to_html(body_text)
    if not body_text:
        body_text = html_to_text(body_html)
    if not body_text:
        raise InvalidOutputError("body: neither body_html nor body_text has any text")
    if len(body_html) > MAX_HTML or len(body_text) > MAX_TEXT:
        raise InvalidOutputError("body: too long")
    return EmailContent(subject, preheader, body_html, body_text)
