"""Pure rules of segments: the rule tree a marketer saves, its validation against the
workspace's declared fields (every error names its path inside the rule), and the evaluation of
a rule over one contact. No I/O.

`matches` is the specification: `db.segment_where` compiles the same rule to SQL, and a
property test holds the two to selecting exactly the same contacts. So each comparison here is
one PostgreSQL performs identically: text compares exactly (case-sensitive, by code point),
numbers as IEEE doubles, dates as their ISO text, and a value of another type than the one the
field declares never matches (it is still "set")."""

from __future__ import annotations

import uuid
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Annotated, Any, Literal, Union

import pydantic
from pydantic import BaseModel, ConfigDict, Discriminator, Field, Tag

from campaign_api.contacts_domain import (
    InvalidContact,
    field_value,
    language_of,
    tags_of,
    timezone_of,
)
from contracts.contacts import ContactStatus

MAX_DEPTH = 6  # groups inside groups, the outermost counted
MAX_NODES = 200  # groups and conditions in one rule
MAX_VALUES = 100  # of an `in` list
MAX_DAYS = 3_650

TextOp = Literal["equals", "contains", "in", "is_set", "is_not_set"]
NumberOp = Literal["equals", "greater", "less", "in", "is_set", "is_not_set"]
DateOp = Literal["before", "after", "within_last_days", "is_set", "is_not_set"]
BooleanOp = Literal["equals", "is_set", "is_not_set"]
OPS: dict[str, tuple[str, ...]] = {
    "text": TextOp.__args__, "number": NumberOp.__args__,  # type: ignore[attr-defined]
    "date": DateOp.__args__, "boolean": BooleanOp.__args__,  # type: ignore[attr-defined]
}
FieldOp = Literal["equals", "contains", "in", "greater", "less", "before", "after",
                  "within_last_days", "is_set", "is_not_set"]
Days = Annotated[int, Field(ge=0, le=MAX_DAYS)]


class _Node(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)


class FieldCondition(_Node):
    """A custom field by its declared type; `value` is a list for `in`, a number of days for
    `within_last_days`, none for `is_set` / `is_not_set`."""

    field: Annotated[str, Field(max_length=64)]
    op: FieldOp
    value: Any = None


class TagCondition(_Node):
    tag: Annotated[str, Field(max_length=64)]
    op: Literal["has", "has_not"] = "has"


class StatusCondition(_Node):
    status: Annotated[list[ContactStatus], Field(min_length=1, max_length=5)]


class ListCondition(_Node):
    list_id: uuid.UUID = Field(alias="list")
    op: Literal["in", "not_in"] = "in"


class ZoneCondition(_Node):
    timezone: Annotated[list[Annotated[str, Field(max_length=64)]],
                        Field(min_length=1, max_length=MAX_VALUES)]


class LanguageCondition(_Node):
    """A language matches itself and its regional variants: `en` matches `en-GB`."""

    language: Annotated[list[Annotated[str, Field(max_length=35)]],
                        Field(min_length=1, max_length=MAX_VALUES)]


class EngagementCondition(_Node):
    """Opened (or clicked) any email, or one campaign's, in the last `within_days` days (ever,
    without it); `never_opened`: no open at all (of that campaign, with one)."""

    engagement: Literal["opened", "clicked", "never_opened"]
    within_days: Days | None = None
    campaign_id: uuid.UUID | None = None


class AllOf(_Node):
    all: list[Rule] = Field(max_length=MAX_NODES)


class AnyOf(_Node):
    any: list[Rule] = Field(max_length=MAX_NODES)


_KINDS = ("all", "any", "field", "tag", "status", "list", "timezone", "language", "engagement")


def _kind(node: Any) -> str | None:
    if isinstance(node, dict):
        return next((k for k in _KINDS if k in node), None)
    if isinstance(node, BaseModel):
        return _KIND_OF.get(type(node))
    return None


Rule = Annotated[
    Union[  # noqa: UP007 - the tagged members read better listed
        Annotated[AllOf, Tag("all")], Annotated[AnyOf, Tag("any")],
        Annotated[FieldCondition, Tag("field")], Annotated[TagCondition, Tag("tag")],
        Annotated[StatusCondition, Tag("status")], Annotated[ListCondition, Tag("list")],
        Annotated[ZoneCondition, Tag("timezone")],
        Annotated[LanguageCondition, Tag("language")],
        Annotated[EngagementCondition, Tag("engagement")],
    ],
    Discriminator(_kind, custom_error_type="rule_kind",
                  custom_error_message="a group (all, any) or a condition on one of field, tag, "
                  "status, list, timezone, language, engagement")]
Condition = (FieldCondition | TagCondition | StatusCondition | ListCondition | ZoneCondition
             | LanguageCondition | EngagementCondition)
Node = AllOf | AnyOf | Condition

_KIND_OF: dict[type, str] = {
    AllOf: "all", AnyOf: "any", FieldCondition: "field", TagCondition: "tag",
    StatusCondition: "status", ListCondition: "list", ZoneCondition: "timezone",
    LanguageCondition: "language", EngagementCondition: "engagement",
}
AllOf.model_rebuild()
AnyOf.model_rebuild()
_RULE: pydantic.TypeAdapter[Node] = pydantic.TypeAdapter(Rule)


class InvalidRule(ValueError):  # noqa: N818 - reads as what it is
    """Every problem of a rule, each as (path, message): `rule.all[2].value: ...`."""

    def __init__(self, errors: list[tuple[str, str]]) -> None:
        super().__init__("; ".join(f"{p}: {m}" for p, m in errors))
        self.errors = errors


# --- validation -------------------------------------------------------------------------------


def _path(loc: Sequence[str | int], root: str = "rule") -> str:
    """A pydantic location as a path: the union's tags (after the root and after each index)
    are pydantic's, not the marketer's, so they are left out; `list_id` reads as `list`."""
    out, expect_tag = root, True
    for part in loc:
        if expect_tag and isinstance(part, str) and part in _KINDS:
            expect_tag = False
            continue
        expect_tag = isinstance(part, int)
        out += f"[{part}]" if isinstance(part, int) else f".{'list' if part == 'list_id' else part}"
    return out


def _shape(raw: Any, root: str) -> list[tuple[str, str]]:
    """Depth and size, checked on the raw JSON before pydantic recurses into it."""
    nodes = 0
    stack: list[tuple[Any, str, int]] = [(raw, root, 1)]
    while stack:
        node, where, depth = stack.pop()
        nodes += 1
        if nodes > MAX_NODES:
            return [(root, f"at most {MAX_NODES} groups and conditions")]
        if isinstance(node, dict):
            for key in ("all", "any"):
                children = node.get(key)
                if isinstance(children, list):
                    if depth >= MAX_DEPTH and any(isinstance(c, dict) and ("all" in c or "any" in c)
                                                  for c in children):
                        return [(f"{where}.{key}", f"groups nest at most {MAX_DEPTH} deep")]
                    stack.extend((c, f"{where}.{key}[{i}]", depth + 1)
                                 for i, c in enumerate(children))
    return []


def validate_rule(raw: Any, declared: Mapping[str, str],
                  lists: Collection[uuid.UUID] | None = None, *, root: str = "rule") -> Node:
    """`raw` (parsed JSON) as a rule, normalised (tags lower-cased, dates in ISO form, languages
    in their usual case), checked against the workspace's declared fields (key -> type) and its
    list ids (unless None: see `lists_named`); raises InvalidRule naming every bad path."""
    errors = _shape(raw, root)
    if errors:
        raise InvalidRule(errors)
    try:
        parsed = _RULE.validate_python(raw)
    except pydantic.ValidationError as exc:
        raise InvalidRule([(_path(e["loc"], root), e["msg"].removeprefix("Value error, "))
                           for e in exc.errors()]) from None
    problems: list[tuple[str, str]] = []
    checked = _checked(parsed, root, declared, lists, problems)
    if problems:
        raise InvalidRule(problems)
    return checked


def _checked(node: Node, where: str, declared: Mapping[str, str],
             lists: Collection[uuid.UUID] | None, problems: list[tuple[str, str]]) -> Node:
    if isinstance(node, AllOf | AnyOf):
        key = "all" if isinstance(node, AllOf) else "any"
        children = [_checked(c, f"{where}.{key}[{i}]", declared, lists, problems)
                    for i, c in enumerate(node.all if isinstance(node, AllOf) else node.any)]
        return node.model_copy(update={key: children})
    try:
        return _checked_condition(node, where, declared, lists)
    except InvalidContact as exc:
        problems.append((exc.field, exc.reason))
        return node


def _checked_condition(node: Condition, where: str, declared: Mapping[str, str],
                       lists: Collection[uuid.UUID] | None) -> Condition:
    if isinstance(node, FieldCondition):
        return _checked_field(node, where, declared)
    if isinstance(node, TagCondition):
        return node.model_copy(update={"tag": tags_of([node.tag], path=f"{where}.tag")[0]})
    if isinstance(node, ListCondition):
        if lists is not None and node.list_id not in lists:
            raise InvalidContact(f"{where}.list", f"no list {node.list_id} in this workspace")
        return node
    if isinstance(node, ZoneCondition):
        zones = [timezone_of(z, path=f"{where}.timezone[{i}]") or _missing(where, i, "timezone")
                 for i, z in enumerate(node.timezone)]
        return node.model_copy(update={"timezone": sorted(set(zones))})
    if isinstance(node, LanguageCondition):
        tags = [language_of(v, path=f"{where}.language[{i}]") or _missing(where, i, "language")
                for i, v in enumerate(node.language)]
        return node.model_copy(update={"language": sorted(set(tags))})
    return node


def _missing(where: str, i: int, key: str) -> str:
    raise InvalidContact(f"{where}.{key}[{i}]", "missing")


_REQUIRED = {"text": "a text", "number": "a number", "date": "a date as YYYY-MM-DD",
             "boolean": "true or false"}


def _checked_field(node: FieldCondition, where: str,
                   declared: Mapping[str, str]) -> FieldCondition:
    type_ = declared.get(node.field)
    if type_ is None:
        raise InvalidContact(f"{where}.field", f"{node.field!r} is not a declared field of this "
                             "workspace (GET /api/fields)")
    if node.op not in OPS[type_]:
        raise InvalidContact(f"{where}.op", f"a {type_} field takes one of "
                             f"{', '.join(OPS[type_])}")
    at = f"{where}.value"
    if node.op in ("is_set", "is_not_set"):
        if node.value is not None:
            raise InvalidContact(at, f"{node.op} takes no value")
        return node
    if node.op == "within_last_days":
        days = node.value
        if isinstance(days, bool) or not isinstance(days, int) or not 0 <= days <= MAX_DAYS:
            raise InvalidContact(at, f"a number of days from 0 to {MAX_DAYS} is required")
        return node
    if node.op == "in":
        if not isinstance(node.value, list) or not 1 <= len(node.value) <= MAX_VALUES:
            raise InvalidContact(at, f"a list of 1 to {MAX_VALUES} values is required for "
                                 f"field {node.field!r}")
        values = [_typed(f"{at}[{i}]", type_, v, node.field) for i, v in enumerate(node.value)]
        return node.model_copy(update={"value": values})
    return node.model_copy(update={"value": _typed(at, type_, node.value, node.field)})


def _typed(at: str, type_: str, value: Any, key: str) -> Any:
    """A rule's value strictly of the field's type (no "30" for a number: a rule is JSON)."""
    wrong = InvalidContact(at, f"{_REQUIRED[type_]} is required for field \"{key}\"")
    if type_ == "number":
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise wrong
        return float(value)
    if type_ == "boolean":
        if not isinstance(value, bool):
            raise wrong
        return value
    if not isinstance(value, str):
        raise wrong
    try:
        return field_value(at, type_, value)
    except InvalidContact:
        raise wrong from None


def lists_named(rule: Node) -> set[uuid.UUID]:
    """The list ids a rule names, for the caller to look up which are the workspace's."""
    if isinstance(rule, AllOf | AnyOf):
        children = rule.all if isinstance(rule, AllOf) else rule.any
        return set().union(*(lists_named(c) for c in children))
    return {rule.list_id} if isinstance(rule, ListCondition) else set()


def stored_rule(raw: Any) -> Node:
    """A rule as stored (validated when saved). Not checked against the fields again: a field
    deleted since is missing on every contact, and its conditions match as a missing value."""
    return _RULE.validate_python(raw)


def rule_json(rule: Node) -> dict[str, Any]:
    """A rule as it is stored and shown: by alias (`list`), without unset defaults."""
    dumped: dict[str, Any] = rule.model_dump(mode="json", by_alias=True, exclude_none=True)
    return dumped


# --- evaluation -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Engagement:
    kind: str  # "open" | "click" | ...
    campaign_id: uuid.UUID
    occurred_at: datetime


@dataclass(frozen=True)
class ContactFacts:
    """What a rule may ask about one contact."""

    fields: Mapping[str, Any] = field(default_factory=dict)
    tags: Collection[str] = ()
    status: str = "subscribed"
    lists: Collection[uuid.UUID] = ()
    timezone: str | None = None
    language: str | None = None
    engagements: Sequence[Engagement] = ()


def matches(rule: Node, contact: ContactFacts, now: datetime) -> bool:
    """Whether `contact` is in the segment `rule` (validated) describes, at `now` (aware)."""
    if isinstance(rule, AllOf):
        return all(matches(r, contact, now) for r in rule.all)
    if isinstance(rule, AnyOf):
        return any(matches(r, contact, now) for r in rule.any)
    if isinstance(rule, FieldCondition):
        return field_matches(rule, contact.fields.get(rule.field), now.date())
    if isinstance(rule, TagCondition):
        return (rule.tag in contact.tags) == (rule.op == "has")
    if isinstance(rule, StatusCondition):
        return contact.status in rule.status
    if isinstance(rule, ListCondition):
        return (rule.list_id in contact.lists) == (rule.op == "in")
    if isinstance(rule, ZoneCondition):
        return contact.timezone in rule.timezone
    if isinstance(rule, LanguageCondition):
        lang = contact.language
        return lang is not None and any(lang == v or lang.startswith(f"{v}-")
                                        for v in rule.language)
    return _engaged(rule, contact.engagements, now)


def since(within_days: int | None, now: datetime) -> datetime | None:
    return None if within_days is None else now - timedelta(days=within_days)


def date_window(days: int, today: date) -> tuple[str, str]:
    """`within_last_days`: from `days` ago to today, both included, as ISO text."""
    return (today - timedelta(days=days)).isoformat(), today.isoformat()


def _engaged(rule: EngagementCondition, events: Sequence[Engagement], now: datetime) -> bool:
    kind = "click" if rule.engagement == "clicked" else "open"
    start = since(rule.within_days, now)
    found = any(e.kind == kind and (rule.campaign_id is None or e.campaign_id == rule.campaign_id)
                and (start is None or e.occurred_at >= start) for e in events)
    return not found if rule.engagement == "never_opened" else found


def _number(v: Any) -> bool:
    return isinstance(v, int | float) and not isinstance(v, bool)


def field_matches(rule: FieldCondition, value: Any, today: date) -> bool:
    op, want = rule.op, rule.value
    if op in ("is_set", "is_not_set"):
        return (value is not None) == (op == "is_set")
    if isinstance(want, float) or (isinstance(want, list) and isinstance(want[0], float)):
        return _number(value) and _compared(op, float(value), want)
    if isinstance(want, bool):
        return isinstance(value, bool) and value == want
    if not isinstance(value, str):
        return False
    if op == "within_last_days":
        start, end = date_window(int(want), today)
        return start <= value <= end
    if op == "contains":
        return isinstance(want, str) and want in value
    return _compared(op, value, want)


def _compared(op: str, value: Any, want: Any) -> bool:
    """`in`, greater / after, less / before, equals: as `db.segment_sql._compare`."""
    if op == "in":
        return bool(value in want)
    if op in ("greater", "after"):
        return bool(value > want)
    if op in ("less", "before"):
        return bool(value < want)
    return bool(value == want)
