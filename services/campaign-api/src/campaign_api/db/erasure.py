"""Erased addresses, kept as keyed digests (see `campaign_api.erasure`)."""

from __future__ import annotations

import uuid
from collections.abc import Collection

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import ARRAY, insert
from sqlalchemy.ext.asyncio import AsyncConnection

from campaign_api.db.contact_tables import erased_addresses
from campaign_api.erasure import ErasureKey


async def erased_digests(
    conn: AsyncConnection, workspace_id: uuid.UUID, digests: Collection[str]
) -> set[str]:
    """Which of `digests` are erased in the workspace: one query whatever their number (the
    array is one parameter, joined against the primary key)."""
    if not digests:
        return set()
    e = erased_addresses.c
    wanted = sa.func.unnest(sa.cast(list(digests), ARRAY(sa.Text))).table_valued(
        "digest").render_derived()
    query = (sa.select(e.digest)
             .join(wanted, wanted.c.digest == e.digest)
             .where(e.workspace_id == workspace_id))
    return set((await conn.execute(query)).scalars())


async def erased_among(
    conn: AsyncConnection, workspace_id: uuid.UUID, erasure: ErasureKey,
    addresses: Collection[str],
) -> set[str]:
    """Which of the normalised `addresses` were erased in the workspace (and so may not be
    imported, added or signed up again)."""
    by_digest = erasure.digests(addresses)
    return {by_digest[d] for d in await erased_digests(conn, workspace_id, by_digest.keys())}


async def record_erased(conn: AsyncConnection, workspace_id: uuid.UUID, digest: str) -> None:
    await conn.execute(insert(erased_addresses).values(workspace_id=workspace_id, digest=digest)
                       .on_conflict_do_nothing())
