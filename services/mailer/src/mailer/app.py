"""Composition root: the mailer's handlers, its dispatcher, its SMTP sessions and its sender
loop."""

from __future__ import annotations

from functools import partial

import structlog

from contracts import (
    AbTestDecided,
    AudienceMembersAdded,
    AudienceMembersRemoved,
    CampaignCancelled,
    CampaignCompleted,
    CampaignCreated,
    CampaignPaused,
    CampaignResumed,
    CampaignUpdated,
    ContactErased,
    ContactsChanged,
    ContactsDeleted,
    ContentGenerated,
    JourneyStepDue,
    ListMembersAdded,
    ListMembersRemoved,
    RecipientUnsubscribed,
    SuppressionAdded,
    SuppressionRemoved,
    TransactionalRequested,
    WorkspaceUpdated,
)
from mailer import ab_tests, handlers, journeys, policy_handlers, processes
from mailer.dispatcher import dispatcher_loop
from mailer.settings import Settings
from mailer.transactional import transactional_loop
from servicekit.consumer import Handlers
from servicekit.runtime import Runtime, ServiceParts

log = structlog.get_logger(__name__)


def handler_table(settings: Settings) -> Handlers:
    table = Handlers()
    table.on(CampaignCreated)(handlers.on_campaign_defined)
    table.on(CampaignUpdated)(handlers.on_campaign_defined)
    table.on(CampaignPaused)(partial(handlers.on_lifecycle, change="paused"))
    table.on(CampaignResumed)(partial(handlers.on_lifecycle, change="resumed"))
    table.on(CampaignCancelled)(partial(handlers.on_lifecycle, change="cancelled"))
    table.on(CampaignCompleted)(partial(handlers.on_lifecycle, change="completed"))
    table.on(AudienceMembersAdded)(handlers.on_members_added)
    table.on(AudienceMembersRemoved)(handlers.on_members_removed)
    table.on(ContactsChanged)(handlers.on_contacts_changed)
    table.on(ContactsDeleted)(handlers.on_contacts_deleted)
    table.on(ListMembersAdded)(handlers.on_list_members_added)
    table.on(ListMembersRemoved)(handlers.on_list_members_removed)
    table.on(SuppressionAdded)(handlers.on_suppression_added)
    table.on(SuppressionRemoved)(handlers.on_suppression_removed)
    table.on(ContentGenerated)(handlers.on_content_generated)
    table.on(JourneyStepDue)(partial(journeys.on_step_due,
                                     default_sender=settings.default_sender))
    table.on(AbTestDecided)(ab_tests.on_ab_test_decided)
    table.on(RecipientUnsubscribed)(handlers.on_unsubscribed)
    table.on(WorkspaceUpdated)(policy_handlers.on_workspace_updated)
    table.on(TransactionalRequested)(policy_handlers.on_transactional_requested)
    table.on(ContactErased)(policy_handlers.on_contact_erased)
    return table


async def build(runtime: Runtime) -> ServiceParts:
    settings = runtime.settings
    assert isinstance(settings, Settings)
    # What a crash can leave in doubt, for whoever checks a run against it.
    log.info("mailer.crash_window", record_max_delay_seconds=settings.record_max_delay,
             max_in_doubt_per_process=settings.max_in_doubt, lease_seconds=settings.lease_seconds,
             sender_processes=settings.sender_processes)
    pool, sending = processes.sending(runtime.engine, settings, 0, runtime.shutdown)
    # Deliveries are created at each email's send time, from the members of that moment.
    loops = [sending, dispatcher_loop(runtime.engine, settings.default_sender,
                                      settings.poll_interval, shutdown=runtime.shutdown)]
    # Transactional mail goes from the `run` process only, over its campaign SMTP sessions.
    loops.append(transactional_loop(runtime.engine, pool, settings.send_options(),
                                    settings.poll_interval, shutdown=runtime.shutdown))
    if settings.sender_processes > 1:
        supervisor = processes.Supervisor(settings.sender_processes)
        runtime.readiness.append(supervisor.readiness)
        loops.append(supervisor.run(runtime.shutdown))
    return ServiceParts(handlers=handler_table(settings), loops=loops, on_stop=[pool.close])
