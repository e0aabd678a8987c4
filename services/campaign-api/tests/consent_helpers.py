"""Lists and contacts put straight into the database for the consent tests (the lists API is
another module's), and the rows those tests read back."""

from __future__ import annotations

import uuid
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine

from campaign_api import usecases
from campaign_api.db.contact_tables import consents, contacts, list_members, lists

CONSENT_TEXT = "I agree to receive the monthly newsletter and can leave at any time."


async def workspace(engine: AsyncEngine, name: str = "acme") -> uuid.UUID:
    return (await usecases.create_workspace(engine, name)).id


async def make_list(engine: AsyncEngine, workspace_id: uuid.UUID, name: str = "Newsletter", *,
                    public: bool = True, consent_text: str = CONSENT_TEXT,
                    kind: str = "list") -> uuid.UUID:
    list_id = uuid.uuid4()
    async with engine.begin() as conn:
        await conn.execute(lists.insert().values(
            id=list_id, workspace_id=workspace_id, name=name, public=public,
            consent_text=consent_text, kind=kind, description=f"About {name}"))
    return list_id


async def make_contact(engine: AsyncEngine, workspace_id: uuid.UUID, email: str, *,
                       status: str = "subscribed", lists_of: tuple[uuid.UUID, ...] = (),
                       name: str = "") -> uuid.UUID:
    contact_id = uuid.uuid4()
    async with engine.begin() as conn:
        await conn.execute(contacts.insert().values(
            id=contact_id, workspace_id=workspace_id, email=email, status=status, name=name))
        for list_id in lists_of:
            await conn.execute(list_members.insert().values(list_id=list_id,
                                                            contact_id=contact_id))
    return contact_id


async def contact_row(engine: AsyncEngine, workspace_id: uuid.UUID, email: str) -> Any:
    async with engine.connect() as conn:
        return (await conn.execute(sa.select(contacts).where(
            contacts.c.workspace_id == workspace_id, contacts.c.email == email))).first()


async def consents_of(engine: AsyncEngine, contact_id: uuid.UUID) -> list[Any]:
    async with engine.connect() as conn:
        return list((await conn.execute(sa.select(consents).where(
            consents.c.contact_id == contact_id).order_by(consents.c.id))).all())


async def members_of(engine: AsyncEngine, list_id: uuid.UUID) -> list[str]:
    async with engine.connect() as conn:
        return list((await conn.execute(
            sa.select(contacts.c.email).join(list_members,
                                             list_members.c.contact_id == contacts.c.id)
            .where(list_members.c.list_id == list_id).order_by(contacts.c.email))).scalars())
