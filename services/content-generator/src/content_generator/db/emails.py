"""The generated emails: claiming one, storing it or its failure, and the campaign's memory."""

from __future__ import annotations

import uuid
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import ARRAY, JSONB, UUID, insert
from sqlalchemy.ext.asyncio import AsyncConnection

from content_generator.db.campaigns import brief_from_row
from content_generator.db.tables import Cost, claims, content_failures, generated_emails
from content_generator.domain import (
    CampaignBrief,
    CampaignState,
    EmailContent,
    PreviousEmail,
    SimilarEmail,
)
from content_generator.domain import first_line as first_line_of


def vector_literal(vector: Sequence[float]) -> str:
    """pgvector's text form; built once per vector, however many statements bind it."""
    return "[" + ",".join(map(str, vector)) + "]"


_UUID = UUID(as_uuid=True)

# One round trip for everything an email.due decides on before the model writes: the brief,
# whether the email exists, the workspace's budget (and, only when there is one, this month's
# spend), and the claim, taken only when the email is still to be written.
_CLAIM = sa.text("""
WITH written AS (
    SELECT EXISTS (SELECT 1 FROM generated_emails
                   WHERE campaign_id = :campaign_id AND sequence = :sequence) AS yes
), claim AS (
    INSERT INTO generation_claims AS held (campaign_id, sequence, token, expires_at)
    SELECT :campaign_id, :sequence, :token, now() + :lease
    WHERE NOT (SELECT yes FROM written)
      AND EXISTS (SELECT 1 FROM campaigns
                  WHERE campaign_id = :campaign_id AND state <> ALL(:no_content))
    ON CONFLICT (campaign_id, sequence) DO UPDATE
        SET token = excluded.token, expires_at = excluded.expires_at
        WHERE held.expires_at < now()
    RETURNING token
), budget AS (
    SELECT monthly_llm_budget AS amount FROM workspaces WHERE workspace_id = :workspace_id
)
SELECT c.campaign_id, c.name, c.description, c.brand_voice, c.audience_description, c.model,
       c.fallback_models, c.timezone, c.state, c.ab_test, c.journey_emails,
       (SELECT yes FROM written) AS written,
       (SELECT amount FROM budget) AS budget,
       CASE WHEN (SELECT amount FROM budget) IS NOT NULL THEN
           (SELECT coalesce(sum(cost), 0) FROM llm_calls
            WHERE workspace_id = :workspace_id AND created_at >= :since)
       END AS spent,
       EXISTS (SELECT 1 FROM claim) AS claimed,
       (SELECT extract(epoch FROM expires_at - now()) FROM generation_claims
        WHERE campaign_id = :campaign_id AND sequence = :sequence) AS held_for
FROM (SELECT 1) AS one LEFT JOIN campaigns AS c ON c.campaign_id = :campaign_id
""").bindparams(
    sa.bindparam("campaign_id", type_=_UUID), sa.bindparam("token", type_=_UUID),
    sa.bindparam("workspace_id", type_=_UUID), sa.bindparam("sequence", type_=sa.Integer),
    sa.bindparam("lease", type_=sa.Interval), sa.bindparam("since", type_=sa.DateTime(True)),
    sa.bindparam("no_content", type_=ARRAY(sa.Text)),
).columns(fallback_models=JSONB, ab_test=JSONB, journey_emails=JSONB, budget=Cost, spent=Cost,
           held_for=sa.Float)


@dataclass(frozen=True)
class EmailClaim:
    """Where an email stands as its email.due is handled."""

    brief: CampaignBrief | None  # None: the campaign is not known (yet)
    written: bool
    budget: Decimal | None  # the workspace's monthly budget; None: no limit
    spent: Decimal | None  # this month's spend, read only when there is a budget
    claimed: bool  # this handler may write the email
    held_for: float  # when not claimed: seconds until the other holder's claim lapses


async def claim_email(
    conn: AsyncConnection, campaign_id: uuid.UUID, sequence: int, *,
    workspace_id: uuid.UUID, token: uuid.UUID, lease: timedelta, since: datetime,
    no_content: Collection[CampaignState],
) -> EmailClaim:
    row = (await conn.execute(_CLAIM, {
        "campaign_id": campaign_id, "sequence": sequence, "workspace_id": workspace_id,
        "token": token, "lease": lease, "since": since, "no_content": list(no_content),
    })).one()
    return EmailClaim(
        brief=brief_from_row(row) if row.campaign_id is not None else None, written=row.written,
        budget=row.budget, spent=row.spent, claimed=row.claimed,
        held_for=max(0.0, row.held_for or 0.0),
    )


_RELEASE = sa.delete(claims).where(
    claims.c.campaign_id == sa.bindparam("campaign_id"),
    claims.c.sequence == sa.bindparam("sequence"), claims.c.token == sa.bindparam("token"),
)


async def release_claim(
    conn: AsyncConnection, campaign_id: uuid.UUID, sequence: int, token: uuid.UUID
) -> None:
    """Gives up this handler's claim (not one another handler took over since)."""
    await conn.execute(_RELEASE, {"campaign_id": campaign_id, "sequence": sequence,
                                  "token": token})


@dataclass(frozen=True)
class Recall:
    """What the prompt recalls of the campaign's earlier emails."""

    previous: list[PreviousEmail]  # the last ones, oldest first
    similar: list[SimilarEmail]  # the closest to the email's topic, closest first


# The last emails and the closest ones to a vector, in one round trip.
_RECALL = sa.text("""
(SELECT false AS similar, sequence, subject, body_text, NULL::float8 AS similarity
 FROM generated_emails
 WHERE campaign_id = :campaign_id AND sequence < :before
 ORDER BY sequence DESC LIMIT :recent)
UNION ALL
(SELECT true, sequence, subject, body_text, 1 - (embedding <=> CAST(:vector AS vector))
 FROM generated_emails
 WHERE campaign_id = :campaign_id AND embedding_model = :embedding_model
   AND sequence < :before
 ORDER BY embedding <=> CAST(:vector AS vector) LIMIT :similar)
""").bindparams(sa.bindparam("campaign_id", type_=_UUID))


async def recall(
    conn: AsyncConnection, campaign_id: uuid.UUID, *, before: int, recent: int,
    vector: str, embedding_model: str, similar: int,
) -> Recall:
    """`vector` as `vector_literal` gives it; only emails before sequence `before` count."""
    rows = (await conn.execute(_RECALL, {
        "campaign_id": campaign_id, "before": before, "recent": recent, "vector": vector,
        "embedding_model": embedding_model, "similar": similar,
    })).all()
    previous = [PreviousEmail(r.sequence, r.subject, first_line_of(r.body_text))
                for r in rows if not r.similar]
    return Recall(previous[::-1], [
        SimilarEmail(r.sequence, r.subject, first_line_of(r.body_text), r.similarity)
        for r in rows if r.similar
    ])


_CLOSEST = sa.text("""
SELECT sequence, subject, body_text, 1 - (embedding <=> CAST(:vector AS vector)) AS similarity
FROM generated_emails
WHERE campaign_id = :campaign_id AND embedding_model = :embedding_model AND sequence < :before
ORDER BY embedding <=> CAST(:vector AS vector) LIMIT 1
""").bindparams(sa.bindparam("campaign_id", type_=_UUID))


async def closest(
    conn: AsyncConnection, campaign_id: uuid.UUID, vector: str, *, embedding_model: str,
    before: int,
) -> SimilarEmail | None:
    """The campaign's email (before sequence `before`) closest to `vector` (cosine)."""
    r = (await conn.execute(_CLOSEST, {
        "campaign_id": campaign_id, "vector": vector, "embedding_model": embedding_model,
        "before": before,
    })).first()
    return SimilarEmail(r.sequence, r.subject, first_line_of(r.body_text), r.similarity) \
        if r else None


# The email with what it cost, every billed attempt included (the calls of this delivery are
# inserted first, in the same transaction); the claim, failure and outage count are over.
_STORE = sa.text("""
WITH cleared_claim AS (
    DELETE FROM generation_claims WHERE campaign_id = :campaign_id AND sequence = :sequence
), cleared_failure AS (
    DELETE FROM content_failures WHERE campaign_id = :campaign_id AND sequence = :sequence
), cleared_outage AS (
    DELETE FROM generation_outages WHERE campaign_id = :campaign_id AND sequence = :sequence
), spend AS (
    SELECT coalesce(sum(prompt_tokens), 0) AS prompt_tokens,
           coalesce(sum(completion_tokens), 0) AS completion_tokens,
           coalesce(sum(cost), 0) AS cost
    FROM llm_calls WHERE campaign_id = :campaign_id AND sequence = :sequence AND NOT preview
)
INSERT INTO generated_emails (
    campaign_id, sequence, subject, preheader, body_html, body_text, model, provider,
    structure, prompt_version, prompt_tokens, completion_tokens, cost, latency_ms,
    embedding, embedding_model, max_similarity, send_at, structure_choice)
SELECT :campaign_id, :sequence, :subject, :preheader, :body_html, :body_text, :model,
       :provider, :structure, :prompt_version, spend.prompt_tokens, spend.completion_tokens,
       spend.cost, :latency_ms, CAST(:embedding AS vector), :embedding_model, :max_similarity,
       :send_at, :structure_choice
FROM spend
ON CONFLICT ON CONSTRAINT generated_emails_campaign_sequence DO NOTHING
RETURNING prompt_tokens, completion_tokens, cost
""").bindparams(
    sa.bindparam("campaign_id", type_=_UUID), sa.bindparam("max_similarity", type_=sa.Float),
    sa.bindparam("send_at", type_=sa.DateTime(True)),
    sa.bindparam("structure_choice", type_=JSONB(none_as_null=True)),
).columns(cost=Cost)


@dataclass(frozen=True)
class Stored:
    """What the email stored cost, every billed attempt included."""

    prompt_tokens: int
    completion_tokens: int
    cost: Decimal


async def store_generated(
    conn: AsyncConnection,
    campaign_id: uuid.UUID,
    sequence: int,
    email: EmailContent,
    *,
    embedding: str,
    **values: Any,
) -> Stored | None:
    """None when the email already exists (another handler wrote it first). `embedding` as
    `vector_literal` gives it; `values`: the other columns but the spend."""
    row = (await conn.execute(_STORE, {
        "campaign_id": campaign_id, "sequence": sequence, "subject": email.subject,
        "preheader": email.preheader, "body_html": email.body_html,
        "body_text": email.body_text, "embedding": embedding, **values,
    })).first()
    return Stored(row.prompt_tokens, row.completion_tokens, row.cost) if row else None


async def record_failure(
    conn: AsyncConnection, campaign_id: uuid.UUID, sequence: int, reason: str, message: str
) -> None:
    """The email's failure, in one round trip with the end of its claim."""
    released = sa.delete(claims).where(
        claims.c.campaign_id == campaign_id, claims.c.sequence == sequence
    ).cte("released_claim")
    stmt = insert(content_failures).values(
        campaign_id=campaign_id, sequence=sequence, reason=reason, message=message
    )
    await conn.execute(stmt.on_conflict_do_update(
        index_elements=[content_failures.c.campaign_id, content_failures.c.sequence],
        set_={"reason": reason, "message": message, "failed_at": sa.func.now()},
    ).add_cte(released))


async def generated_count(conn: AsyncConnection, campaign_id: uuid.UUID) -> int:
    stmt = sa.select(sa.func.count()).where(generated_emails.c.campaign_id == campaign_id)
    return int((await conn.execute(stmt)).scalar_one())
