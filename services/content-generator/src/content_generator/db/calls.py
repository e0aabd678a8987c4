"""The LLM call log: every billed call, the outages counted per email, and what was spent."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from content_generator.db.tables import llm_calls, outages
from content_generator.providers.base import LlmCall


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
