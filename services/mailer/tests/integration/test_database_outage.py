"""A real `python -m mailer run` sending to an SMTP sink while its PostgreSQL, a server of this
test's own, is stopped immediately (as a crash would) and started again: the mailer starts no
new send while the database is away, writes the outcomes it was holding once the database is
back, and every recipient gets the message exactly once."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from devstack.postgres import EmbeddedPostgres
from servicekit.db import create_engine
from servicekit.migrations import upgrade
from servicekit.settings import async_url
from testkit.fixtures import scratch_dir

SMTP_RATE = 200  # messages a second: the run lasts long enough for the outage to land mid-send
OUTAGE_SECONDS = 3.0


@pytest.fixture
def own_postgres() -> Iterator[EmbeddedPostgres]:
    """A PostgreSQL server for this test alone: stopping it leaves the session's server, which
    the other tests share, alone. Stopped and its folder removed afterwards."""
    with scratch_dir("cb-pgdown-") as data, EmbeddedPostgres(data / "pg") as server:
        yield server


@pytest.fixture
async def database(own_postgres: EmbeddedPostgres) -> AsyncIterator[tuple[str, AsyncEngine]]:
    """The mailer's database on `own_postgres`, migrated; the `mailers` fixture starts the
    mailers on it."""
    own_postgres.ensure_database("mailer")
    url = own_postgres.uri("mailer")
    await asyncio.to_thread(upgrade, "mailer", url)
    engine = create_engine(async_url(url), pool_size=2)
    yield url, engine
    await engine.dispose()


async def test_a_database_crash_mid_send_stops_new_sends_and_duplicates_nothing(
    mailers: Any, sink: Any, until: Any, own_postgres: EmbeddedPostgres
) -> None:
    counter, _ = sink
    expected = await mailers.due(3_000)
    # Outcomes written by time only (a record batch that never fills): at the crash, up to
    # MAILER_RECORD_MAX_DELAY of accepted messages wait to be written, and a write is under way.
    mailer = mailers.start(MAILER_SMTP_RATE=str(SMTP_RATE), MAILER_BATCH_SIZE="500",
                           MAILER_RECORD_BATCH="5000", MAILER_LEASE_SECONDS="20")

    async def mid_send() -> bool:
        return counter.received >= 600 and (await mailers.states()).get("sending", 0) > 0

    await until(mid_send, 60, "600 messages out and batches in flight")
    own_postgres.stop(immediate=True)
    at_crash = counter.received
    await asyncio.sleep(OUTAGE_SECONDS)  # the fault itself: how long the database stays away
    during_outage = counter.received - at_crash
    own_postgres.start()

    # What was on the wire finishes, and the outcome writes fail at once: no more than a
    # fraction of a second of sending gets out while the database is away, where a mailer
    # sending on would have sent for the whole outage (600 messages at this rate).
    assert during_outage < SMTP_RATE

    async def all_sent() -> bool:
        assert mailer.poll() is None, "the mailer exited"
        return (await mailers.states()).get("sent", 0) == len(expected)

    # Well within the 20 s lease: nothing waits for a lease to run out.
    await until(all_sent, 60, "every delivery sent after the database came back")
    assert set(counter.counts) == set(expected)
    # The outcomes that waited to be written during the outage were written once it was
    # back, not dropped: no delivery was claimed and sent again.
    assert {mid for mid, n in counter.counts.items() if n > 1} == set()
    assert await mailers.attempts() == {1: len(expected)}
