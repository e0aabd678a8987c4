"""The workspace's settings that workspace.updated carries."""

from __future__ import annotations

import uuid
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from campaign_api.db.tables import AnyRow, workspaces

_SETTINGS = (workspaces.c.name, workspaces.c.frequency_cap_day, workspaces.c.frequency_cap_week,
             workspaces.c.over_cap, workspaces.c.monthly_llm_budget)


async def workspace_settings(conn: AsyncConnection, workspace_id: uuid.UUID, *,
                             for_update: bool = False) -> AnyRow:
    query = sa.select(*_SETTINGS).where(workspaces.c.id == workspace_id)
    row: AnyRow = (await conn.execute(query.with_for_update() if for_update else query)).one()
    return row


async def update_workspace_settings(conn: AsyncConnection, workspace_id: uuid.UUID,
                                    **values: Any) -> AnyRow:
    row: AnyRow = (await conn.execute(sa.update(workspaces).where(workspaces.c.id == workspace_id)
                                      .values(**values).returning(*_SETTINGS))).one()
    return row
