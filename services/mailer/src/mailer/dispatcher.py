"""The dispatcher: at each dispatch's time, the contacts who are members then of the campaign's
lists get their pending deliveries, so who receives an email is decided at its send time and
not when its content was written.

Each dispatch runs in one transaction that locks it (FOR UPDATE SKIP LOCKED: replicas take
different dispatches) and marks it done; the deliveries' ids are derived from (campaign,
sequence, address), so a dispatch run again after a crash creates nothing twice.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time

import structlog
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from mailer import ab_tests, db
from mailer.domain import Sender
from rules.sendtime import contact_send_time, due_at, email_date, known_zones
from rules.window import next_opening
from servicekit.shutdown import Shutdown

log = structlog.get_logger(__name__)


async def dispatch_due(engine: AsyncEngine, *, now: datetime, default_sender: Sender,
                       shutdown: Shutdown | None = None) -> int:
    """Run every dispatch due at `now`, one transaction each; the deliveries created."""
    created = 0
    while shutdown is None or not shutdown.requested:
        async with engine.begin() as conn:
            dispatch = await db.claim_dispatch(conn, now)
            if dispatch is None:
                break
            count = await _run(conn, dispatch, default_sender)
            if count:
                await ab_tests.assign(conn, dispatch)
            await db.finish_dispatch(conn, dispatch, at=datetime.now(UTC), created=count)
        created += count
        log.info("mailer.dispatched", campaign_id=str(dispatch.campaign_id),
                 sequence=dispatch.sequence, due_at=dispatch.due_at.isoformat(),
                 zones=len(dispatch.zones) if dispatch.zones is not None else None,
                 deliveries=count)
    return created


async def dispatcher_loop(
    engine: AsyncEngine, default_sender: Sender, poll_interval: float, *, shutdown: Shutdown
) -> None:
    """Until `shutdown` is requested: the due dispatches, then a wait of `poll_interval`."""
    while not shutdown.requested:
        try:
            await dispatch_due(engine, now=datetime.now(UTC), default_sender=default_sender,
                               shutdown=shutdown)
        except Exception as exc:  # the database may be briefly away; the dispatch waits
            log.warning("mailer.dispatch_failed", error=repr(exc))
        await shutdown.sleep(poll_interval)


async def _run(conn: AsyncConnection, dispatch: db.DueDispatch, default_sender: Sender) -> int:
    if dispatch.state == "cancelled":
        return 0
    zones = dispatch.zones
    if zones is not None and not await db.anyone_in(
            conn, dispatch.workspace_id, zones, dispatch.timezone):
        return 0  # nobody of the workspace is in these zones: no pass over the lists
    from_address = dispatch.from_email or default_sender.address
    domain = from_address.rpartition("@")[2]
    if dispatch.send_time_optimization:
        day = email_date(dispatch.send_at, dispatch.send_time, dispatch.timezone)
        return await db.create_deliveries(conn, dispatch, message_domain=domain,
                                          hour_dues=_hour_dues(dispatch, day),
                                          weekday=day.isoweekday())
    return await db.create_deliveries(conn, dispatch, message_domain=domain,
                                      zone_dues=_zone_dues(dispatch))


def _hour_dues(dispatch: db.DueDispatch, day: date) -> list[tuple[str, int, datetime]]:
    """With send-time optimisation: for each zone of the dispatch, when on local date `day`
    a contact there is due at each preferred hour, and one without any at the send time
    (`rules.sendtime.contact_send_time`), moved into the send window as `_zone_dues` moves
    them. 25 instants a zone, worked out here once for however many contacts."""
    zones = dispatch.zones if dispatch.zones is not None else sorted(
        known_zones() | {dispatch.timezone})
    window = dispatch.send_window
    hours = [(hour, contact_send_time(day, dispatch.send_time, [hour] * 7))
             for hour in range(24)]
    hours.append((db.NO_HOUR, contact_send_time(day, dispatch.send_time, None)))
    dues: list[tuple[str, int, datetime]] = []
    for zone in zones:
        for hour, at in hours:
            due = due_at(day, at, zone)
            if window is not None:
                due = next_opening(due, time.fromisoformat(window["start"]),
                                   time.fromisoformat(window["end"]), window["weekdays"], zone)
            dues.append((zone, hour, due))
    return dues


def _zone_dues(dispatch: db.DueDispatch) -> list[tuple[str, datetime]] | None:
    """Each zone's initial due time, or None when everyone is due at the dispatch's time.

    A send window is reckoned in the contact's zone, so with one every zone (every zone of the
    dispatch) gets the window's next opening at or after the dispatch's time there.
    """
    window = dispatch.send_window
    if window is None:
        if dispatch.zones is None:
            return None
        return [(zone, dispatch.due_at) for zone in dispatch.zones]
    zones = dispatch.zones if dispatch.zones is not None else sorted(
        known_zones() | {dispatch.timezone})
    start, end = time.fromisoformat(window["start"]), time.fromisoformat(window["end"])
    weekdays = window["weekdays"]
    return [(zone, next_opening(dispatch.due_at, start, end, weekdays, zone)) for zone in zones]
