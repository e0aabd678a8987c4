"""The shape of campaign-api's background loops (the segment refresher, the performance
publisher): take one due item at a time until none is left, then look again after `poll`
seconds, until the service stops. An item being taken commits before the loop returns."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

import structlog

from servicekit.shutdown import Shutdown

log = structlog.get_logger(__name__)


async def claim_until_stopped(take_one: Callable[[], Awaitable[object | None]],
                              shutdown: Shutdown, *, poll: float, failed_event: str) -> None:
    """`take_one` answers None when nothing is due (or every due item is being taken
    elsewhere). A failure is logged as `failed_event` and the loop goes on: the database may
    be briefly away."""
    while not shutdown.requested:
        try:
            taken = await take_one()
        except Exception as exc:
            log.warning(failed_event, error=repr(exc))
            taken = None
        if taken is None:
            await shutdown.sleep(poll)
