"""Pure rules of the workspace's contacts: what a valid contact is, how custom field values are
checked against the type the workspace declared, and how they read as merge-field text. No I/O.

The address and name follow `domain.normalise_email` (one spelling per mailbox) and
`domain.recipient_name`; the time zone and
language follow the contracts' own types, so that every contact stored here is one that a
contacts.changed event can carry."""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date
from functools import lru_cache
from typing import Any, Literal, get_args

import pydantic

from campaign_api.domain import (
    FIELD_NAME,
    MAX_FIELD_LENGTH,
    MAX_FIELDS,
    InvalidRecipient,
    normalise_email,
    recipient_name,
)
from contracts.contacts import MAX_CONTACT_TAGS, ContactStatus
from contracts.types import LanguageTag, TimeZoneName

FieldType = Literal["text", "number", "date", "boolean"]
FIELD_TYPES: tuple[str, ...] = get_args(FieldType)
STATUSES: tuple[str, ...] = get_args(ContactStatus)

# Merge tags already mean these: a custom field of the same key would be shadowed.
RESERVED_KEYS = frozenset({"email", "name", "first_name", "unsubscribe_url", "preferences_url"})
MAX_LABEL = 200
MAX_TAGS = MAX_CONTACT_TAGS
MAX_TAG_LENGTH = 64
_TRUE = frozenset({"true", "yes", "y", "1", "on"})
_FALSE = frozenset({"false", "no", "n", "0", "off", ""})

_ZONE: pydantic.TypeAdapter[str] = pydantic.TypeAdapter(TimeZoneName)
_LANGUAGE: pydantic.TypeAdapter[str] = pydantic.TypeAdapter(LanguageTag)


class InvalidContact(InvalidRecipient):
    """Refused input, naming the field: `str()` reads `fields.age: a number`."""

    def __init__(self, field: str, reason: str) -> None:
        super().__init__(f"{field}: {reason}")
        self.field = field
        self.reason = reason


@dataclass(frozen=True)
class Contact:
    """A contact as validated and normalised; `fields` holds JSON values of the declared
    types (numbers, booleans, ISO dates as text, text)."""

    email: str
    name: str = ""
    fields: dict[str, Any] = field(default_factory=dict)
    tags: list[str] = field(default_factory=list)
    timezone: str | None = None
    language: str | None = None
    status: str = "subscribed"


# --- custom field declarations --------------------------------------------------------------


def field_declaration(key: str, label: str, type_: str) -> tuple[str, str, str]:
    """A declaration's (key, label, type), checked."""
    if not FIELD_NAME.match(key):
        raise InvalidContact("key", "letters, digits and _, not starting with a digit, "
                             "at most 64")
    if key in RESERVED_KEYS:
        raise InvalidContact("key", f"{key!r} is a built-in merge field")
    clean = label.strip() or key
    if len(clean) > MAX_LABEL or "\n" in clean or "\r" in clean:
        raise InvalidContact("label", f"at most {MAX_LABEL} characters on one line")
    if type_ not in FIELD_TYPES:
        raise InvalidContact("type", f"one of {', '.join(FIELD_TYPES)}")
    return key, clean, type_


def field_value(path: str, type_: str, raw: Any) -> Any:
    """`raw` (a JSON value, or the text of a CSV cell) as a value of the declared type."""
    if type_ == "text":
        if isinstance(raw, bool) or not isinstance(raw, str | int | float):
            raise InvalidContact(path, "text")
        text = raw if isinstance(raw, str) else render_field(raw)
        if len(text) > MAX_FIELD_LENGTH:
            raise InvalidContact(path, f"at most {MAX_FIELD_LENGTH} characters")
        return text
    if type_ == "number":
        return _number(path, raw)
    if type_ == "date":
        return _date(path, raw)
    if type_ == "boolean":
        if isinstance(raw, bool):
            return raw
        if isinstance(raw, str) and raw.strip().lower() in _TRUE | _FALSE:
            return raw.strip().lower() in _TRUE
        raise InvalidContact(path, "a boolean (true or false)")
    raise InvalidContact(path, f"declared with an unknown type {type_!r}")


def _number(path: str, raw: Any) -> int | float:
    if isinstance(raw, bool):
        raise InvalidContact(path, "a number")
    value: int | float
    if isinstance(raw, int | float):
        value = raw
    elif isinstance(raw, str):
        try:
            value = int(raw.strip()) if re.fullmatch(r"\s*-?\d{1,18}\s*", raw) else float(raw)
        except ValueError as exc:
            raise InvalidContact(path, "a number") from exc
    else:
        raise InvalidContact(path, "a number")
    if isinstance(value, float) and not math.isfinite(value):
        raise InvalidContact(path, "a finite number")
    return value


def _date(path: str, raw: Any) -> str:
    if isinstance(raw, str):
        try:
            return date.fromisoformat(raw.strip()).isoformat()
        except ValueError:
            pass
    raise InvalidContact(path, "a date as YYYY-MM-DD")


def render_field(value: Any) -> str:
    """A stored field value as the text a merge field shows."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def rendered_fields(fields: Mapping[str, Any]) -> dict[str, str]:
    return {key: render_field(v)[:MAX_FIELD_LENGTH] for key, v in fields.items() if v is not None}


# --- contacts -------------------------------------------------------------------------------


def fields_of(given: Mapping[str, Any], declared: Mapping[str, str], *,
              path: str = "fields") -> dict[str, Any]:
    """Custom field values checked against the declared types. A null value stays null: on an
    update it removes the field."""
    if len(given) > MAX_FIELDS:
        raise InvalidContact(path, f"at most {MAX_FIELDS}")
    checked: dict[str, Any] = {}
    for key, raw in given.items():
        where = f"{path}.{key}"
        type_ = declared.get(key)
        if type_ is None:
            raise InvalidContact(where, "not a declared field of this workspace "
                                 "(declare it with POST /api/fields)")
        checked[key] = None if raw is None else field_value(where, type_, raw)
    return checked


def tags_of(given: Iterable[str], *, path: str = "tags") -> list[str]:
    """Tags trimmed, lower-cased, spaces collapsed, deduplicated and sorted."""
    tags: set[str] = set()
    for i, raw in enumerate(given):
        tag = " ".join(str(raw).split()).lower()
        if not tag or len(tag) > MAX_TAG_LENGTH:
            raise InvalidContact(f"{path}[{i}]", f"1 to {MAX_TAG_LENGTH} characters")
        tags.add(tag)
    if len(tags) > MAX_TAGS:
        raise InvalidContact(path, f"at most {MAX_TAGS}")
    return sorted(tags)


def timezone_of(raw: str | None, *, path: str = "timezone") -> str | None:
    if raw is None or not raw.strip():
        return None
    try:
        return _zone(raw.strip())
    except pydantic.ValidationError as exc:
        raise InvalidContact(path, f"not an IANA time zone like Europe/Berlin: {raw!r}") from exc


def language_of(raw: str | None, *, path: str = "language") -> str | None:
    """A BCP 47 tag in its usual case: `pt-br` is `pt-BR`, `zh-hant` is `zh-Hant`."""
    if raw is None or not raw.strip():
        return None
    try:
        return _language(raw.strip())
    except pydantic.ValidationError as exc:
        raise InvalidContact(path, f"not a BCP 47 language tag like en or pt-BR: {raw!r}") from exc


# A file's rows repeat a few zones and languages: each spelling is checked once, not per row.
@lru_cache(maxsize=4096)
def _zone(raw: str) -> str:
    return _ZONE.validate_python(raw)


@lru_cache(maxsize=4096)
def _language(raw: str) -> str:
    tag = _LANGUAGE.validate_python(raw.replace("_", "-"))
    first, *rest = tag.split("-")
    parts = [first.lower()]
    for part in rest:
        parts.append(part.upper() if len(part) == 2 else
                     part.title() if len(part) == 4 else part.lower())
    return "-".join(parts)


def status_of(raw: str, *, path: str = "status") -> str:
    if raw not in STATUSES:
        raise InvalidContact(path, f"one of {', '.join(STATUSES)}")
    return raw


def email_of(raw: str | None, *, path: str = "email") -> str:
    if not raw or not raw.strip():
        raise InvalidContact(path, "missing")
    try:
        return normalise_email(raw)
    except InvalidRecipient as exc:
        raise InvalidContact(path, str(exc).partition(": ")[2]) from exc


def name_of(raw: str | None, *, path: str = "name") -> str:
    try:
        return recipient_name(raw)
    except InvalidRecipient as exc:
        raise InvalidContact(path, str(exc).partition(": ")[2]) from exc


def contact(
    email: str, declared: Mapping[str, str], *, name: str | None = None,
    fields: Mapping[str, Any] | None = None, tags: Iterable[str] = (),
    timezone: str | None = None, language: str | None = None, status: str = "subscribed",
    path: str = "",
) -> Contact:
    """A whole contact checked; `path` prefixes every field an error names (`contacts[3].`)."""
    return Contact(
        email=email_of(email, path=f"{path}email"),
        name=name_of(name, path=f"{path}name"),
        fields={k: v for k, v in fields_of(fields or {}, declared, path=f"{path}fields").items()
                if v is not None},
        tags=tags_of(tags, path=f"{path}tags"),
        timezone=timezone_of(timezone, path=f"{path}timezone"),
        language=language_of(language, path=f"{path}language"),
        status=status_of(status, path=f"{path}status"),
    )


def merged_fields(current: Mapping[str, Any], changes: Mapping[str, Any]) -> dict[str, Any]:
    """An update's fields over the stored ones: a null removes a field."""
    merged = dict(current)
    for key, value in changes.items():
        if value is None:
            merged.pop(key, None)
        else:
            merged[key] = value
    return merged
