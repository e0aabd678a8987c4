"""Use cases for the events the mailer consumes: its copies of campaigns and audiences, the
suppression list, and one pending delivery per recipient for each generated email."""

from __future__ import annotations

import structlog

from contracts import (
    AudienceMembersAdded,
    AudienceMembersRemoved,
    CampaignCancelled,
    CampaignCompleted,
    CampaignCreated,
    CampaignPaused,
    CampaignResumed,
    CampaignUpdated,
    ContentGenerated,
    RecipientUnsubscribed,
)
from mailer import db
from mailer.domain import LifecycleEvent, Sender, campaign_transition
from servicekit.consumer import RetryLater
from servicekit.db import UnitOfWork
from servicekit.tracing import current_trace_headers

log = structlog.get_logger(__name__)

# campaign.* arrive on another stream than content.*; a short wait is usually enough.
UNKNOWN_CAMPAIGN_DELAY = 5.0


async def on_campaign_defined(event: CampaignCreated | CampaignUpdated, uow: UnitOfWork) -> None:
    p = event.payload
    await db.upsert_campaign(
        uow.conn, campaign_id=p.campaign_id, workspace_id=event.workspace_id,
        audience_id=p.audience_id, name=p.name, from_name=p.from_name,
        from_email=p.from_email, reply_to=p.reply_to,
    )


async def on_lifecycle(
    event: CampaignPaused | CampaignResumed | CampaignCancelled | CampaignCompleted,
    uow: UnitOfWork,
    *,
    change: LifecycleEvent,
) -> None:
    campaign_id = event.payload.campaign_id
    campaign = await db.get_campaign(uow.conn, campaign_id, for_update=True)
    if campaign is None:
        # The stream carries campaign.created first; nothing of this campaign is here to change.
        log.warning("mailer.lifecycle_of_unknown_campaign", campaign_id=str(campaign_id),
                    change=change)
        return
    state = campaign_transition(campaign.state, change)
    if state is None:
        return
    await db.set_campaign_state(uow.conn, campaign_id, state)
    if state == "cancelled":
        # Deliveries already being sent finish; the sender cancels any that slip past this.
        await db.cancel_pending(uow.conn, campaign_id)


async def on_members_added(event: AudienceMembersAdded, uow: UnitOfWork) -> None:
    # The last entry for an address wins, as it would have in separate events.
    members = {m.email: (m.email, m.name, dict(m.fields)) for m in event.payload.members}
    await db.upsert_members(
        uow.conn, event.payload.audience_id, event.workspace_id, list(members.values())
    )


async def on_members_removed(event: AudienceMembersRemoved, uow: UnitOfWork) -> None:
    await db.remove_members(
        uow.conn, event.payload.audience_id, event.payload.emails, event.occurred_at
    )


async def on_unsubscribed(event: RecipientUnsubscribed, uow: UnitOfWork) -> None:
    await db.suppress(
        uow.conn, event.workspace_id, event.payload.email, "unsubscribed", event.occurred_at
    )


async def on_content_generated(
    event: ContentGenerated, uow: UnitOfWork, *, default_sender: Sender
) -> None:
    """Store the email once and create a pending delivery for every current member.

    Raises RetryLater until the campaign's own events have arrived. A campaign cancelled while
    this runs is caught by the sender, which checks the campaign state at claim time.
    """
    p = event.payload
    campaign = await db.get_campaign(uow.conn, p.campaign_id)
    if campaign is None:
        raise RetryLater(f"campaign {p.campaign_id} not known yet", UNKNOWN_CAMPAIGN_DELAY)
    if campaign.state == "cancelled":
        return
    stored = await db.insert_content(
        uow.conn, campaign_id=p.campaign_id, sequence=p.sequence,
        correlation_id=event.correlation_id, send_at=p.send_at, subject=p.subject,
        preheader=p.preheader, body_html=p.body_html, body_text=p.body_text,
        # Taken in the handler's span: the sends, later, continue the email's trace.
        trace_headers=current_trace_headers() or None,
    )
    if not stored:
        log.info("mailer.content_already_stored", campaign_id=str(p.campaign_id),
                 sequence=p.sequence)
        return
    from_address = campaign.from_email or default_sender.address
    created = await db.create_deliveries(
        uow.conn, campaign_id=p.campaign_id, sequence=p.sequence,
        audience_id=campaign.audience_id, due_at=p.send_at,
        message_domain=from_address.rpartition("@")[2],
    )
    log.info("mailer.deliveries_created", campaign_id=str(p.campaign_id), sequence=p.sequence,
             deliveries=created)
