"""Idempotency keys: the first request's answer, stored for its repeats."""

from __future__ import annotations

import uuid

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncConnection

from campaign_api.db.tables import AnyRow, idempotency_keys


async def claim_idempotency_key(
    conn: AsyncConnection, workspace_id: uuid.UUID, key: str, request_hash: str
) -> AnyRow | None:
    """None when this request is the first with the key; else the row stored by the first."""
    inserted = (await conn.execute(
        insert(idempotency_keys)
        .values(workspace_id=workspace_id, key=key, request_hash=request_hash)
        .on_conflict_do_nothing().returning(idempotency_keys.c.key)
    )).first()
    if inserted is not None:
        return None
    return (await conn.execute(sa.select(idempotency_keys).where(
        idempotency_keys.c.workspace_id == workspace_id, idempotency_keys.c.key == key))).one()


async def store_idempotent_response(
    conn: AsyncConnection, workspace_id: uuid.UUID, key: str, *, status_code: int,
    response: bytes, media_type: str,
) -> None:
    await conn.execute(
        sa.update(idempotency_keys)
        .where(idempotency_keys.c.workspace_id == workspace_id, idempotency_keys.c.key == key)
        .values(status_code=status_code, response=response, media_type=media_type)
    )


async def release_idempotency_key(
    conn: AsyncConnection, workspace_id: uuid.UUID, key: str
) -> None:
    await conn.execute(sa.delete(idempotency_keys).where(
        idempotency_keys.c.workspace_id == workspace_id, idempotency_keys.c.key == key))
