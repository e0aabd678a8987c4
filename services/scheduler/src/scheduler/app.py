"""Composition root: the scheduler's handlers and its due-work loop."""

from __future__ import annotations

from functools import partial

import structlog
from prometheus_client import Counter

from contracts import (
    CampaignCancelled,
    CampaignCreated,
    CampaignPaused,
    CampaignResumed,
    CampaignUpdated,
    ContactErased,
)
from scheduler import db, handlers
from scheduler.settings import Settings
from servicekit.consumer import Handlers
from servicekit.runtime import Runtime, ServiceParts

log = structlog.get_logger(__name__)

DUE_HANDLED = Counter("scheduler_due_handled_total", "Due schedules handled by the tick loop")


async def tick_loop(
    runtime: Runtime, settings: Settings, clock: handlers.Clock = handlers.utc_now
) -> None:
    """Until the service stops: a tick in progress commits, then the loop returns."""
    while not runtime.shutdown.requested:
        try:
            async with runtime.uow() as uow:
                handled = await handlers.emit_due(
                    uow, now=clock(), lead=settings.lead_time,
                    catch_up=settings.catch_up_window, limit=settings.batch_size,
                )
                await uow.commit()
        except Exception as exc:  # the database may be briefly away; keep ticking
            log.warning("scheduler.tick_failed", error=repr(exc))
            handled = 0
        DUE_HANDLED.inc(handled)
        if handled < settings.batch_size:
            await runtime.shutdown.sleep(await _until_next_due(runtime, settings, clock))


async def _until_next_due(
    runtime: Runtime, settings: Settings, clock: handlers.Clock
) -> float:
    """Seconds to sleep: until the earliest due time when it comes before the next regular
    tick, so a burst due at 09:00 starts at 09:00 and not up to a tick later. Schedules
    created or resumed meanwhile are found by the regular tick."""
    try:
        async with runtime.engine.connect() as conn:
            at = await db.next_due(conn)
    except Exception as exc:  # the database may be briefly away; tick as usual
        log.warning("scheduler.next_due_failed", error=repr(exc))
        return settings.tick_seconds
    if at is None:
        return settings.tick_seconds
    return min(settings.tick_seconds, max(0.0, (at - clock()).total_seconds()))


async def build(runtime: Runtime) -> ServiceParts:
    settings = runtime.settings
    assert isinstance(settings, Settings)
    lead = settings.lead_time
    table = Handlers()
    table.on(CampaignCreated)(partial(handlers.on_created, lead=lead))
    table.on(CampaignUpdated)(partial(handlers.on_updated, lead=lead))
    table.on(CampaignPaused)(handlers.on_paused)
    table.on(CampaignResumed)(partial(handlers.on_resumed, lead=lead))
    table.on(CampaignCancelled)(handlers.on_cancelled)
    table.on(ContactErased)(handlers.on_contact_erased)
    return ServiceParts(handlers=table, loops=[tick_loop(runtime, settings)])
