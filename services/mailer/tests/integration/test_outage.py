"""Writing while the database may be away (mailer.outage): a write that cannot reach the
database is tried again until it can, within the claims' lease; one the database refuses is not;
while it is away, the process's leases allow no new send."""

from __future__ import annotations

import time
import uuid
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine

from mailer.leases import Leases
from mailer.outage import Outage, database_away, persist
from servicekit.db import create_engine


@pytest.fixture
async def unreachable(tmp_path: Path) -> AsyncIterator[AsyncEngine]:
    """An engine whose server is not there: its socket folder has no server in it."""
    engine = create_engine(f"postgresql+asyncpg://postgres@/mailer?host={tmp_path}", pool_size=1)
    yield engine
    await engine.dispose()


async def select_one(engine: AsyncEngine) -> int:
    async with engine.begin() as conn:
        return int(await conn.scalar(sa.text("SELECT 1")) or 0)


async def test_a_write_that_cannot_reach_the_database_is_tried_again_until_it_does(
    engine: AsyncEngine, unreachable: AsyncEngine
) -> None:
    outage, tries = Outage(), []

    async def write() -> int:
        tries.append(outage.ongoing)
        # The first two attempts find no server; the third reaches the real one.
        return await select_one(unreachable if len(tries) < 3 else engine)

    assert await persist(outage, lambda: False, write) == 1
    assert tries == [False, True, True]
    assert not outage.ongoing


async def test_a_write_gives_up_once_the_lease_has_run_out_and_the_outage_goes_on(
    unreachable: AsyncEngine,
) -> None:
    outage, deadline = Outage(), time.monotonic() + 0.5
    with pytest.raises(FileNotFoundError):  # no socket where the server would listen
        await persist(outage, lambda: time.monotonic() > deadline,
                      lambda: select_one(unreachable))
    assert outage.ongoing


async def test_a_write_the_database_refuses_is_not_tried_again(engine: AsyncEngine) -> None:
    outage, tries = Outage(), []

    async def write() -> None:
        tries.append(1)
        async with engine.begin() as conn:
            await conn.execute(sa.text("SELECT * FROM no_such_table"))

    with pytest.raises(sa.exc.ProgrammingError) as refused:
        await persist(outage, lambda: False, write)
    assert not database_away(refused.value)
    assert tries == [1]
    assert not outage.ongoing


async def test_no_send_starts_while_a_heartbeat_cannot_reach_the_database(
    unreachable: AsyncEngine,
) -> None:
    leases = Leases(unreachable, timedelta(seconds=30))
    held = leases.hold([(uuid.uuid4(), 1)], claimed_at=time.monotonic())
    assert leases.may_start(held)
    await leases.renew()
    assert not leases.may_start(held)
    leases.outage.answered()  # as the next statement that reaches the database does
    assert leases.may_start(held)
