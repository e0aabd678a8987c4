"""Composition root: the scheduler's handlers and its due-work loop."""

from __future__ import annotations

from functools import partial

import structlog
from prometheus_client import Counter

from contracts import (
    ActivityRecorded,
    CampaignCancelled,
    CampaignCreated,
    CampaignPaused,
    CampaignResumed,
    CampaignUpdated,
    ContactErased,
    ContactsChanged,
    ContactsDeleted,
    EmailClicked,
    EmailOpened,
    ListMembersAdded,
    ListMembersRemoved,
    RecipientUnsubscribed,
    SuppressionAdded,
    SuppressionRemoved,
)
from scheduler import db, handlers, journey_handlers, journey_progress, journey_timers
from scheduler.db import journeys as journey_db
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


JOURNEY_ADVANCED = Counter("scheduler_enrollments_advanced_total",
                           "Due enrollments advanced by the journey loop")


async def journey_loop(
    runtime: Runtime, settings: Settings, clock: handlers.Clock = handlers.utc_now
) -> None:
    """Advance due enrollments a batch per transaction; a full batch goes on at once, else
    the loop sleeps until the next due time or the poll interval, whichever comes first."""
    batch = settings.journey_batch_size
    while not runtime.shutdown.requested:
        try:
            async with runtime.uow() as uow:
                advanced = await journey_timers.advance_due(uow, now=clock(), limit=batch)
                await uow.commit()
        except Exception as exc:  # the database may be briefly away; keep going
            log.warning("scheduler.journey_tick_failed", error=repr(exc))
            advanced = 0
        JOURNEY_ADVANCED.inc(advanced)
        if advanced < batch:
            await runtime.shutdown.sleep(await _until_enrollment_due(runtime, settings, clock))


async def _until_enrollment_due(
    runtime: Runtime, settings: Settings, clock: handlers.Clock
) -> float:
    try:
        async with runtime.engine.connect() as conn:
            at = await journey_db.next_due(conn)
    except Exception as exc:  # the database may be briefly away; poll as usual
        log.warning("scheduler.journey_next_due_failed", error=repr(exc))
        return settings.journey_poll_seconds
    if at is None:
        return settings.journey_poll_seconds
    return min(settings.journey_poll_seconds, max(0.0, (at - clock()).total_seconds()))


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
    table.on(ListMembersAdded)(journey_handlers.on_members_added)
    table.on(ListMembersRemoved)(journey_handlers.on_members_removed)
    table.on(ContactsChanged)(journey_handlers.on_contacts_changed)
    table.on(ContactsDeleted)(journey_handlers.on_contacts_deleted)
    table.on(SuppressionAdded)(journey_handlers.on_suppressed)
    table.on(SuppressionRemoved)(journey_handlers.on_unsuppressed)
    table.on(ActivityRecorded)(journey_handlers.on_activity)
    table.on(EmailOpened)(journey_handlers.on_opened)
    table.on(EmailClicked)(journey_handlers.on_clicked)
    table.on(RecipientUnsubscribed)(journey_handlers.on_unsubscribed)
    progress = journey_progress.progress_loop(
        runtime, interval=settings.journey_progress_seconds,
        poll=min(settings.journey_poll_seconds, settings.journey_progress_seconds))
    return ServiceParts(handlers=table, loops=[tick_loop(runtime, settings),
                                               journey_loop(runtime, settings), progress])
