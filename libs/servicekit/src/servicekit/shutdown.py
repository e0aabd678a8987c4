"""An orderly stop, as every part of a service sees it.

SIGTERM or SIGINT requests it once. From then on each part stops taking new work (consumers
stop fetching, loops stop claiming) and finishes what it holds within the grace
(`SHUTDOWN_GRACE_SECONDS`); what is still running when the grace ends is cancelled, and hands
its work back at once (a message nak'ed without delay, a claim released) rather than leaving
it to wait out an ack wait or a lease.

A part stops cooperatively by checking `requested`, and sleeps with `sleep`, which returns as
soon as a stop is requested.
"""

from __future__ import annotations

import asyncio
import contextlib
import time

# SHUTDOWN_GRACE_SECONDS unless set.
DEFAULT_GRACE_SECONDS = 20.0
# After the grace: how long the outbox relay gets to publish what the drained work wrote (its
# own acks time out sooner). A deployment's grace must exceed the two together.
FLUSH_SECONDS = 10.0


class Shutdown:
    def __init__(self, grace: float) -> None:
        self.grace = grace
        self._requested = asyncio.Event()
        self._deadline: float | None = None

    @property
    def requested(self) -> bool:
        return self._requested.is_set()

    def request(self, *, grace: float | None = None) -> None:
        """Begin the stop; `grace` cuts the grace shorter (0: stop at once). Repeatable: a
        later call can only bring the end of the grace forward."""
        deadline = time.monotonic() + (self.grace if grace is None else min(grace, self.grace))
        if self._deadline is None or deadline < self._deadline:
            self._deadline = deadline
        self._requested.set()

    async def wait(self) -> None:
        await self._requested.wait()

    async def sleep(self, seconds: float) -> bool:
        """Sleep `seconds`, less when a stop is requested meanwhile; True once it is."""
        if not self.requested:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._requested.wait(), seconds)
        return self.requested

    def remaining(self) -> float:
        """Seconds left of the grace; all of it while no stop is requested."""
        if self._deadline is None:
            return self.grace
        return max(0.0, self._deadline - time.monotonic())
