"""The sender step during an orderly stop, against a real database and SMTP server: what is
under way is sent and recorded, what is not is released at once, uncounted; and a send cut off
when the grace ends is recorded as of unknown outcome instead of being left `sending`."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import TYPE_CHECKING

from mailer.domain import SmtpReply
from mailer.sender import send_due_batch
from mailer.smtp import SmtpPool
from servicekit.shutdown import Shutdown

if TYPE_CHECKING:  # test modules cannot import each other; the fixtures provide these
    from conftest import ScriptedSmtp, World

RECIPIENTS = [f"r{i}@example.com" for i in range(6)]


class StopOnFirstSend:
    """The real pool, with a stop requested as the first send begins (as a SIGTERM could)."""

    def __init__(self, pool: SmtpPool, shutdown: Shutdown) -> None:
        self.concurrency = pool.concurrency
        self.begun = asyncio.Event()
        self._pool, self._shutdown = pool, shutdown

    async def send(self, sender: str, recipient: str, message: bytes) -> SmtpReply:
        self._shutdown.request()
        self.begun.set()
        return await self._pool.send(sender, recipient, message)


async def _campaign(world: World) -> None:
    await world.campaign()
    await world.members(*((address, "Reader") for address in RECIPIENTS))
    await world.content(1)


async def test_a_stop_sends_what_is_under_way_and_releases_the_rest_uncounted(
    world: World, smtp: ScriptedSmtp
) -> None:
    await _campaign(world)
    shutdown = Shutdown(grace=30)
    transport = StopOnFirstSend(world.transport, shutdown)

    claimed = await send_due_batch(world.engine, transport, options=world.options,
                                   now=world.send_at + timedelta(seconds=1), shutdown=shutdown)

    assert claimed == len(RECIPIENTS)
    deliveries = await world.deliveries()
    (sent,) = [d for d in deliveries.values() if d.state == "sent"]
    assert [m["To"].addresses[0].addr_spec for m in smtp.received] == [sent.email]
    released = [d for d in deliveries.values() if d.state == "pending"]
    assert len(released) == len(RECIPIENTS) - 1
    # Handed back as if never claimed: due now, no attempt counted, nothing waiting a lease.
    assert {(d.attempts, d.first_attempt_at, d.sending_since) for d in released} == {
        (0, None, None)}
    assert all(d.due_at <= world.send_at for d in released)
    # A stopped process claims nothing more.
    assert await send_due_batch(world.engine, transport, options=world.options,
                                now=world.send_at + timedelta(seconds=2),
                                shutdown=shutdown) == 0


async def test_a_send_cut_off_at_the_end_of_the_grace_is_recorded_as_of_unknown_outcome(
    world: World, smtp: ScriptedSmtp
) -> None:
    await world.campaign()
    await world.members((RECIPIENTS[0], "Reader"))
    await world.content(1)
    smtp.script_data(RECIPIENTS[0], "slow:30")  # the server takes longer than any grace
    shutdown = Shutdown(grace=0.2)
    transport = StopOnFirstSend(world.transport, shutdown)
    batch = asyncio.create_task(send_due_batch(
        world.engine, transport, options=world.options,
        now=world.send_at + timedelta(seconds=1), shutdown=shutdown))
    await asyncio.wait_for(transport.begun.wait(), 10)

    # What the runtime does once the grace is over.
    _, late = await asyncio.wait([batch], timeout=shutdown.remaining())
    assert late == {batch}
    batch.cancel()
    await asyncio.gather(batch, return_exceptions=True)

    delivery = (await world.deliveries())[RECIPIENTS[0]]
    assert delivery.state == "pending"
    assert delivery.attempts == 1
    assert delivery.last_reply.startswith("outcome unknown")
    assert delivery.due_at > world.send_at  # retried later, with the same Message-ID
