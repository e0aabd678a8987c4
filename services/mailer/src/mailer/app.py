"""Composition root: the mailer's handlers, its SMTP sessions and its sender loop."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from functools import partial

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
from mailer import handlers
from mailer.sender import MailTransport, SendOptions, send_due_batch
from mailer.settings import Settings
from mailer.smtp import SmtpPool
from servicekit.consumer import Handlers
from servicekit.runtime import Runtime, ServiceParts

log = structlog.get_logger(__name__)


async def sender_loop(
    runtime: Runtime, transport: MailTransport, options: SendOptions, poll_interval: float
) -> None:
    while True:
        try:
            claimed = await send_due_batch(
                runtime.engine, transport, options=options, now=datetime.now(UTC)
            )
        except Exception as exc:  # the database may be briefly away; keep sending
            log.warning("mailer.send_batch_failed", error=repr(exc))
            claimed = 0
        if claimed < options.batch_size:
            await asyncio.sleep(poll_interval)


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
    pool = SmtpPool(settings.smtp_config(), size=settings.smtp_pool_size)
    options = settings.send_options()
    # Several loops claim batches side by side, so a batch is claimed and rendered while
    # another one is on the wire; SKIP LOCKED keeps them apart.
    loops = [sender_loop(runtime, pool, options, settings.poll_interval)
             for _ in range(settings.pipeline_depth)]
    return ServiceParts(handlers=handler_table(settings), loops=loops, on_stop=[pool.close])
