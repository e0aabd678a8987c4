"""The database away from a sender process: which errors say so, what the process does
meanwhile, and how long it keeps trying to write what it must.

While an outcome write or a lease renewal fails because the database is away, the process
starts no new SMTP send (those already on the wire finish): what it sent and has not yet
recorded stays bounded to what was in flight. The outcome writes are retried with backoff
until the database answers, at most until the claim's lease would have run out: past that
another mailer may have claimed the delivery again, and the attempts fence (db.record_outcomes)
drops the stale outcome anyway. Claims it did not send are released the same way, or left to
their lease.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from typing import TypeVar

import asyncpg
import sqlalchemy as sa
import structlog
from tenacity import AsyncRetrying, RetryCallState, retry_if_exception, wait_random_exponential

log = structlog.get_logger(__name__)

T = TypeVar("T")

# The server closed the session or is shutting down, starting up or recovering.
_DRIVER_AWAY = (
    OSError, TimeoutError, asyncpg.InterfaceError, asyncpg.PostgresConnectionError,
    asyncpg.CannotConnectNowError, asyncpg.AdminShutdownError, asyncpg.CrashShutdownError,
)

# Backoff between attempts: short at first (an immediate shutdown's restart takes a second or
# two), never longer than a second, so a write lands soon after the database is back.
_WAIT = wait_random_exponential(multiplier=0.05, max=1.0)


def database_away(exc: BaseException) -> bool:
    """Whether `exc` says the database could not be reached, rather than refused the work."""
    if isinstance(exc, sa.exc.DBAPIError):
        if exc.connection_invalidated:
            return True
        driver = exc.orig.__cause__ if exc.orig is not None else None
        return isinstance(driver or exc.orig, _DRIVER_AWAY)
    return isinstance(exc, _DRIVER_AWAY)


class Outage:
    """Whether this process's database is away: set by a write or renewal that could not reach
    it, cleared by the next statement that did."""

    def __init__(self) -> None:
        self._since: float | None = None  # time.monotonic

    @property
    def ongoing(self) -> bool:
        return self._since is not None

    def failed(self, exc: BaseException) -> None:
        if self._since is None:
            self._since = time.monotonic()
            log.warning("mailer.database_away", error=repr(exc))

    def answered(self) -> None:
        if self._since is not None:
            log.info("mailer.database_back", away_seconds=round(time.monotonic() - self._since, 3))
            self._since = None


async def persist(
    outage: Outage, until: Callable[[], bool], operation: Callable[[], Awaitable[T]]
) -> T:
    """Run `operation` (one transaction) until it commits; an attempt that fails because the
    database is away marks the outage and is tried again after a backoff, until `until()`
    holds (the claims' lease has run out), when the last error is raised."""

    def out_of_time(_: RetryCallState) -> bool:
        return until()

    async for attempt in AsyncRetrying(retry=retry_if_exception(database_away),
                                       stop=out_of_time, wait=_WAIT, reraise=True):
        with attempt:
            try:
                result = await operation()
            except Exception as exc:
                if database_away(exc):
                    outage.failed(exc)
                raise
    outage.answered()
    return result
