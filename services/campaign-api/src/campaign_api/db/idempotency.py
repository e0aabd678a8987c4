"""Idempotency keys: the first request's answer, stored for its repeats.

The claim and the answer are one transaction, kept open on its own connection while the first
request is answered (see `campaign_api.idempotency`): a claim is never committed without its
answer, so one whose owner died is rolled back by PostgreSQL and frees the key."""

from __future__ import annotations

import uuid

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncConnection

from campaign_api.db.tables import AnyRow, idempotency_keys

# How long a repeat waits for the first request's transaction before it answers 409; short,
# as the client is told to retry.
CLAIM_LOCK_TIMEOUT = "2s"
LOCK_NOT_AVAILABLE = "55P03"


class ClaimHeldError(Exception):
    """The key is claimed by a request still being answered (its transaction is open)."""


async def claim_idempotency_key(
    conn: AsyncConnection, workspace_id: uuid.UUID, key: str, request_hash: str
) -> AnyRow | None:
    """None when this request is the first with the key, its claim left uncommitted in the
    transaction of `conn`; else the row stored by the first. ClaimHeldError while the first is
    still being answered."""
    await conn.execute(sa.text(f"SET LOCAL lock_timeout = '{CLAIM_LOCK_TIMEOUT}'"))
    try:
        # Waits on the primary key while another transaction holds an uncommitted claim of the
        # key: it goes on once that one commits (then the row is read) or rolls back (then
        # this insert claims the key).
        inserted = (await conn.execute(
            insert(idempotency_keys)
            .values(workspace_id=workspace_id, key=key, request_hash=request_hash)
            .on_conflict_do_nothing().returning(idempotency_keys.c.key)
        )).first()
    except DBAPIError as exc:
        if getattr(exc.orig, "sqlstate", None) == LOCK_NOT_AVAILABLE:
            raise ClaimHeldError(key) from exc
        raise
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
