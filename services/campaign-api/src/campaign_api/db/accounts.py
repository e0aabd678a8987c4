"""Workspaces, their API keys, and dashboard sessions."""

from __future__ import annotations

import uuid
from datetime import timedelta

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncConnection

from campaign_api.db.tables import AnyRow, api_keys, dashboard_sessions, workspaces


async def workspace_for_key(conn: AsyncConnection, key_hash: str) -> uuid.UUID | None:
    row = (
        await conn.execute(
            sa.select(api_keys.c.workspace_id).where(
                api_keys.c.key_hash == key_hash, api_keys.c.revoked_at.is_(None)
            )
        )
    ).first()
    return row.workspace_id if row else None


async def ensure_workspace(conn: AsyncConnection, name: str) -> uuid.UUID:
    await conn.execute(
        insert(workspaces).values(id=uuid.uuid4(), name=name).on_conflict_do_nothing()
    )
    ws_id: uuid.UUID = (
        await conn.execute(sa.select(workspaces.c.id).where(workspaces.c.name == name))
    ).scalar_one()
    return ws_id


async def get_workspace(conn: AsyncConnection, workspace_id: uuid.UUID) -> AnyRow | None:
    return (await conn.execute(
        sa.select(workspaces).where(workspaces.c.id == workspace_id))).first()


async def add_api_key(
    conn: AsyncConnection, workspace_id: uuid.UUID, key_hash: str, name: str
) -> AnyRow:
    return (await conn.execute(
        api_keys.insert().values(id=uuid.uuid4(), workspace_id=workspace_id, key_hash=key_hash,
                                 name=name)
        .returning(api_keys.c.id, api_keys.c.name, api_keys.c.created_at, api_keys.c.revoked_at)
    )).one()


async def list_api_keys(conn: AsyncConnection, workspace_id: uuid.UUID) -> list[AnyRow]:
    return list((await conn.execute(
        sa.select(api_keys.c.id, api_keys.c.name, api_keys.c.created_at, api_keys.c.revoked_at)
        .where(api_keys.c.workspace_id == workspace_id)
        .order_by(api_keys.c.created_at, api_keys.c.id)
    )).all())


async def revoke_api_key(
    conn: AsyncConnection, workspace_id: uuid.UUID, key_id: uuid.UUID
) -> bool:
    """False when the workspace has no such key."""
    found = (await conn.execute(
        sa.update(api_keys)
        .where(api_keys.c.id == key_id, api_keys.c.workspace_id == workspace_id)
        .values(revoked_at=sa.func.coalesce(api_keys.c.revoked_at, sa.func.now()))
        .returning(api_keys.c.id)
    )).first()
    return found is not None


async def start_session(
    conn: AsyncConnection, key_hash: str, lifetime: timedelta
) -> tuple[uuid.UUID, uuid.UUID] | None:
    """A new session of a live key: (session id, workspace id); None for no such key."""
    key = (await conn.execute(
        sa.select(api_keys.c.id, api_keys.c.workspace_id)
        .where(api_keys.c.key_hash == key_hash, api_keys.c.revoked_at.is_(None))
    )).first()
    if key is None:
        return None
    # Expired sessions are dropped here: sign-ins are rare enough to carry the clean-up.
    await conn.execute(sa.delete(dashboard_sessions)
                       .where(dashboard_sessions.c.expires_at <= sa.func.now()))
    session_id = uuid.uuid4()
    await conn.execute(dashboard_sessions.insert().values(
        id=session_id, api_key_id=key.id, expires_at=sa.func.now() + lifetime))
    return session_id, key.workspace_id


async def session_workspace(conn: AsyncConnection, session_id: uuid.UUID) -> uuid.UUID | None:
    """The workspace of a session that is live, and whose key is too."""
    found: uuid.UUID | None = (await conn.execute(
        sa.select(api_keys.c.workspace_id)
        .join(dashboard_sessions, dashboard_sessions.c.api_key_id == api_keys.c.id)
        .where(dashboard_sessions.c.id == session_id,
               dashboard_sessions.c.expires_at > sa.func.now(), api_keys.c.revoked_at.is_(None))
    )).scalar_one_or_none()
    return found


async def end_session(conn: AsyncConnection, session_id: uuid.UUID) -> None:
    await conn.execute(sa.delete(dashboard_sessions).where(dashboard_sessions.c.id == session_id))
