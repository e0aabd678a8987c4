"""The leases of one sender process's claims, kept alive by a heartbeat.

A claimed delivery is `sending` with `sending_since` set to the claim's time; another process
claims it again once that is older than the lease (`MAILER_LEASE_SECONDS`): its holder is
presumed dead. A live holder renews the lease of every claim it still holds every third of a
lease, in one statement, so the lease can be short: after a crash the deliveries it held are
sent again within a lease (and a poll), not minutes later.

A send starts only while its claim was confirmed (claimed, or renewed by a heartbeat) less
than half a lease ago: a process whose heartbeats fail (the database is away from it) starts
no send that another process could be about to claim again. Nor does one whose outcome writes
or heartbeats cannot reach the database at all (mailer.outage): its `outage` is shared by
everything the process writes.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import structlog
from sqlalchemy.ext.asyncio import AsyncEngine

from mailer import db
from mailer.outage import Outage, database_away

log = structlog.get_logger(__name__)


@dataclass(eq=False)
class Held:
    """The claims of one batch, (delivery id, attempt) pairs, and when their lease was last
    confirmed (time.monotonic: at the claim, then by each heartbeat that renewed them)."""

    claims: list[tuple[uuid.UUID, int]]
    confirmed_at: float


class Leases:
    def __init__(
        self, engine: AsyncEngine, lease: timedelta,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self._engine = engine
        self._clock = clock  # the claims' clock
        self._lease = lease.total_seconds()
        self.interval = self._lease / 3
        self._held: set[Held] = set()
        self.outage = Outage()

    def hold(self, claims: Iterable[tuple[uuid.UUID, int]], *, claimed_at: float) -> Held:
        """Claims made at `claimed_at` (time.monotonic, taken before the claim began)."""
        held = Held(list(claims), claimed_at)
        self._held.add(held)
        return held

    def drop(self, held: Held) -> None:
        self._held.discard(held)

    def may_start(self, held: Held) -> bool:
        """Whether a send of one of these claims may start now."""
        return not self.outage.ongoing and time.monotonic() - held.confirmed_at < self._lease / 2

    def expired(self, held: Held) -> bool:
        """Whether these claims' lease may have run out: another process may claim them."""
        return time.monotonic() - held.confirmed_at >= self._lease

    async def renew(self) -> None:
        """One heartbeat; a failure is logged, and the next one tries again."""
        began, batches = time.monotonic(), list(self._held)
        claims = [claim for held in batches for claim in held.claims]
        if not claims:
            return
        try:
            async with self._engine.begin() as conn:
                await db.renew_leases(conn, claims, now=self._clock())
        except Exception as exc:  # the database may be briefly away
            log.warning("mailer.lease_renewal_failed", held=len(claims), error=repr(exc))
            if database_away(exc):
                self.outage.failed(exc)
            return
        self.outage.answered()
        # Only those renewed: a batch claimed meanwhile keeps the time of its claim.
        for held in batches:
            held.confirmed_at = max(held.confirmed_at, began)

    async def heartbeat(self) -> None:
        """Renews every `interval` seconds until cancelled (once the process's sender loops,
        drained, hold nothing)."""
        while True:
            await asyncio.sleep(self.interval)
            await self.renew()
