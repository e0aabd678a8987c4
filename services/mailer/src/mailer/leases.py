"""The leases of one sender process's claims, kept alive by a heartbeat.

A claimed delivery is `sending` with `sending_since` set to the claim's time; another process
claims it again once that is older than the lease (`MAILER_LEASE_SECONDS`): its holder is
presumed dead. A live holder renews the lease of every claim it still holds every third of a
lease, in one statement, so the lease can be short: after a crash the deliveries it held are
sent again within a lease (and a poll), not minutes later.

A send starts only while its claim was confirmed (claimed, or renewed by a heartbeat) less
than half a lease ago: a process whose heartbeats fail (the database is away from it) starts
no send that another process could be about to claim again.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Callable, Iterable
from datetime import UTC, datetime, timedelta

import structlog
from sqlalchemy.ext.asyncio import AsyncEngine

from mailer import db

log = structlog.get_logger(__name__)


class Leases:
    def __init__(
        self, engine: AsyncEngine, lease: timedelta,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self._engine = engine
        self._clock = clock  # the claims' clock
        self._lease = lease.total_seconds()
        self.interval = self._lease / 3
        self._held: dict[uuid.UUID, int] = {}  # delivery id -> the attempt claimed
        # When the last renewal that covered every claim then held began (monotonic).
        self._renewed_at = float("-inf")

    def hold(self, claims: Iterable[tuple[uuid.UUID, int]]) -> None:
        self._held.update(claims)

    def drop(self, claims: Iterable[tuple[uuid.UUID, int]]) -> None:
        for delivery_id, attempts in claims:
            if self._held.get(delivery_id) == attempts:
                del self._held[delivery_id]

    def may_start(self, claimed_at: float) -> bool:
        """Whether a send of a claim made at `claimed_at` (monotonic) may start now."""
        confirmed = max(claimed_at, self._renewed_at)
        return time.monotonic() - confirmed < self._lease / 2

    async def renew(self) -> None:
        """One heartbeat; a failure is logged, and the next one tries again."""
        began, held = time.monotonic(), list(self._held.items())
        if not held:
            self._renewed_at = began
            return
        try:
            async with self._engine.begin() as conn:
                await db.renew_leases(conn, held, now=self._clock())
        except Exception as exc:  # the database may be briefly away
            log.warning("mailer.lease_renewal_failed", held=len(held), error=repr(exc))
            return
        self._renewed_at = began

    async def heartbeat(self) -> None:
        """Renews every `interval` seconds until cancelled (once the process's sender loops,
        drained, hold nothing)."""
        while True:
            await asyncio.sleep(self.interval)
            await self.renew()
