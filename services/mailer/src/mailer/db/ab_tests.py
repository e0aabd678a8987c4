"""A/B tests: an email's variants and test, the slice each new delivery falls in, and the
release of the held recipients to the winner."""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Sequence
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import UUID, insert
from sqlalchemy.ext.asyncio import AsyncConnection

from contracts import EmailVariant
from contracts.ab_tests import BUCKETS
from mailer.db.copies import ContentRow
from mailer.db.tables import ab_tests, ab_variants, deliveries


async def insert_test(
    conn: AsyncConnection, campaign_id: uuid.UUID, sequence: int, *, slice_buckets: int,
    variants: Sequence[EmailVariant],
) -> None:
    """Stored with the email's content; stored again, changes nothing."""
    await conn.execute(insert(ab_tests).values(
        campaign_id=campaign_id, sequence=sequence, variants=len(variants),
        slice_buckets=slice_buckets).on_conflict_do_nothing())
    await conn.execute(insert(ab_variants).values([
        {"campaign_id": campaign_id, "sequence": sequence, "key": v.key, "subject": v.subject,
         "preheader": v.preheader, "body_html": v.body_html, "body_text": v.body_text}
        for v in variants]).on_conflict_do_nothing())


# The deliveries a dispatch has just created for a tested email (pending, no variant yet):
# each falls in bucket md5("campaign:sequence:ab:address") mod BUCKETS, a draw that is the
# same on every replica and rerun; the first `variants` slices of `slice_buckets` buckets
# each are variants A, B, ... in order, and the rest is held until the winner is known (or
# is sent it at once when it is known already). A rerun finds nothing left to assign.
_ASSIGN = sa.text("""
    WITH test AS (
        SELECT variants, slice_buckets, winner FROM ab_tests
        WHERE campaign_id = :campaign_id AND sequence = :sequence
    ), fresh AS (
        SELECT d.id,
               ('x' || substr(md5(:salt || d.email), 1, 8))::bit(32)::bigint % :buckets
                   AS bucket
        FROM deliveries AS d
        WHERE d.campaign_id = :campaign_id AND d.sequence = :sequence
          AND d.state = 'pending' AND d.variant IS NULL AND EXISTS (SELECT 1 FROM test)
    )
    UPDATE deliveries AS d
    SET variant = CASE WHEN f.bucket < t.slice_buckets * t.variants
                       THEN chr(ascii('A') + (f.bucket / t.slice_buckets)::int)
                       ELSE t.winner END,
        state = CASE WHEN f.bucket < t.slice_buckets * t.variants OR t.winner IS NOT NULL
                     THEN 'pending' ELSE 'held' END
    FROM fresh AS f, test AS t
    WHERE d.id = f.id
""").bindparams(sa.bindparam("campaign_id", type_=UUID(as_uuid=True)))


async def assign_variants(conn: AsyncConnection, campaign_id: uuid.UUID, sequence: int) -> int:
    """The new deliveries of a tested email given their variant or held; 0 if not tested."""
    result = await conn.execute(_ASSIGN, {"campaign_id": campaign_id, "sequence": sequence,
                                          "salt": f"{campaign_id}:{sequence}:ab:",
                                          "buckets": BUCKETS})
    return int(result.rowcount)


async def test_known(conn: AsyncConnection, campaign_id: uuid.UUID, sequence: int) -> bool:
    t = ab_tests.c
    found = await conn.execute(sa.select(t.winner).where(t.campaign_id == campaign_id,
                                                         t.sequence == sequence))
    return found.first() is not None


async def decide(
    conn: AsyncConnection, campaign_id: uuid.UUID, sequence: int, *, winner: str, at: datetime
) -> bool:
    """Record the winner, once: False if the test was decided before (or is not known)."""
    t = ab_tests.c
    result = await conn.execute(
        sa.update(ab_tests)
        .where(t.campaign_id == campaign_id, t.sequence == sequence, t.winner.is_(None))
        .values(winner=winner, decided_at=at))
    return bool(result.rowcount)


async def release_held(
    conn: AsyncConnection, campaign_id: uuid.UUID, sequence: int, *, winner: str, now: datetime
) -> int:
    """Every held recipient of the email is sent the winner, due now."""
    d = deliveries.c
    result = await conn.execute(
        sa.update(deliveries)
        .where(d.campaign_id == campaign_id, d.sequence == sequence, d.state == "held")
        .values(state="pending", variant=winner, due_at=sa.func.greatest(d.due_at, now)))
    return int(result.rowcount)


async def variants_for(
    conn: AsyncConnection, keys: Iterable[tuple[uuid.UUID, int, str]],
    contents: dict[tuple[uuid.UUID, int], ContentRow],
) -> dict[tuple[uuid.UUID, int, str], ContentRow]:
    """Each (campaign, sequence, variant)'s content: the variant's subject and preheader, and
    its body where it has one (a content test), else the email's (`contents`)."""
    wanted = list(set(keys))
    if not wanted:
        return {}
    v = ab_variants.c
    rows = await conn.execute(sa.select(ab_variants).where(
        sa.tuple_(v.campaign_id, v.sequence, v.key).in_(wanted)))
    found: dict[tuple[uuid.UUID, int, str], ContentRow] = {}
    for r in rows:
        email = contents[(r.campaign_id, r.sequence)]
        found[(r.campaign_id, r.sequence, r.key)] = ContentRow(
            email.correlation_id, r.subject, r.preheader, r.body_html or email.body_html,
            r.body_text or email.body_text, email.trace_headers)
    return found
