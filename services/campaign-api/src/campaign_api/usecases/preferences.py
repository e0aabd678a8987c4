"""The preference centre every campaign email's footer links to: the workspace's public lists
with the contact's membership, leave or rejoin any, or unsubscribe from everything.

The signed link is the credential (contracts.links, purpose "preferences"): it names the
workspace, the campaign whose email carried it, and the address."""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncEngine

from campaign_api import consent, db
from campaign_api.db.tables import AnyRow
from campaign_api.usecases._contact_events import (
    publish_contacts_changed,
    publish_members_added,
    publish_members_removed,
)
from campaign_api.usecases.engagement import record_unsubscribe
from campaign_api.usecases.suppressions import suppress, unsuppress
from contracts.links import InvalidLink, LinkClaims, LinkSigner
from servicekit.db import UnitOfWork

# A contact in these statuses can rejoin nothing: the mailbox bounced, or they complained.
CANNOT_REJOIN = frozenset({"bounced", "complained"})
MAILABLE = frozenset({"subscribed", "pending"})


@dataclass(frozen=True)
class ListChoice:
    id: uuid.UUID
    name: str
    description: str
    member: bool


@dataclass(frozen=True)
class Preferences:
    email: str
    status: str
    lists: list[ListChoice]


def claims_of(signer: LinkSigner, token: str) -> LinkClaims:
    if len(token) > 8_192:
        raise InvalidLink("link too long")
    return signer.verify("preferences", token)


async def _contact(uow: UnitOfWork, claims: LinkClaims) -> AnyRow:
    contact = await db.locked_contact(uow.conn, claims.workspace_id, claims.email.lower())
    if contact is None:  # deleted or erased since the email went out
        raise InvalidLink("no such contact any more")
    return contact


async def preferences(engine: AsyncEngine, signer: LinkSigner, token: str) -> Preferences:
    claims = claims_of(signer, token)
    async with UnitOfWork(engine) as uow:
        contact = await _contact(uow, claims)
        rows = await db.public_lists_of(uow.conn, claims.workspace_id, contact.id)
    return Preferences(email=contact.email, status=contact.status, lists=[
        ListChoice(id=r.id, name=r.name, description=r.description, member=r.member)
        for r in rows])


async def _public_list(uow: UnitOfWork, claims: LinkClaims, list_id: uuid.UUID) -> AnyRow:
    listed = await db.workspace_list(uow.conn, claims.workspace_id, list_id)
    if listed is None or not listed.public:
        raise InvalidLink("list: not one of this sender's public lists")
    return listed


async def leave(engine: AsyncEngine, signer: LinkSigner, token: str,
                list_id: uuid.UUID) -> None:
    """Off the list, its consent withdrawn (the record stays). Repeating it changes nothing."""
    claims = claims_of(signer, token)
    async with UnitOfWork(engine) as uow:
        contact = await _contact(uow, claims)
        await _public_list(uow, claims, list_id)
        if await db.leave_list(uow.conn, list_id, contact.id):
            await db.withdraw_consents(uow.conn, contact.id, list_id)
            publish_members_removed(uow, claims.workspace_id, list_id, [contact.email],
                                    uuid.uuid4())
        await uow.commit()


async def rejoin(engine: AsyncEngine, signer: LinkSigner, token: str, list_id: uuid.UUID, *,
                 ip: str | None, user_agent: str | None) -> bool:
    """Back on the list with a new consent record (source 'preference_centre', confirmed: the
    link came in their own mail). One who unsubscribed from everything is subscribed again;
    False, and nothing changed, for a bounced or complained address."""
    claims = claims_of(signer, token)
    async with UnitOfWork(engine) as uow:
        contact = await _contact(uow, claims)
        listed = await _public_list(uow, claims, list_id)
        if contact.status in CANNOT_REJOIN:
            return False
        correlation = uuid.uuid4()
        await db.record_consent(uow.conn, contact_id=contact.id, list_id=list_id,
                                source="preference_centre", ip=ip,
                                user_agent=consent.user_agent(user_agent),
                                consent_text=listed.consent_text, confirmed=True)
        await unsuppress(uow, claims.workspace_id, contact.email,
                         "rejoined a list on the preference centre", correlation)
        changed = await db.set_contact_status(uow.conn, contact.id, "subscribed")
        if changed is not None:
            publish_contacts_changed(uow, claims.workspace_id, [changed], correlation)
        if await db.join_list(uow.conn, list_id, contact.id):
            publish_members_added(uow, claims.workspace_id, list_id, [contact.email],
                                  correlation)
        await uow.commit()
    return True


async def unsubscribe_everything(engine: AsyncEngine, signer: LinkSigner, token: str) -> None:
    """Status 'unsubscribed', on the suppression list (reason 'unsubscribed'), off every
    list, every consent withdrawn; counted as an unsubscribe from the campaign whose email
    carried the link."""
    claims = claims_of(signer, token)
    async with UnitOfWork(engine) as uow:
        contact = await _contact(uow, claims)
        correlation = uuid.uuid4()
        await suppress(uow, claims.workspace_id, [contact.email], "unsubscribed",
                       "preference centre", correlation)
        # Listed already for a bounce or a complaint, the contact keeps that status.
        if contact.status in MAILABLE:
            changed = await db.set_contact_status(uow.conn, contact.id, "unsubscribed")
            if changed is not None:
                publish_contacts_changed(uow, claims.workspace_id, [changed], correlation)
        for list_id in await db.leave_every_list(uow.conn, contact.id):
            publish_members_removed(uow, claims.workspace_id, list_id, [contact.email],
                                    correlation)
        await db.withdraw_consents(uow.conn, contact.id)
        await record_unsubscribe(uow, claims)
        await uow.commit()

