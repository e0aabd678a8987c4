"""The content generator's tables and every query it runs."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

import sqlalchemy as sa
from pgvector.sqlalchemy import Vector
from sqlalchemy.dialects.postgresql import JSONB, UUID, insert
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

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


async def has_content(conn: AsyncConnection, campaign_id: uuid.UUID, sequence: int) -> bool:
    stmt = sa.select(sa.literal(1)).where(
        generated_emails.c.campaign_id == campaign_id, generated_emails.c.sequence == sequence
    )
    return (await conn.execute(stmt)).first() is not None


async def previous_emails(
    conn: AsyncConnection, campaign_id: uuid.UUID, *, before: int, limit: int
) -> list[PreviousEmail]:
    """The last `limit` emails before sequence `before`, oldest first."""
    rows = await conn.execute(
        sa.select(generated_emails.c.sequence, generated_emails.c.subject,
                  generated_emails.c.body_text)
        .where(generated_emails.c.campaign_id == campaign_id,
               generated_emails.c.sequence < before)
        .order_by(generated_emails.c.sequence.desc())
        .limit(limit)
    )
    return [PreviousEmail(r.sequence, r.subject, first_line_of(r.body_text)) for r in rows][::-1]


async def insert_generated(
    conn: AsyncConnection,
    campaign_id: uuid.UUID,
    sequence: int,
    email: EmailContent,
    **values: Any,
) -> bool:
    """False when the email already exists (another handler wrote it first)."""
    stmt = (
        insert(generated_emails)
        .values(campaign_id=campaign_id, sequence=sequence, subject=email.subject,
                preheader=email.preheader, body_html=email.body_html,
                body_text=email.body_text, **values)
        .on_conflict_do_nothing(constraint="generated_emails_campaign_sequence")
        .returning(generated_emails.c.id)
    )
    inserted = (await conn.execute(stmt)).first() is not None
    if inserted:
        # Both in one round trip: the email's recorded failure and outage count are over.
        failure = sa.delete(content_failures).where(
            content_failures.c.campaign_id == campaign_id,
            content_failures.c.sequence == sequence,
        ).cte("cleared_failure")
        await conn.execute(sa.delete(outages).where(
            outages.c.campaign_id == campaign_id, outages.c.sequence == sequence
        ).add_cte(failure))
    return inserted


async def record_failure(
    conn: AsyncConnection, campaign_id: uuid.UUID, sequence: int, reason: str, message: str
) -> None:
    stmt = insert(content_failures).values(
        campaign_id=campaign_id, sequence=sequence, reason=reason, message=message
    )
    await conn.execute(stmt.on_conflict_do_update(
        index_elements=[content_failures.c.campaign_id, content_failures.c.sequence],
        set_={"reason": reason, "message": message, "failed_at": sa.func.now()},
    ))


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


async def most_similar(
    conn: AsyncConnection,
    campaign_id: uuid.UUID,
    vector: Sequence[float],
    *,
    embedding_model: str,
    limit: int,
    before: int | None = None,
) -> list[SimilarEmail]:
    """The campaign's emails closest to `vector` (cosine), closest first."""
    distance = generated_emails.c.embedding.cosine_distance(list(vector))
    stmt = (
        sa.select(generated_emails.c.sequence, generated_emails.c.subject,
                  generated_emails.c.body_text, distance.label("distance"))
        .where(generated_emails.c.campaign_id == campaign_id,
               generated_emails.c.embedding_model == embedding_model)
        .order_by(distance)
        .limit(limit)
    )
    if before is not None:
        stmt = stmt.where(generated_emails.c.sequence < before)
    rows = await conn.execute(stmt)
    return [SimilarEmail(r.sequence, r.subject, first_line_of(r.body_text), 1.0 - r.distance)
            for r in rows]
