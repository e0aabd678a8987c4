"""The workspace's settings: the frequency cap across campaigns (the mailer applies it) and
the monthly LLM budget (the content generator applies it). workspace.updated carries all of
them each time, and its consumers store what it carries, so every change publishes the whole,
the settings not changed included."""

from __future__ import annotations

import uuid

from sqlalchemy.ext.asyncio import AsyncEngine

from campaign_api import db
from campaign_api.db.tables import AnyRow
from campaign_api.failures import Invalid
from campaign_api.schemas_consent import WorkspaceSettings, WorkspaceSettingsUpdate
from contracts import WorkspaceUpdated
from contracts.events import WorkspaceSettingsPayload
from servicekit.db import UnitOfWork


def _settings(row: AnyRow) -> WorkspaceSettings:
    return WorkspaceSettings(name=row.name, frequency_cap_day=row.frequency_cap_day,
                             frequency_cap_week=row.frequency_cap_week, over_cap=row.over_cap,
                             monthly_llm_budget=row.monthly_llm_budget)


async def get_settings(engine: AsyncEngine, workspace_id: uuid.UUID) -> WorkspaceSettings:
    async with engine.connect() as conn:
        return _settings(await db.workspace_settings(conn, workspace_id))


async def update_settings(engine: AsyncEngine, workspace_id: uuid.UUID,
                          body: WorkspaceSettingsUpdate) -> WorkspaceSettings:
    changes = body.model_dump(exclude_unset=True)
    if "over_cap" in changes and changes["over_cap"] is None:
        raise Invalid.field("over_cap", "defer or skip")
    async with UnitOfWork(engine) as uow:
        current = await db.workspace_settings(uow.conn, workspace_id, for_update=True)
        week = changes.get("frequency_cap_week", current.frequency_cap_week)
        day = changes.get("frequency_cap_day", current.frequency_cap_day)
        if day is not None and week is not None and week < day:
            raise Invalid.field("frequency_cap_week",
                                "at least frequency_cap_day: a week holds every day of it")
        row = (await db.update_workspace_settings(uow.conn, workspace_id, **changes)
               if changes else current)
        uow.publish(WorkspaceUpdated.create(WorkspaceSettingsPayload(
            name=row.name, monthly_llm_budget=row.monthly_llm_budget,
            frequency_cap_day=row.frequency_cap_day, frequency_cap_week=row.frequency_cap_week,
            over_cap=row.over_cap), workspace_id=workspace_id))
        await uow.commit()
    return _settings(row)
