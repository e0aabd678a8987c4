"""Forgetting an erased person: every row of a workspace that holds the address."""

from __future__ import annotations

import uuid

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import ARRAY, UUID
from sqlalchemy.ext.asyncio import AsyncConnection

from mailer.db.tables import contacts, memberships, suppressions, transactional_messages

# A delivery's id is md5("campaign:sequence:address") read as a UUID (see
# `dispatches.create_deliveries`): the ids of every email of the workspace's campaigns to the
# address are found through the primary key, without a pass over all deliveries.
_DELETE_DELIVERIES = sa.text("""
    DELETE FROM deliveries WHERE id IN (
        SELECT md5(ct.campaign_id::text || ':' || ct.sequence::text || ':' || a.email)::uuid
        FROM contents AS ct
        JOIN campaigns AS c ON c.campaign_id = ct.campaign_id
        CROSS JOIN unnest(CAST(:emails AS text[])) AS a(email)
        WHERE c.workspace_id = :workspace_id)
""").bindparams(sa.bindparam("emails", type_=ARRAY(sa.Text)),
                sa.bindparam("workspace_id", type_=UUID(as_uuid=True)))


async def erase_contact(
    conn: AsyncConnection, workspace_id: uuid.UUID, email: str
) -> dict[str, int]:
    """Delete the workspace's contact, memberships, deliveries, suppression and transactional
    messages of `email`; how many rows of each went."""
    # As sent and lower-cased: the address is stored as campaign-api normalised it, and a
    # suppression always lower-cased.
    spellings = sorted({email, email.lower()})
    deleted: dict[str, int] = {}
    deleted["deliveries"] = (await conn.execute(
        _DELETE_DELIVERIES, {"emails": spellings, "workspace_id": workspace_id})).rowcount
    for table in (memberships, contacts):
        deleted[table.name] = (await conn.execute(sa.delete(table).where(
            table.c.workspace_id == workspace_id, table.c.email.in_(spellings)))).rowcount
    deleted["suppressions"] = (await conn.execute(sa.delete(suppressions).where(
        suppressions.c.workspace_id == workspace_id,
        suppressions.c.email == email.lower()))).rowcount
    t = transactional_messages.c
    deleted["transactional_messages"] = (await conn.execute(
        sa.delete(transactional_messages).where(
            t.workspace_id == workspace_id,
            sa.func.lower(t.email) == email.lower()))).rowcount
    return deleted
