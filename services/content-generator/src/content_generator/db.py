"""The content generator's tables and every query it runs."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import JSONB, UUID, insert
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from content_generator.domain import CampaignBrief, CampaignState, EmailContent, PreviousEmail
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
    sa.Index("llm_calls_campaign", "campaign_id", "sequence"),
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
        await conn.execute(sa.delete(content_failures).where(
            content_failures.c.campaign_id == campaign_id, content_failures.c.sequence == sequence
        ))
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


async def insert_calls(
    conn: AsyncConnection, campaign_id: uuid.UUID, sequence: int, calls: Sequence[LlmCall]
) -> None:
    if not calls:
        return
    await conn.execute(llm_calls.insert(), [
        {
            "campaign_id": campaign_id, "sequence": sequence, "provider": c.provider,
            "model": c.model, "status": c.status, "http_status": c.http_status,
            "prompt_tokens": c.usage.prompt_tokens,
            "completion_tokens": c.usage.completion_tokens, "cost": c.usage.cost,
            "latency_ms": c.latency_ms, "error": c.error,
        }
        for c in calls
    ])


class CallLog:
    """Records calls in a transaction of their own, so they outlive a unit of work that rolls
    back: tokens spent on attempts that failed are spent all the same."""

    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine

    async def record(self, campaign_id: uuid.UUID, sequence: int, calls: Sequence[LlmCall]) -> None:
        async with self._engine.begin() as conn:
            await insert_calls(conn, campaign_id, sequence, calls)
