"""Workspaces and their API keys."""

from __future__ import annotations

import uuid
from datetime import timedelta

from sqlalchemy.ext.asyncio import AsyncEngine

from campaign_api import db
from campaign_api.domain import hash_api_key, new_api_key
from campaign_api.failures import NotFound
from campaign_api.schemas import ApiKeyCreated, ApiKeyInfo, Workspace


async def create_workspace(engine: AsyncEngine, name: str) -> Workspace:
    """The workspace of that name, created if missing."""
    async with engine.begin() as conn:
        workspace_id = await db.ensure_workspace(conn, name)
        row = await db.get_workspace(conn, workspace_id)
    return Workspace.model_validate(row, from_attributes=True)


async def get_workspace(engine: AsyncEngine, workspace_id: uuid.UUID) -> Workspace:
    async with engine.connect() as conn:
        row = await db.get_workspace(conn, workspace_id)
    if row is None:
        raise NotFound(f"No workspace {workspace_id}.")
    return Workspace.model_validate(row, from_attributes=True)


async def create_api_key(engine: AsyncEngine, workspace_id: uuid.UUID,
                         name: str = "api") -> ApiKeyCreated:
    key = new_api_key()
    async with engine.begin() as conn:
        row = await db.add_api_key(conn, workspace_id, hash_api_key(key), name)
    return ApiKeyCreated(**ApiKeyInfo.model_validate(row, from_attributes=True).model_dump(),
                         key=key)


async def list_api_keys(engine: AsyncEngine, workspace_id: uuid.UUID) -> list[ApiKeyInfo]:
    async with engine.connect() as conn:
        rows = await db.list_api_keys(conn, workspace_id)
    return [ApiKeyInfo.model_validate(r, from_attributes=True) for r in rows]


async def revoke_api_key(engine: AsyncEngine, workspace_id: uuid.UUID,
                         key_id: uuid.UUID) -> None:
    async with engine.begin() as conn:
        if not await db.revoke_api_key(conn, workspace_id, key_id):
            raise NotFound(f"No API key {key_id} in this workspace.")


async def authenticate(engine: AsyncEngine, key: str) -> uuid.UUID | None:
    """The workspace of a live key; None for an unknown or revoked one."""
    async with engine.connect() as conn:
        return await db.workspace_for_key(conn, hash_api_key(key))


async def start_session(engine: AsyncEngine, key: str,
                        lifetime: timedelta) -> tuple[uuid.UUID, uuid.UUID] | None:
    """A dashboard session for a live key: (session id, workspace id), or None."""
    async with engine.begin() as conn:
        return await db.start_session(conn, hash_api_key(key), lifetime)


async def session_workspace(engine: AsyncEngine, session_id: uuid.UUID) -> uuid.UUID | None:
    """None once the session was ended, has expired, or its key was revoked."""
    async with engine.connect() as conn:
        return await db.session_workspace(conn, session_id)


async def end_session(engine: AsyncEngine, session_id: uuid.UUID) -> None:
    async with engine.begin() as conn:
        await db.end_session(conn, session_id)


async def campaign_ids(engine: AsyncEngine, workspace_id: uuid.UUID) -> set[uuid.UUID]:
    async with engine.connect() as conn:
        return await db.campaign_ids_of(conn, workspace_id)
