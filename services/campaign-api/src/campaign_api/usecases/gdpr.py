"""GDPR: one contact's data exported, or erased.

Erasure deletes every row campaign-api holds of the address in one transaction, keeps only
its keyed digest (campaign_api.erasure) so that the address is refused if it comes back, and
publishes contact.erased, which every service handles for what it holds (campaign-api too:
its own outbox and parked events, once the event is out)."""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy.ext.asyncio import AsyncEngine

from campaign_api import db
from campaign_api.erasure import ErasureKey
from campaign_api.failures import NotFound
from campaign_api.schemas_consent import ContactExport
from contracts import ContactErased
from contracts.contacts import ContactErasedPayload
from servicekit.db import UnitOfWork

_PROFILE = ("id", "email", "name", "fields", "tags", "timezone", "language", "status",
            "source", "created_at", "updated_at")


async def export_contact(engine: AsyncEngine, workspace_id: uuid.UUID,
                         contact_id: uuid.UUID) -> ContactExport:
    async with engine.connect() as conn:
        contact = await db.contact_of(conn, workspace_id, contact_id)
        if contact is None:
            raise NotFound("contact: no such contact in this workspace")
        rows = await db.export_rows(conn, workspace_id, contact_id, contact.email)
    profile: dict[str, Any] = {k: getattr(contact, k) for k in _PROFILE}
    return ContactExport(
        profile=profile, lists=rows["lists"], consents=rows["consents"],
        deliveries={"sent": rows["sent"], "failed": rows["failed"]},
        engagement=rows["engagement"],
        suppression=rows["suppression"][0] if rows["suppression"] else None)


async def erase_contact(engine: AsyncEngine, erasure: ErasureKey, workspace_id: uuid.UUID,
                        contact_id: uuid.UUID) -> None:
    async with UnitOfWork(engine) as uow:
        contact = await db.contact_of(uow.conn, workspace_id, contact_id)
        if contact is None:
            raise NotFound("contact: no such contact in this workspace")
        await db.erase_address(uow.conn, workspace_id, contact.email)
        await db.record_erased(uow.conn, workspace_id, erasure.digest(contact.email))
        uow.publish(ContactErased.create(ContactErasedPayload(email=contact.email),
                                         workspace_id=workspace_id))
        await uow.commit()
