"""A/B tests: each tested email's test and decision, and its variants' counts from the sends
(which variant each address was sent) and the engagements of those addresses."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import JSONB, UUID, insert
from sqlalchemy.ext.asyncio import AsyncConnection

from campaign_api.db.contact_tables import sends
from campaign_api.db.tables import AnyRow, engagements, metadata

# One row per tested email, from its content.generated; decided once (winner set).
ab_tests = sa.Table(
    "ab_tests",
    metadata,
    sa.Column("campaign_id", UUID(as_uuid=True), primary_key=True),
    sa.Column("sequence", sa.Integer, primary_key=True),
    sa.Column("workspace_id", UUID(as_uuid=True), nullable=False),
    sa.Column("kind", sa.Text, nullable=False),
    sa.Column("metric", sa.Text, nullable=False),
    # [{"key", "subject", "preheader"}] of each variant, for the report.
    sa.Column("variants", JSONB, nullable=False),
    sa.Column("slice_percent", sa.Float, nullable=False),
    sa.Column("decide_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("winner", sa.Text),
    # contracts.ab_tests.DecisionRule, and the VariantResults the decision read.
    sa.Column("rule", sa.Text),
    sa.Column("decided_at", sa.DateTime(timezone=True)),
    sa.Column("results", JSONB),
    sa.Index("ab_tests_undecided", "decide_at", postgresql_where=sa.text("winner IS NULL")),
)


async def insert_ab_test(conn: AsyncConnection, **values: Any) -> None:
    """Stored again (a redelivered content.generated), changes nothing."""
    await conn.execute(insert(ab_tests).values(**values).on_conflict_do_nothing())


async def claim_due_ab_test(conn: AsyncConnection, now: datetime) -> AnyRow | None:
    """One undecided test whose window is over, locked for this transaction; SKIP LOCKED lets
    replicas take others meanwhile."""
    t = ab_tests.c
    query = (sa.select(ab_tests).where(t.winner.is_(None), t.decide_at <= now)
             .order_by(t.decide_at).limit(1).with_for_update(skip_locked=True))
    return (await conn.execute(query)).first()


async def lock_ab_test(
    conn: AsyncConnection, campaign_id: uuid.UUID, sequence: int
) -> AnyRow | None:
    """The test, locked until the transaction ends (waiting for a decider holding it)."""
    t = ab_tests.c
    query = (sa.select(ab_tests).where(t.campaign_id == campaign_id, t.sequence == sequence)
             .with_for_update())
    return (await conn.execute(query)).first()


async def record_ab_decision(
    conn: AsyncConnection, campaign_id: uuid.UUID, sequence: int, *, winner: str, rule: str,
    decided_at: datetime, results: list[dict[str, Any]],
) -> None:
    t = ab_tests.c
    await conn.execute(sa.update(ab_tests)
                       .where(t.campaign_id == campaign_id, t.sequence == sequence)
                       .values(winner=winner, rule=rule, decided_at=decided_at, results=results))


async def ab_tests_of(conn: AsyncConnection, campaign_id: uuid.UUID) -> list[AnyRow]:
    query = (sa.select(ab_tests).where(ab_tests.c.campaign_id == campaign_id)
             .order_by(ab_tests.c.sequence))
    return list((await conn.execute(query)).all())


async def variant_counts(
    conn: AsyncConnection, campaign_id: uuid.UUID, sequence: int | None = None
) -> list[AnyRow]:
    """Per (sequence, variant): the addresses sent it, and of them those whose open or click
    was a person's. Before a test is decided only its slices have been sent anything."""
    s, e = sends.c, engagements.c
    human = e.human.is_(True)
    query = (
        sa.select(
            s.sequence, s.variant,
            sa.func.count(sa.distinct(s.email)).label("delivered"),
            sa.func.count(sa.distinct(e.email)).filter(e.kind == "open", human)
            .label("unique_human_opens"),
            sa.func.count(sa.distinct(e.email)).filter(e.kind == "click", human)
            .label("unique_human_clicks"),
        )
        .select_from(sends.outerjoin(engagements, sa.and_(
            e.campaign_id == s.campaign_id, e.sequence == s.sequence, e.email == s.email)))
        .where(s.campaign_id == campaign_id, s.variant.is_not(None))
        .group_by(s.sequence, s.variant)
        .order_by(s.sequence, s.variant)
    )
    if sequence is not None:
        query = query.where(s.sequence == sequence)
    return list((await conn.execute(query)).all())
