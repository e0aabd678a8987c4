"""A segment rule compiled to a SQLAlchemy condition over `contacts`: every value the rule
holds is a bound parameter, never SQL text. `segment_rules.matches` is the specification each
branch here follows (a property test holds the two together over random contacts and rules)."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import ARRAY, DOUBLE_PRECISION, JSONB
from sqlalchemy.sql.elements import ColumnElement

from campaign_api.db.contact_tables import contacts, list_members
from campaign_api.db.tables import engagements
from campaign_api.segment_rules import (
    AllOf,
    AnyOf,
    EngagementCondition,
    FieldCondition,
    LanguageCondition,
    ListCondition,
    Node,
    StatusCondition,
    TagCondition,
    ZoneCondition,
    date_window,
    since,
)

_TEXTS = ARRAY(sa.Text)
_NUMBERS = ARRAY(DOUBLE_PRECISION)


def segment_where(rule: Node, workspace_id: uuid.UUID, now: datetime) -> ColumnElement[bool]:
    """The contacts of `workspace_id` in the segment at `now` (a parameter, so that the
    refresher and the evaluator agree on "the last N days")."""
    return sa.and_(contacts.c.workspace_id == workspace_id, _where(rule, now))


def _where(rule: Node, now: datetime) -> ColumnElement[bool]:
    if isinstance(rule, AllOf):
        return sa.and_(sa.true(), *(_where(r, now) for r in rule.all))
    if isinstance(rule, AnyOf):
        return sa.or_(sa.false(), *(_where(r, now) for r in rule.any))
    if isinstance(rule, FieldCondition):
        return _field(rule, now)
    if isinstance(rule, TagCondition):
        has = contacts.c.tags.contains(sa.cast(sa.literal([rule.tag], _TEXTS), _TEXTS))
        return has if rule.op == "has" else sa.not_(has)
    if isinstance(rule, StatusCondition):
        return contacts.c.status.in_(rule.status)
    if isinstance(rule, ListCondition):
        member = sa.exists().where(list_members.c.list_id == rule.list_id,
                                   list_members.c.contact_id == contacts.c.id)
        return member if rule.op == "in" else sa.not_(member)
    if isinstance(rule, ZoneCondition):
        return sa.func.coalesce(contacts.c.timezone.in_(rule.timezone), sa.false())
    if isinstance(rule, LanguageCondition):
        lang = contacts.c.language
        return sa.func.coalesce(sa.or_(sa.false(), *(
            sa.or_(lang == v, lang.startswith(f"{v}-", autoescape=True))
            for v in rule.language)), sa.false())
    return _engaged(rule, now)


def _engaged(rule: EngagementCondition, now: datetime) -> ColumnElement[bool]:
    e = engagements.c
    found = sa.exists().where(
        e.workspace_id == contacts.c.workspace_id, e.email == contacts.c.email,
        e.kind == ("click" if rule.engagement == "clicked" else "open"))
    if rule.campaign_id is not None:
        found = found.where(e.campaign_id == rule.campaign_id)
    start = since(rule.within_days, now)
    if start is not None:
        found = found.where(e.occurred_at >= start)
    return sa.not_(found) if rule.engagement == "never_opened" else found


def _field(rule: FieldCondition, now: datetime) -> ColumnElement[bool]:
    raw = contacts.c.fields[rule.field]  # fields -> :key, a jsonb or NULL
    kind = sa.func.jsonb_typeof(raw)
    if rule.op in ("is_set", "is_not_set"):
        is_set = sa.func.coalesce(kind, "null") != "null"
        return is_set if rule.op == "is_set" else sa.not_(is_set)
    want = rule.value
    if isinstance(want, bool):
        return sa.func.coalesce(raw == sa.cast(sa.literal(want, JSONB), JSONB), sa.false())
    if isinstance(want, float) or (isinstance(want, list) and isinstance(want[0], float)):
        # CASE, not AND: PostgreSQL may evaluate an AND's sides in any order, and the cast
        # of a JSON text to a number would fail.
        number = sa.cast(contacts.c.fields[rule.field].astext, DOUBLE_PRECISION)
        return sa.case((kind == "number", _compare(rule.op, number, want, _NUMBERS)),
                       else_=sa.false())
    # Byte order, as Python compares text: the database's collation would sort otherwise.
    text = sa.collate(contacts.c.fields[rule.field].astext, "C")
    if rule.op == "within_last_days":
        start, end = date_window(int(want), now.date())
        test: ColumnElement[bool] = sa.and_(text >= start, text <= end)
    elif rule.op == "contains":
        test = sa.func.strpos(text, sa.cast(sa.literal(want), sa.Text)) > 0
    else:
        test = _compare(rule.op, text, want, _TEXTS)
    return sa.case((kind == "string", test), else_=sa.false())


def _compare(op: str, column: ColumnElement[Any], want: Any,
             array: ARRAY[Any]) -> ColumnElement[bool]:
    if op == "in":
        return column == sa.func.any(sa.cast(sa.literal(want, array), array))
    if op in ("greater", "after"):
        return column > sa.literal(want)
    if op in ("less", "before"):
        return column < sa.literal(want)
    return column == sa.literal(want)
