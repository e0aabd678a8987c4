"""A tag put on, or taken off, up to 10,000 chosen contacts at once (the dashboard's bulk
action), in one statement, each change published as contacts.changed."""

from __future__ import annotations

import uuid
from collections.abc import Sequence

from sqlalchemy.ext.asyncio import AsyncEngine

from campaign_api import db
from campaign_api.contacts_domain import MAX_TAGS, InvalidContact, tags_of
from campaign_api.failures import Invalid
from campaign_api.schemas_contacts import MAX_BULK
from campaign_api.usecases._contact_events import publish_contacts_changed
from campaign_api.usecases._contact_writes import refused
from servicekit.db import UnitOfWork


async def retag_contacts(engine: AsyncEngine, workspace_id: uuid.UUID,
                         contact_ids: Sequence[uuid.UUID], tag: str, *, add: bool) -> int:
    """How many contacts changed. Another workspace's ids change nothing; a contact that has
    MAX_TAGS tags already gets no new one."""
    if len(contact_ids) > MAX_BULK:
        raise Invalid.field("contact_ids", f"at most {MAX_BULK}")
    try:
        wanted = tags_of([tag], path="tag")[0]
    except InvalidContact as exc:
        raise refused(exc) from exc
    async with UnitOfWork(engine) as uow:
        changed = await db.retag(uow.conn, workspace_id, list(dict.fromkeys(contact_ids)),
                                 wanted, add=add, max_tags=MAX_TAGS)
        publish_contacts_changed(uow, workspace_id, changed, uuid.uuid4())
        await uow.commit()
    return len(changed)
