"""Composition root: the mailer's handlers, its SMTP sessions and its sender loop."""

from __future__ import annotations

from functools import partial

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
from mailer import handlers, processes
from mailer.settings import Settings
from servicekit.consumer import Handlers
from servicekit.runtime import Runtime, ServiceParts


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
    table.on(ContentGenerated)(
        partial(handlers.on_content_generated, default_sender=settings.default_sender)
    )
    table.on(RecipientUnsubscribed)(handlers.on_unsubscribed)
    return table


async def build(runtime: Runtime) -> ServiceParts:
    settings = runtime.settings
    assert isinstance(settings, Settings)
    pool, loops = processes.sending(runtime.engine, settings, 0)
    if settings.sender_processes > 1:
        supervisor = processes.Supervisor(settings.sender_processes)
        runtime.readiness.append(supervisor.readiness)
        loops.append(supervisor.run())
    return ServiceParts(handlers=handler_table(settings), loops=loops, on_stop=[pool.close])
