"""Use cases for the workspace's sending policy, transactional mail and erasure: the
frequency cap from workspace.updated, transactional.requested stored to be sent at once
(`mailer.transactional`), and contact.erased."""

from __future__ import annotations

import structlog

from contracts import ContactErased, TransactionalRequested, WorkspaceUpdated
from mailer.db import erasure, policy, transactional
from servicekit.db import UnitOfWork
from servicekit.erasure import erase_address

log = structlog.get_logger(__name__)


async def on_workspace_updated(event: WorkspaceUpdated, uow: UnitOfWork) -> None:
    p = event.payload
    await policy.save_workspace(
        uow.conn, event.workspace_id, per_day=p.frequency_cap_day,
        per_week=p.frequency_cap_week, over_cap=p.over_cap, changed_at=event.occurred_at)


async def on_transactional_requested(event: TransactionalRequested, uow: UnitOfWork) -> None:
    """Stored once by its message id, due at once: the transactional loop sends it."""
    p = event.payload
    stored = await transactional.store(
        uow.conn, due_at=event.occurred_at, message_id=p.message_id,
        workspace_id=event.workspace_id, kind=p.kind, email=p.to, name=p.to_name,
        from_name=p.from_name, from_email=p.from_email, subject=p.subject,
        body_html=p.body_html, body_text=p.body_text)
    if not stored:
        log.info("mailer.transactional_already_stored", message_id=str(p.message_id))


async def on_contact_erased(event: ContactErased, uow: UnitOfWork) -> None:
    """The address leaves every mailer table: the contact and their memberships, every
    delivery to them (the history too), their transactional messages and their suppression
    row. The suppression goes as well, since the address itself must not stay stored:
    campaign-api keeps an erased address's keyed hash and refuses to import it again, so
    nothing can bring it back here. Then the published events and parked messages naming it
    (servicekit.erasure); the other tables (campaigns, contents, dispatches, workspaces, the
    inbox) hold no contact's address."""
    deleted = await erasure.erase_contact(uow.conn, event.workspace_id, event.payload.email)
    scrubbed = await erase_address(uow.conn, event.payload.email)
    log.info("mailer.contact_erased", workspace_id=str(event.workspace_id), **deleted,
             outbox=scrubbed.outbox, parked=scrubbed.parked)
