"""Double opt-in: a sign-up posted to a list's hosted form, the confirmation mail it sends
through the mailer (transactional: untracked, uncapped), and the signed link that confirms it.

Only the confirm link subscribes anyone: a sign-up stores the request and its consent record,
so an address typed by someone else receives one mail and nothing more."""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncEngine

from campaign_api import consent, db
from campaign_api.erasure import ErasureKey
from campaign_api.failures import NotFound
from campaign_api.usecases._contact_events import publish_contacts_changed, publish_members_added
from campaign_api.usecases.activity import signup_confirmed
from campaign_api.usecases.suppressions import unsuppress
from contracts import TransactionalRequested
from contracts.contacts import TransactionalPayload
from contracts.links import ConfirmClaims, InvalidLink, LinkSigner
from servicekit.db import UnitOfWork

# Taken off the suppression list by a confirmed sign-up: the person asked again, and proved
# the mailbox is theirs. A bounce or a complaint stays (the mailbox or the person said no).
LIFTED_BY_CONFIRMATION = frozenset({"unsubscribed"})


@dataclass(frozen=True)
class SignupForm:
    """What the hosted form shows."""

    list_id: uuid.UUID
    list_name: str
    description: str
    consent_text: str
    sender_name: str


@dataclass(frozen=True)
class Confirmed:
    email: str
    list_name: str
    already: bool  # confirmed before: nothing changed


async def signup_form(engine: AsyncEngine, list_id: uuid.UUID) -> SignupForm:
    """NotFound unless the list takes sign-ups (a public list)."""
    async with engine.connect() as conn:
        found = await db.signup_list(conn, list_id)
    if found is None:
        raise NotFound("list: no such list takes sign-ups")
    return SignupForm(list_id=found.id, list_name=found.name, description=found.description,
                      consent_text=found.consent_text, sender_name=found.workspace_name)


def form_url(base_url: str, list_id: uuid.UUID) -> str:
    return f"{base_url}/f/{list_id}"


async def embed_code(engine: AsyncEngine, workspace_id: uuid.UUID, list_id: uuid.UUID,
                     base_url: str) -> tuple[str, str]:
    """(the hosted form's URL, the HTML to embed) of one of the workspace's lists; NotFound
    for another workspace's list or one that is not public."""
    async with engine.connect() as conn:
        found = await db.workspace_list(conn, workspace_id, list_id)
    if found is None or not found.public:
        raise NotFound("list: no such public list in this workspace")
    url = form_url(base_url, list_id)
    return url, consent.embed_snippet(url, found.name, found.consent_text)


async def sign_up(
    engine: AsyncEngine, signer: LinkSigner, erasure: ErasureKey, base_url: str,
    list_id: uuid.UUID, form: consent.SignUp, *, ip: str | None, user_agent: str | None,
) -> None:
    """Record the request (the contact, 'pending' when new, and a consent record with the
    consent text shown) and ask the mailer to send the confirmation. An erased address is
    neither stored nor mailed; the visitor sees the same answer, so the form tells nobody
    which addresses were erased."""
    async with UnitOfWork(engine) as uow:
        shown = await db.signup_list(uow.conn, list_id)
        if shown is None:
            raise NotFound("list: no such list takes sign-ups")
        workspace_id = shown.workspace_id
        if await db.erased_among(uow.conn, workspace_id, erasure, [form.email]):
            return
        contact = await db.signup_contact(uow.conn, workspace_id, form.email, form.name)
        await db.record_consent(uow.conn, contact_id=contact.id, list_id=list_id, source="form",
                                ip=ip, user_agent=consent.user_agent(user_agent),
                                consent_text=shown.consent_text)
        if contact.inserted:
            publish_contacts_changed(uow, workspace_id, [contact], uuid.uuid4())
        token = signer.sign_confirm(ConfirmClaims(workspace_id, list_id, form.email))
        html, text = consent.confirmation_bodies(
            list_name=shown.name, sender_name=shown.workspace_name,
            consent_text=shown.consent_text, confirm_url=f"{base_url}/f/confirm/{token}")
        uow.publish(TransactionalRequested.create(TransactionalPayload(
            message_id=uuid.uuid4(), kind="confirmation", to=form.email, to_name=contact.name,
            from_name=shown.workspace_name, subject=consent.confirmation_subject(shown.name),
            body_html=html, body_text=text), workspace_id=workspace_id))
        await uow.commit()


async def confirm(engine: AsyncEngine, signer: LinkSigner, token: str) -> Confirmed:
    """Follow a confirm link: the consent confirmed, the contact subscribed and on the list.
    InvalidLink for a forged or expired link, or one whose contact or list is gone."""
    if len(token) > 4_096:
        raise InvalidLink("link too long")
    claims = signer.verify_confirm(token)
    async with UnitOfWork(engine) as uow:
        listed = await db.workspace_list(uow.conn, claims.workspace_id, claims.list_id)
        contact = await db.locked_contact(uow.conn, claims.workspace_id, claims.email)
        if listed is None or contact is None:
            raise InvalidLink("the sign-up is no longer there")
        if not await db.confirm_consent(uow.conn, contact.id, claims.list_id):
            if await db.is_member(uow.conn, claims.list_id, contact.id):
                return Confirmed(claims.email, listed.name, already=True)
            # Left the list since, or never signed up to it: nothing to confirm.
            raise InvalidLink("no sign-up to confirm")
        correlation = uuid.uuid4()
        reason = await db.suppression_reason(uow.conn, claims.workspace_id, claims.email)
        if reason in LIFTED_BY_CONFIRMATION:
            await unsuppress(uow, claims.workspace_id, claims.email,
                             "confirmed a sign-up (double opt-in)", correlation)
            reason = None
        if reason is None:
            changed = await db.set_contact_status(uow.conn, contact.id, "subscribed")
            if changed is not None:
                publish_contacts_changed(uow, claims.workspace_id, [changed], correlation)
        if await db.join_list(uow.conn, claims.list_id, contact.id):
            publish_members_added(uow, claims.workspace_id, claims.list_id, [claims.email],
                                  correlation)
        # What a journey triggered by a confirmed sign-up (to this form, or any) starts on.
        uow.publish(signup_confirmed(claims.workspace_id, claims.email, claims.list_id,
                                     correlation))
        await uow.commit()
    return Confirmed(claims.email, listed.name, already=False)
