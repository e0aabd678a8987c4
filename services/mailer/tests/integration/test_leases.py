"""The heartbeat: a live process renews the leases of the claims it holds, so they are not
claimed again however long their sends take; what it no longer holds lapses as before."""

from __future__ import annotations

import time
from datetime import datetime, timedelta
from typing import Any

from mailer import db
from mailer.leases import Leases
from servicekit.db import UnitOfWork

LEASE = timedelta(seconds=30)


async def claim(world: Any, at: datetime) -> list[db.ClaimedRow]:
    async with UnitOfWork(world.engine) as uow:
        rows = await db.claim_due(uow.conn, now=at, lease=LEASE, limit=10)
        await uow.commit()
    return rows


async def test_renewed_claims_outlive_their_lease_and_dropped_ones_lapse(world: Any) -> None:
    await world.campaign()
    await world.members(("ann@example.com", "Ann"), ("bob@example.com", "Bob"))
    await world.content(1)
    claimed_at = world.send_at
    rows = await claim(world, claimed_at)
    assert {r.email for r in rows} == {"ann@example.com", "bob@example.com"}

    # The heartbeat renews both at the end of their lease; then Bob's send is over.
    renewal = claimed_at + LEASE
    leases = Leases(world.engine, LEASE, clock=lambda: renewal)
    ann = leases.hold([(r.id, r.attempts + 1) for r in rows if r.email == "ann@example.com"],
                      claimed_at=time.monotonic())
    bob = leases.hold([(r.id, r.attempts + 1) for r in rows if r.email == "bob@example.com"],
                      claimed_at=time.monotonic())
    await leases.renew()
    leases.drop(bob)

    # Past the first lease, nothing is taken over; past the renewed one, only Bob's is,
    # whose holder had let it go (as a process that died would).
    assert await claim(world, claimed_at + LEASE + timedelta(seconds=1)) == []
    renewal = claimed_at + 2 * LEASE
    await leases.renew()
    taken = await claim(world, claimed_at + 2 * LEASE + timedelta(seconds=1))
    assert [(r.email, r.attempts) for r in taken] == [("bob@example.com", 1)]
    leases.drop(ann)


async def test_a_send_starts_only_within_half_a_lease_of_the_last_confirmation(
    world: Any,
) -> None:
    await world.campaign()
    await world.members(("ann@example.com", "Ann"))
    await world.content(1)
    rows = await claim(world, world.send_at)
    leases = Leases(world.engine, LEASE, clock=lambda: world.send_at)
    half = LEASE.total_seconds() / 2
    fresh = leases.hold([], claimed_at=time.monotonic())
    old = leases.hold([(r.id, r.attempts + 1) for r in rows],
                      claimed_at=time.monotonic() - half - 1)
    assert leases.may_start(fresh)
    assert not leases.may_start(old)
    # A heartbeat that went through confirms the claims it renewed, however old; one claimed
    # after the renewal began keeps the time of its claim.
    await leases.renew()
    later = leases.hold([], claimed_at=time.monotonic() - half - 1)
    assert leases.may_start(old)
    assert not leases.may_start(later)
    assert leases.interval == LEASE.total_seconds() / 3
