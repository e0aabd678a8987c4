"""The content generator's tables and every query it runs."""

from __future__ import annotations

import uuid
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

import sqlalchemy as sa
from pgvector.sqlalchemy import Vector
from sqlalchemy.dialects.postgresql import ARRAY, JSONB, UUID, insert
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine

from content_generator.domain import (
    CampaignBrief,
    CampaignState,
    EmailContent,
    PreviousEmail,
    SimilarEmail,
)
from content_generator.domain import first_line as first_line_of
from content_generator.providers.base import LlmCall

metadata = sa.MetaData()

# Credits, to domain.COST_QUANTUM.
Cost = sa.Numeric(18, 10)

campaigns = sa.Table(
    "campaigns",
    metadata,
    sa.Column("campaign_id", UUID(as_uuid=True), primary_key=True),
    sa.Column("workspace_id", UUID(as_uuid=True), nullable=False),
    sa.Column("name", sa.Text, nullable=False),
    sa.Column("description", sa.Text, nullable=False),
    sa.Column("brand_voice", sa.Text, nullable=False),
    sa.Column("audience_description", sa.Text, nullable=False),
    sa.Column("model", sa.Text, nullable=False),
    sa.Column("fallback_models", JSONB, nullable=False),
    sa.Column("timezone", sa.Text, nullable=False),
    # active | paused | cancelled | completed
    sa.Column("state", sa.Text, nullable=False),
    sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False,
              server_default=sa.func.now(), onupdate=sa.func.now()),
)

generated_emails = sa.Table(
    "generated_emails",
    metadata,
    sa.Column("id", sa.BigInteger, sa.Identity(), primary_key=True),
    sa.Column("campaign_id", UUID(as_uuid=True), nullable=False),
    sa.Column("sequence", sa.Integer, nullable=False),
    sa.Column("subject", sa.Text, nullable=False),
    sa.Column("preheader", sa.Text, nullable=False),
    sa.Column("body_html", sa.Text, nullable=False),
    sa.Column("body_text", sa.Text, nullable=False),
    sa.Column("model", sa.Text, nullable=False),
    sa.Column("provider", sa.Text, nullable=False),
    sa.Column("structure", sa.Text, nullable=False),
    sa.Column("prompt_version", sa.Text, nullable=False),
    sa.Column("prompt_tokens", sa.Integer, nullable=False),
    sa.Column("completion_tokens", sa.Integer, nullable=False),
    sa.Column("cost", Cost, nullable=False),
    sa.Column("latency_ms", sa.Integer, nullable=False),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False,
              server_default=sa.func.now()),
    # Semantic memory: no fixed dimension, since the embedder decides it; vectors are compared
    # only with those of the same `embedding_model`, within one campaign (an exact scan over a
    # campaign's emails, which needs no ANN index).
    sa.Column("embedding", Vector()),
    sa.Column("embedding_model", sa.Text),
    # Cosine similarity to the closest earlier email of the campaign when it was written.
    sa.Column("max_similarity", sa.Float),
    sa.UniqueConstraint("campaign_id", "sequence", name="generated_emails_campaign_sequence"),
)

llm_calls = sa.Table(
    "llm_calls",
    metadata,
    sa.Column("id", sa.BigInteger, sa.Identity(), primary_key=True),
    sa.Column("campaign_id", UUID(as_uuid=True), nullable=False),
    sa.Column("sequence", sa.Integer, nullable=False),
    sa.Column("provider", sa.Text, nullable=False),
    sa.Column("model", sa.Text, nullable=False),
    # ok | error
    sa.Column("status", sa.Text, nullable=False),
    sa.Column("http_status", sa.Integer),
    sa.Column("prompt_tokens", sa.Integer, nullable=False),
    sa.Column("completion_tokens", sa.Integer, nullable=False),
    sa.Column("cost", Cost, nullable=False),
    sa.Column("latency_ms", sa.Integer, nullable=False),
    sa.Column("error", sa.Text),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False,
              server_default=sa.func.now()),
    # NULL only on rows written before workspaces were recorded.
    sa.Column("workspace_id", UUID(as_uuid=True)),
    # chat | embedding
    sa.Column("kind", sa.Text, nullable=False, server_default="chat"),
    # Calls made for a preview draft: billed, but for no stored email.
    sa.Column("preview", sa.Boolean, nullable=False, server_default=sa.false()),
    sa.Index("llm_calls_campaign", "campaign_id", "sequence"),
    sa.Index("llm_calls_workspace_month", "workspace_id", "created_at"),
)

workspaces = sa.Table(
    "workspaces",
    metadata,
    sa.Column("workspace_id", UUID(as_uuid=True), primary_key=True),
    # Credits per calendar month (UTC); NULL: no limit.
    sa.Column("monthly_llm_budget", Cost),
    sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False,
              server_default=sa.func.now()),
)

# Times every model failed an email, counted outside the unit of work that rolls back, so the
# degradation policy knows how many tries are left.
outages = sa.Table(
    "generation_outages",
    metadata,
    sa.Column("campaign_id", UUID(as_uuid=True), primary_key=True),
    sa.Column("sequence", sa.Integer, primary_key=True),
    sa.Column("failures", sa.Integer, nullable=False),
    sa.Column("last_failed_at", sa.DateTime(timezone=True), nullable=False,
              server_default=sa.func.now()),
)

# Emails that could not be written for a reason retrying cannot fix; a later success for the
# same email removes the row.
content_failures = sa.Table(
    "content_failures",
    metadata,
    sa.Column("campaign_id", UUID(as_uuid=True), primary_key=True),
    sa.Column("sequence", sa.Integer, primary_key=True),
    sa.Column("reason", sa.Text, nullable=False),
    sa.Column("message", sa.Text, nullable=False),
    sa.Column("failed_at", sa.DateTime(timezone=True), nullable=False,
              server_default=sa.func.now()),
)


# Who is writing an email right now: taken before the model is asked (no transaction stays open
# during the call), given up with the outcome. A claim left by a process that died lapses at
# `expires_at`, when JetStream redelivers the email.due anyway.
claims = sa.Table(
    "generation_claims",
    metadata,
    sa.Column("campaign_id", UUID(as_uuid=True), primary_key=True),
    sa.Column("sequence", sa.Integer, primary_key=True),
    sa.Column("token", UUID(as_uuid=True), nullable=False),
    sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
)


def create_reader(url: str, *, pool_size: int) -> AsyncEngine:
    """The engine for the reads and claims around a model's call, outside any unit of work.
    Autocommit: no BEGIN/ROLLBACK round trips. No pre-ping: with asyncpg it costs three round
    trips per checkout (a connection found dead fails its statement, is replaced, and the
    event is retried). No overflow: a burst of emails waits for a pooled connection rather
    than opening and closing extra ones, each costing a connect, type introspection and the
    preparation of every statement."""
    return create_async_engine(url, pool_size=pool_size, max_overflow=0,
                               isolation_level="AUTOCOMMIT")


def vector_literal(vector: Sequence[float]) -> str:
    """pgvector's text form; built once per vector, however many statements bind it."""
    return "[" + ",".join(map(str, vector)) + "]"


async def save_campaign(
    conn: AsyncConnection, brief: CampaignBrief, workspace_id: uuid.UUID
) -> None:
    """Insert or refresh the brief; the lifecycle state is left to the lifecycle events."""
    values: dict[str, Any] = {
        "name": brief.name,
        "description": brief.description,
        "brand_voice": brief.brand_voice,
        "audience_description": brief.audience_description,
        "model": brief.model,
        "fallback_models": list(brief.fallback_models),
        "timezone": brief.timezone,
    }
    stmt = insert(campaigns).values(
        campaign_id=brief.campaign_id, workspace_id=workspace_id, state=brief.state, **values
    )
    await conn.execute(
        stmt.on_conflict_do_update(
            index_elements=[campaigns.c.campaign_id],
            set_={**values, "updated_at": sa.func.now()},
        )
    )


def _brief(r: sa.Row[Any]) -> CampaignBrief:
    return CampaignBrief(
        r.campaign_id, r.name, r.description, r.brand_voice, r.audience_description, r.model,
        tuple(r.fallback_models), r.timezone, r.state,
    )


async def get_campaign(
    conn: AsyncConnection, campaign_id: uuid.UUID, *, for_update: bool = False
) -> CampaignBrief | None:
    stmt = sa.select(campaigns).where(campaigns.c.campaign_id == campaign_id)
    if for_update:
        stmt = stmt.with_for_update()
    r = (await conn.execute(stmt)).first()
    return _brief(r) if r else None


async def campaign_workspace(conn: AsyncConnection, campaign_id: uuid.UUID) -> uuid.UUID | None:
    stmt = sa.select(campaigns.c.workspace_id).where(campaigns.c.campaign_id == campaign_id)
    return (await conn.execute(stmt)).scalar_one_or_none()


async def set_state(conn: AsyncConnection, campaign_id: uuid.UUID, state: CampaignState) -> None:
    await conn.execute(
        sa.update(campaigns).where(campaigns.c.campaign_id == campaign_id)
        .values(state=state, updated_at=sa.func.now())
    )


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
       c.fallback_models, c.timezone, c.state,
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
).columns(fallback_models=JSONB, budget=Cost, spent=Cost, held_for=sa.Float)


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
        brief=_brief(row) if row.campaign_id is not None else None, written=row.written,
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
    embedding, embedding_model, max_similarity)
SELECT :campaign_id, :sequence, :subject, :preheader, :body_html, :body_text, :model,
       :provider, :structure, :prompt_version, spend.prompt_tokens, spend.completion_tokens,
       spend.cost, :latency_ms, CAST(:embedding AS vector), :embedding_model, :max_similarity
FROM spend
ON CONFLICT ON CONSTRAINT generated_emails_campaign_sequence DO NOTHING
RETURNING prompt_tokens, completion_tokens, cost
""").bindparams(
    sa.bindparam("campaign_id", type_=_UUID), sa.bindparam("max_similarity", type_=sa.Float),
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


@dataclass(frozen=True)
class CallScope:
    """Whom the calls of one email (or one preview) are billed to."""

    workspace_id: uuid.UUID
    campaign_id: uuid.UUID
    sequence: int
    preview: bool = False


async def insert_calls(conn: AsyncConnection, scope: CallScope, calls: Sequence[LlmCall]) -> None:
    if not calls:
        return
    await conn.execute(llm_calls.insert(), [
        {
            "workspace_id": scope.workspace_id, "campaign_id": scope.campaign_id,
            "sequence": scope.sequence, "preview": scope.preview, "kind": c.kind,
            "provider": c.provider, "model": c.model, "status": c.status,
            "http_status": c.http_status, "prompt_tokens": c.usage.prompt_tokens,
            "completion_tokens": c.usage.completion_tokens, "cost": c.usage.cost,
            "latency_ms": c.latency_ms, "error": c.error,
        }
        for c in calls
    ])


class CallLog:
    """Writes in a transaction of its own, so what it records outlives a unit of work that
    rolls back: tokens spent on attempts that failed are spent all the same, and an outage
    counts towards the tries left."""

    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine

    async def record(self, scope: CallScope, calls: Sequence[LlmCall]) -> None:
        async with self._engine.begin() as conn:
            await insert_calls(conn, scope, calls)

    async def count_outage(self, campaign_id: uuid.UUID, sequence: int) -> int:
        """Counts one more outage for the email; the count so far, this one included."""
        new = insert(outages).values(campaign_id=campaign_id, sequence=sequence, failures=1)
        stmt = new.on_conflict_do_update(
            index_elements=[outages.c.campaign_id, outages.c.sequence],
            set_={"failures": outages.c.failures + 1, "last_failed_at": sa.func.now()},
        ).returning(outages.c.failures)
        async with self._engine.begin() as conn:
            return int((await conn.execute(stmt)).scalar_one())


async def save_workspace(
    conn: AsyncConnection, workspace_id: uuid.UUID, budget: Decimal | None
) -> None:
    stmt = insert(workspaces).values(workspace_id=workspace_id, monthly_llm_budget=budget)
    await conn.execute(stmt.on_conflict_do_update(
        index_elements=[workspaces.c.workspace_id],
        set_={"monthly_llm_budget": budget, "updated_at": sa.func.now()},
    ))


async def workspace_budget(conn: AsyncConnection, workspace_id: uuid.UUID) -> Decimal | None:
    stmt = sa.select(workspaces.c.monthly_llm_budget).where(
        workspaces.c.workspace_id == workspace_id
    )
    return (await conn.execute(stmt)).scalar_one_or_none()


@dataclass(frozen=True)
class Spend:
    prompt_tokens: int
    completion_tokens: int
    cost: Decimal
    calls: int


def _spend(where: sa.ColumnElement[bool]) -> sa.Select[Any]:
    return sa.select(
        sa.func.coalesce(sa.func.sum(llm_calls.c.prompt_tokens), 0),
        sa.func.coalesce(sa.func.sum(llm_calls.c.completion_tokens), 0),
        sa.func.coalesce(sa.func.sum(llm_calls.c.cost), 0),
        sa.func.count(),
    ).where(where)


async def _read_spend(conn: AsyncConnection, where: sa.ColumnElement[bool]) -> Spend:
    row = (await conn.execute(_spend(where))).one()
    return Spend(int(row[0]), int(row[1]), Decimal(row[2]), int(row[3]))


async def workspace_spend(
    conn: AsyncConnection, workspace_id: uuid.UUID, *, since: datetime
) -> Spend:
    """Everything billed to the workspace since `since`: emails, retries, previews."""
    return await _read_spend(conn, sa.and_(llm_calls.c.workspace_id == workspace_id,
                                           llm_calls.c.created_at >= since))


async def campaign_spend(conn: AsyncConnection, campaign_id: uuid.UUID) -> Spend:
    return await _read_spend(conn, llm_calls.c.campaign_id == campaign_id)


async def email_spend(conn: AsyncConnection, campaign_id: uuid.UUID, sequence: int) -> Spend:
    """What one stored email cost, every billed attempt included (previews excluded)."""
    return await _read_spend(conn, sa.and_(
        llm_calls.c.campaign_id == campaign_id, llm_calls.c.sequence == sequence,
        llm_calls.c.preview.is_(False),
    ))


async def generated_count(conn: AsyncConnection, campaign_id: uuid.UUID) -> int:
    stmt = sa.select(sa.func.count()).where(generated_emails.c.campaign_id == campaign_id)
    return int((await conn.execute(stmt)).scalar_one())
