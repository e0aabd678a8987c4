"""Issue point 3: over random contacts and random rules, the SQL a rule compiles to selects
exactly the contacts the pure evaluator (`segment_rules.matches`) selects, on a real
PostgreSQL, and never a contact of another workspace."""

from __future__ import annotations

import asyncio
import threading
import uuid
from collections.abc import Coroutine, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar

import pytest
import sqlalchemy as sa
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy.ext.asyncio import AsyncEngine

from campaign_api import db
from campaign_api.db.contact_tables import list_members
from campaign_api.db.segment_sql import segment_where
from campaign_api.segment_rules import ContactFacts, Engagement, Node, matches, validate_rule
from servicekit.db import create_engine
from testkit.fixtures import CreateDatabase

T = TypeVar("T")
NOW = datetime(2026, 7, 1, 12, 0, tzinfo=UTC)
TODAY = NOW.date()
DECLARED = {"city": "text", "code": "text", "age": "number", "score": "number",
            "joined": "date", "vip": "boolean"}
LISTS = [uuid.UUID(int=1), uuid.UUID(int=2)]
CAMPAIGNS = [uuid.UUID(int=11), uuid.UUID(int=12), uuid.UUID(int=13)]
TAGS = ["vip", "new", "eu"]
STATUSES = ["subscribed", "unsubscribed", "bounced", "complained", "pending"]
ZONES = ["Europe/Berlin", "Asia/Tokyo", "America/New_York"]
LANGUAGES = ["en", "en-GB", "de", "de-AT", "pt-BR"]
DAYS = [0, 1, 7, 30]

texts = st.one_of(st.sampled_from(["", "a", "ab", "Ab", "bä", "ä"]), st.text(
    st.characters(exclude_categories=("Cs",), exclude_characters="\x00"), max_size=4))
numbers = st.one_of(st.sampled_from([0, 1, -1.5, 2.5, 10, 1e10]),
                    st.integers(-5, 5), st.floats(-1e6, 1e6, allow_nan=False))
dates = st.one_of(st.sampled_from(DAYS).map(lambda d: (TODAY - timedelta(days=d)).isoformat()),
                  st.dates().map(lambda d: d.isoformat()))
VALUES = {"text": texts, "number": numbers, "date": dates, "boolean": st.booleans()}


@st.composite
def field_values(draw: st.DrawFn) -> dict[str, Any]:
    values: dict[str, Any] = {}
    for key, type_ in DECLARED.items():
        # Missing, of the declared type, or (stored before a redeclaration) of another type.
        choice = draw(st.sampled_from(["missing", "typed", "typed", "other"]))
        if choice == "typed":
            values[key] = draw(VALUES[type_])
        elif choice == "other":
            values[key] = draw(st.one_of(*VALUES.values()))
    return values


engagement_rows = st.builds(
    Engagement, kind=st.sampled_from(["open", "click", "unsubscribe"]),
    campaign_id=st.sampled_from(CAMPAIGNS),
    occurred_at=st.one_of(
        st.sampled_from(DAYS).map(lambda d: NOW - timedelta(days=d)),
        st.integers(0, 40 * 86_400_000_000).map(lambda us: NOW - timedelta(microseconds=us))))

contact_facts = st.builds(
    ContactFacts, fields=field_values(), tags=st.sets(st.sampled_from(TAGS)),
    status=st.sampled_from(STATUSES), lists=st.sets(st.sampled_from(LISTS)),
    timezone=st.none() | st.sampled_from(ZONES), language=st.none() | st.sampled_from(LANGUAGES),
    engagements=st.lists(engagement_rows, max_size=4))


@st.composite
def field_conditions(draw: st.DrawFn) -> dict[str, Any]:
    key = draw(st.sampled_from(sorted(DECLARED)))
    type_ = DECLARED[key]
    op = draw(st.sampled_from({
        "text": ["equals", "contains", "in", "is_set", "is_not_set"],
        "number": ["equals", "greater", "less", "in", "is_set", "is_not_set"],
        "date": ["before", "after", "within_last_days", "is_set", "is_not_set"],
        "boolean": ["equals", "is_set", "is_not_set"]}[type_]))
    condition: dict[str, Any] = {"field": key, "op": op}
    if op == "in":
        condition["value"] = draw(st.lists(VALUES[type_], min_size=1, max_size=3))
    elif op == "within_last_days":
        condition["value"] = draw(st.sampled_from(DAYS) | st.integers(0, 400))
    elif op not in ("is_set", "is_not_set"):
        condition["value"] = draw(VALUES[type_])
    return condition


conditions = st.one_of(
    field_conditions(),
    st.builds(lambda t, op: {"tag": t, "op": op}, st.sampled_from(TAGS),
              st.sampled_from(["has", "has_not"])),
    st.builds(lambda s: {"status": s}, st.lists(st.sampled_from(STATUSES), min_size=1,
                                                max_size=3)),
    st.builds(lambda i, op: {"list": str(i), "op": op}, st.sampled_from(LISTS),
              st.sampled_from(["in", "not_in"])),
    st.builds(lambda z: {"timezone": z}, st.lists(st.sampled_from(ZONES), min_size=1,
                                                  max_size=2)),
    st.builds(lambda lang: {"language": lang},
              st.lists(st.sampled_from(["en", "de", "pt-BR", "en-GB"]), min_size=1, max_size=2)),
    st.builds(lambda kind, days, campaign: {"engagement": kind, "within_days": days,
                                            "campaign_id": campaign},
              st.sampled_from(["opened", "clicked", "never_opened"]),
              st.none() | st.sampled_from(DAYS), st.none() | st.sampled_from(
                  [str(c) for c in CAMPAIGNS])),
)
rules = st.recursive(conditions, lambda children: st.one_of(
    st.builds(lambda c: {"all": c}, st.lists(children, max_size=4)),
    st.builds(lambda c: {"any": c}, st.lists(children, max_size=4))), max_leaves=10)


class LoopThread:
    """An event loop of its own, so that hypothesis's synchronous examples can use the
    database."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()

    def run(self, work: Coroutine[Any, Any, T]) -> T:
        return asyncio.run_coroutine_threadsafe(work, self.loop).result(timeout=60)

    def stop(self) -> None:
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(10)


@pytest.fixture
async def database_url(migrated_database: CreateDatabase) -> str:
    return await migrated_database("campaign_api")


@pytest.fixture
def world(database_url: str) -> Iterator[tuple[LoopThread, AsyncEngine, uuid.UUID]]:
    runner = LoopThread()
    engine = create_engine(database_url, pool_size=1)

    async def setup() -> uuid.UUID:
        async with engine.begin() as conn:
            workspace = await db.ensure_workspace(conn, "segments")
            other = await db.ensure_workspace(conn, "other")
            for key, type_ in DECLARED.items():
                await db.declare_field(conn, workspace, key, key, type_)
            for list_id in LISTS:
                await conn.execute(db.lists.insert().values(id=list_id, workspace_id=workspace,
                                                            name=str(list_id)))
            # A contact of another workspace that every rule could select if the tenant
            # condition were missing.
            await conn.execute(db.contacts.insert().values(
                id=uuid.uuid4(), workspace_id=other, email="other@x.test", tags=TAGS,
                fields={"city": "a", "age": 1, "joined": TODAY.isoformat(), "vip": True}))
        return workspace

    workspace = runner.run(setup())
    yield runner, engine, workspace
    runner.run(engine.dispose())
    runner.stop()


async def _store(engine: AsyncEngine, workspace: uuid.UUID,
                 people: list[ContactFacts]) -> dict[str, ContactFacts]:
    by_email = {f"c{i}@x.test": p for i, p in enumerate(people)}
    async with engine.begin() as conn:
        await conn.execute(sa.delete(db.contacts).where(db.contacts.c.workspace_id == workspace))
        await conn.execute(sa.delete(db.engagements))
        for email, p in by_email.items():
            contact_id = uuid.uuid4()
            await conn.execute(db.contacts.insert().values(
                id=contact_id, workspace_id=workspace, email=email, fields=dict(p.fields),
                tags=sorted(p.tags), status=p.status, timezone=p.timezone,
                language=p.language))
            for list_id in p.lists:
                await conn.execute(list_members.insert().values(list_id=list_id,
                                                                   contact_id=contact_id))
            for e in p.engagements:
                await conn.execute(db.engagements.insert().values(
                    workspace_id=workspace, campaign_id=e.campaign_id, sequence=1, email=email,
                    kind=e.kind, occurred_at=e.occurred_at))
            # The other workspace's engagements never count for this one's contacts.
            await conn.execute(db.engagements.insert().values(
                workspace_id=uuid.uuid4(), campaign_id=CAMPAIGNS[0], sequence=1, email=email,
                kind="open", occurred_at=NOW))
    return by_email


async def _selected(engine: AsyncEngine, workspace: uuid.UUID, rule: Node) -> set[str]:
    async with engine.connect() as conn:
        return set((await conn.execute(sa.select(db.contacts.c.email).where(
            segment_where(rule, workspace, NOW)))).scalars())


@settings(max_examples=150, suppress_health_check=list(HealthCheck), database=None)
@given(people=st.lists(contact_facts, max_size=10), raws=st.lists(rules, min_size=1, max_size=4))
def _sql_and_evaluator_agree(world: tuple[LoopThread, AsyncEngine, uuid.UUID],
                             people: list[ContactFacts], raws: list[Any]) -> None:
    runner, engine, workspace = world
    by_email = runner.run(_store(engine, workspace, people))
    for raw in raws:
        rule = validate_rule(raw, DECLARED, LISTS)
        expected = {email for email, p in by_email.items() if matches(rule, p, NOW)}
        assert runner.run(_selected(engine, workspace, rule)) == expected, raw


def test_the_sql_of_a_rule_selects_exactly_the_contacts_the_evaluator_selects(
        world: tuple[LoopThread, AsyncEngine, uuid.UUID]) -> None:
    _sql_and_evaluator_agree(world)
