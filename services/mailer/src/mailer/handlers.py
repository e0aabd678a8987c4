"""Use cases for the events the mailer consumes: its copies of campaigns, contacts and list
memberships, the suppression list, and each generated email with the dispatches that decide
its recipients at its send time (`mailer.dispatcher`)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

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
    ContactsChanged,
    ContactsDeleted,
    ContentGenerated,
    ListMembersAdded,
    ListMembersRemoved,
    RecipientUnsubscribed,
    SuppressionAdded,
    SuppressionRemoved,
)
from mailer import ab_tests, db
from mailer.domain import LifecycleEvent, campaign_transition
from rules.sendtime import FIRST_HOUR, due_groups, email_date, known_zones
from servicekit.consumer import RetryLater
from servicekit.db import UnitOfWork
from servicekit.tracing import current_trace_headers

log = structlog.get_logger(__name__)

# campaign.* arrive on another stream than content.*; a short wait is usually enough.
UNKNOWN_CAMPAIGN_DELAY = 5.0


async def on_campaign_defined(event: CampaignCreated | CampaignUpdated, uow: UnitOfWork) -> None:
    p = event.payload
    schedule = p.schedule
    window = schedule.send_window
    await db.upsert_campaign(
        uow.conn, campaign_id=p.campaign_id, workspace_id=event.workspace_id,
        audience_id=p.audience_id, name=p.name, from_name=p.from_name,
        from_email=p.from_email, reply_to=p.reply_to,
        target_include=p.targets.include, target_exclude=p.targets.exclude,
        timezone=schedule.timezone, send_time=schedule.send_time,
        per_contact_time=schedule.per_contact_time,
        send_time_optimization=schedule.send_time_optimization,
        send_window=window.model_dump(mode="json") if window is not None else None,
        kind=p.kind,
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


async def on_contacts_changed(event: ContactsChanged, uow: UnitOfWork) -> None:
    # Of one address twice in an event, the newest state; a zone this machine does not know is
    # no zone (the campaign's counts), so that every contact is in some dispatch's zones.
    newest: dict[str, db.ContactValues] = {}
    for c in event.payload.contacts:
        known = newest.get(c.email)
        if known is None or known.changed_at <= c.changed_at:
            newest[c.email] = db.ContactValues(
                c.email, c.name, dict(c.fields),
                c.timezone if c.timezone in known_zones() else None, c.language, c.status,
                c.changed_at, c.send_hours)
    await db.upsert_contacts(uow.conn, event.workspace_id, list(newest.values()))


async def on_contacts_deleted(event: ContactsDeleted, uow: UnitOfWork) -> None:
    await db.delete_contacts(uow.conn, event.workspace_id, event.payload.emails)


async def on_list_members_added(event: ListMembersAdded, uow: UnitOfWork) -> None:
    p = event.payload
    await db.add_members(uow.conn, event.workspace_id, p.list_id, p.emails)


async def on_list_members_removed(event: ListMembersRemoved, uow: UnitOfWork) -> None:
    p = event.payload
    await db.remove_members(uow.conn, event.workspace_id, p.list_id, p.emails)


async def on_suppression_added(event: SuppressionAdded, uow: UnitOfWork) -> None:
    p = event.payload
    await db.suppress_many(uow.conn, [(event.workspace_id, email) for email in p.emails],
                           p.reason, event.occurred_at)


async def on_suppression_removed(event: SuppressionRemoved, uow: UnitOfWork) -> None:
    await db.unsuppress(uow.conn, event.workspace_id, event.payload.emails)


async def on_members_added(event: AudienceMembersAdded, uow: UnitOfWork) -> None:
    """The old audience event, still in the stream: its members become contacts on the list
    whose id is the audience's."""
    # The last entry for an address wins, as it would have in separate events.
    members = {m.email: (m.email, m.name, dict(m.fields)) for m in event.payload.members}
    await db.upsert_audience_members(
        uow.conn, event.payload.audience_id, event.workspace_id, list(members.values()),
        event.occurred_at)


async def on_members_removed(event: AudienceMembersRemoved, uow: UnitOfWork) -> None:
    await db.remove_members(
        uow.conn, event.workspace_id, event.payload.audience_id, event.payload.emails)


async def on_unsubscribed(event: RecipientUnsubscribed, uow: UnitOfWork) -> None:
    await db.suppress(
        uow.conn, event.workspace_id, event.payload.email, "unsubscribed", event.occurred_at
    )


async def on_content_generated(event: ContentGenerated, uow: UnitOfWork) -> None:
    """Store the email once, with the dispatches that create its deliveries at its send time
    from the members of that moment: one at `send_at`, or with per-contact time one per
    instant at which `send_time` comes on the email's local date in some zone, or with
    send-time optimisation one per instant at which that date begins in some zone (a contact's
    preferred hour may be its first; the dispatcher gives each their own due time).

    A journey's email gets no dispatch: it goes to each contact reaching its step
    (`mailer.journeys`). Raises RetryLater until the campaign's own events have arrived.
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
    if stored:
        await ab_tests.store_test(uow.conn, p)
    if not stored:
        log.info("mailer.content_already_stored", campaign_id=str(p.campaign_id),
                 sequence=p.sequence)
        return
    if campaign.kind == "journey":
        # Each contact's email is created when they reach the step (`mailer.journeys`).
        log.info("mailer.content_stored", campaign_id=str(p.campaign_id), sequence=p.sequence,
                 dispatches=0)
        return
    timing = await db.campaign_timing(uow.conn, p.campaign_id)
    groups: list[tuple[datetime, Sequence[str] | None]] = [(p.send_at, None)]
    if timing.per_contact_time or timing.send_time_optimization:
        day = email_date(p.send_at, timing.send_time, timing.timezone)
        start = FIRST_HOUR if timing.send_time_optimization else timing.send_time
        groups = [(at, zones) for at, zones in due_groups(day, start)]
    await db.insert_dispatches(uow.conn, p.campaign_id, p.sequence, groups)
    log.info("mailer.content_stored", campaign_id=str(p.campaign_id), sequence=p.sequence,
             dispatches=len(groups), first_due=groups[0][0].isoformat())
