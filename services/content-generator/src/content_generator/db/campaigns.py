"""The campaigns' briefs and the workspaces' budgets, as the lifecycle events leave them."""

from __future__ import annotations

import uuid
from decimal import Decimal
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncConnection

from content_generator.db.tables import campaigns, workspaces
from content_generator.domain import CampaignBrief, CampaignState
from content_generator.journey import JourneyEmail
from contracts import AbTest


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
        "ab_test": brief.ab_test.model_dump(mode="json") if brief.ab_test else None,
        "journey_emails": None if brief.journey is None
        else {str(e.sequence): e.to_json() for e in brief.journey},
    }
    stmt = insert(campaigns).values(
        campaign_id=brief.campaign_id, workspace_id=workspace_id, state=brief.state, **values
    )
    kept = campaigns.c.journey_emails
    await conn.execute(
        stmt.on_conflict_do_update(
            index_elements=[campaigns.c.campaign_id],
            set_={**values, "updated_at": sa.func.now(),
                  # A new version's steps over the earlier versions' (by content number).
                  "journey_emails": sa.case(
                      (stmt.excluded.journey_emails.is_(None), None),
                      else_=sa.func.coalesce(kept, sa.text("'{}'::jsonb"))
                      .op("||")(stmt.excluded.journey_emails))},
        )
    )


def brief_from_row(r: sa.Row[Any]) -> CampaignBrief:
    return CampaignBrief(
        r.campaign_id, r.name, r.description, r.brand_voice, r.audience_description, r.model,
        tuple(r.fallback_models), r.timezone, r.state,
        AbTest.model_validate(r.ab_test) if r.ab_test is not None else None,
        journey_of(r.journey_emails),
    )


def journey_of(stored: dict[str, Any] | None) -> tuple[JourneyEmail, ...] | None:
    if stored is None:
        return None
    return tuple(sorted((JourneyEmail.from_json(e) for e in stored.values()),
                        key=lambda e: e.sequence))


async def get_campaign(
    conn: AsyncConnection, campaign_id: uuid.UUID, *, for_update: bool = False
) -> CampaignBrief | None:
    stmt = sa.select(campaigns).where(campaigns.c.campaign_id == campaign_id)
    if for_update:
        stmt = stmt.with_for_update()
    r = (await conn.execute(stmt)).first()
    return brief_from_row(r) if r else None


async def campaign_workspace(conn: AsyncConnection, campaign_id: uuid.UUID) -> uuid.UUID | None:
    stmt = sa.select(campaigns.c.workspace_id).where(campaigns.c.campaign_id == campaign_id)
    return (await conn.execute(stmt)).scalar_one_or_none()


async def set_state(conn: AsyncConnection, campaign_id: uuid.UUID, state: CampaignState) -> None:
    await conn.execute(
        sa.update(campaigns).where(campaigns.c.campaign_id == campaign_id)
        .values(state=state, updated_at=sa.func.now())
    )


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
