"""A tag put on, or taken off, many contacts of a workspace in one statement."""

from __future__ import annotations

import uuid
from collections.abc import Sequence

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import ARRAY, UUID
from sqlalchemy.ext.asyncio import AsyncConnection

from campaign_api.db.contact_rows import STATE
from campaign_api.db.contact_tables import contacts
from campaign_api.db.tables import AnyRow

_IDS = ARRAY(UUID(as_uuid=True))
_TEXTS = ARRAY(sa.Text)


async def retag(conn: AsyncConnection, workspace_id: uuid.UUID, ids: Sequence[uuid.UUID],
                tag: str, *, add: bool, max_tags: int) -> list[AnyRow]:
    """Add `tag` to (or remove it from) the workspace's contacts among `ids`; the rows that
    changed. Tags stay sorted as the contact rules keep them; a contact holding `max_tags`
    already is left as it is."""
    c = contacts.c
    has = c.tags.contains(sa.cast([tag], _TEXTS))
    new: sa.ColumnElement[list[str]] | sa.TextClause
    if add:
        new = sa.text("ARRAY(SELECT t FROM unnest(contacts.tags || CAST(:tag AS text[])) AS t "
                      "ORDER BY t)").bindparams(sa.bindparam("tag", [tag], type_=_TEXTS))
        which = sa.and_(sa.not_(has), sa.func.cardinality(c.tags) < max_tags)
    else:
        new = sa.func.array_remove(c.tags, tag)
        which = has
    return list((await conn.execute(
        sa.update(contacts).where(c.workspace_id == workspace_id,
                                  c.id == sa.func.any(sa.cast(list(ids), _IDS)), which)
        .values(tags=new, updated_at=sa.func.now()).returning(*STATE))).all())
