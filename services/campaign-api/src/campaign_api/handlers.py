"""Read models projected from other services' events. The inbox makes each count once."""

from __future__ import annotations

from datetime import datetime

from campaign_api import db
from campaign_api.domain import still_ahead
from campaign_api.usecases import ab_tests
from campaign_api.usecases._contact_writes import suppress
from contracts import (
    CampaignCompleted,
    CampaignScheduled,
    ContactErased,
    ContentFailed,
    ContentGenerated,
    EmailFailed,
    EmailSent,
)
from contracts.links import tracked_urls
from servicekit.db import UnitOfWork
from servicekit.erasure import erase_address


async def on_content_generated(event: ContentGenerated, uow: UnitOfWork) -> None:
    p = event.payload
    await db.record_generated(
        uow.conn, campaign_id=p.campaign_id, sequence=p.sequence, subject=p.subject,
        model=p.model, structure=p.structure, send_at=p.send_at, prompt_tokens=p.prompt_tokens,
        completion_tokens=p.completion_tokens, cost=p.cost, failure=None,
        links=len(set(tracked_urls(p.body_html))),
        structure_choice=p.structure_choice.model_dump(mode="json") if p.structure_choice
        else None,
    )
    await db.bump_campaign(uow.conn, p.campaign_id, emails_generated=1)
    await ab_tests.record_test(uow.conn, event)


async def on_content_failed(event: ContentFailed, uow: UnitOfWork) -> None:
    p = event.payload
    await db.record_generated(uow.conn, campaign_id=p.campaign_id, sequence=p.sequence,
                              failure=f"{p.reason}: {p.message}")
    await db.bump_campaign(uow.conn, p.campaign_id, emails_failed=1)


async def on_email_sent(event: EmailSent, uow: UnitOfWork) -> None:
    p = event.payload
    await db.bump_campaign(uow.conn, p.campaign_id, deliveries_sent=1)
    await db.bump_email(uow.conn, p.campaign_id, p.sequence, sent=1)
    await db.record_send(uow.conn, campaign_id=p.campaign_id, sequence=p.sequence,
                         email=p.recipient.lower(), workspace_id=event.workspace_id,
                         sent_at=event.occurred_at, variant=p.variant)


async def on_email_failed(event: EmailFailed, uow: UnitOfWork) -> None:
    """Counted by kind, so that `bounced` is only what the receiving server refused, and kept
    with its reason and SMTP codes for the API and the campaign page."""
    p = event.payload
    new = await db.record_failure(
        uow.conn, campaign_id=p.campaign_id, sequence=p.sequence, recipient=p.recipient,
        kind=p.kind, reason=p.reason, smtp_code=p.smtp_code, enhanced_code=p.enhanced_code,
        failed_at=event.occurred_at)
    if new:
        await db.bump_campaign(uow.conn, p.campaign_id, deliveries_failed=1)
        await db.bump_email(uow.conn, p.campaign_id, p.sequence, failed=1, **{p.kind: 1})
    if p.kind == "bounced":
        # The address refused mail: no campaign of the workspace mails it again.
        await suppress(uow, event.workspace_id, [p.recipient.lower()], status="bounced",
                       reason="bounced", correlation_id=event.correlation_id,
                       unless=("complained",))


async def on_campaign_completed(event: CampaignCompleted, uow: UnitOfWork) -> None:
    await db.mark_completed(uow.conn, event.payload.campaign_id)


async def on_campaign_scheduled(event: CampaignScheduled, uow: UnitOfWork) -> None:
    """The scheduler's plan (N of "k of N", next send times); the status stays the API's,
    which changes it first and would otherwise see it flicker back."""
    p = event.payload
    times = p.next_send_times
    if p.state == "paused":
        # A paused plan carries no times; the active plan's times still ahead at the pause
        # are what the campaign resumes with (domain.still_ahead), so they are kept.
        previous = await db.planned_times(uow.conn, p.campaign_id)
        times = still_ahead([datetime.fromisoformat(t) for t in previous], event.occurred_at)
    await db.set_plan(uow.conn, p.campaign_id, planned_emails=p.total_emails,
                      next_sequence=p.next_sequence,
                      next_send_times=[t.isoformat() for t in times])


async def on_contact_erased(event: ContactErased, uow: UnitOfWork) -> None:
    """campaign-api erased the address from its tables in the transaction that published this
    (usecases.gdpr; done again here, which finds nothing, so that a replay is harmless). What
    can still hold it are the messaging tables: the published events that named it, the
    erasure's own included once it is out, and parked events."""
    await db.erase_address(uow.conn, event.workspace_id, event.payload.email)
    await erase_address(uow.conn, event.payload.email)
