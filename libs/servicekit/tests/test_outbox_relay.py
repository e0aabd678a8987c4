"""The outbox relay: rows reach JetStream once, in order, promptly, and survive outages."""

from __future__ import annotations

import asyncio
import contextlib
import random
import shutil
import tempfile
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from datetime import timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa
from nats.aio.client import Client
from nats.aio.msg import Msg
from nats.js import JetStreamContext
from sqlalchemy.ext.asyncio import AsyncEngine

from contracts import CampaignPaused, EmailOpened, Event, deterministic_id, parse_event
from contracts.events import EngagementRef
from contracts.streams import TOPOLOGY
from devstack.nats import EmbeddedNats
from servicekit.broker import connect, ensure_stream
from servicekit.db import UnitOfWork, create_engine, inbox, outbox
from servicekit.outbox import OutboxRelay

pytestmark = pytest.mark.usefixtures("quiet_streams")

MakeEvent = Callable[..., CampaignPaused]
Eventually = Callable[..., Awaitable[float]]


@contextlib.asynccontextmanager
async def running(relay: OutboxRelay) -> AsyncIterator[asyncio.Task[None]]:
    task = asyncio.create_task(relay.run())
    try:
        yield task
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


async def commit(engine: AsyncEngine, *events: Event) -> None:
    async with UnitOfWork(engine) as uow:
        uow.publish(*events)
        await uow.commit()


async def unpublished(engine: AsyncEngine) -> int:
    async with engine.connect() as conn:
        count = await conn.scalar(
            sa.select(sa.func.count()).select_from(outbox).where(outbox.c.published_at.is_(None))
        )
    return int(count or 0)


async def drained(engine: AsyncEngine) -> bool:
    return await unpublished(engine) == 0


async def is_published(engine: AsyncEngine, event: Event) -> bool:
    async with engine.connect() as conn:
        published_at = await conn.scalar(
            sa.select(outbox.c.published_at).where(outbox.c.event_id == event.event_id)
        )
    return published_at is not None


async def outbox_ids(engine: AsyncEngine) -> list[uuid.UUID]:
    """Event ids in outbox id order."""
    async with engine.connect() as conn:
        return list((await conn.scalars(sa.select(outbox.c.event_id).order_by(outbox.c.id))).all())


async def stream_messages(js: JetStreamContext, stream: str) -> list[tuple[str, bytes]]:
    """(Nats-Msg-Id, data) of every message in the stream, in stream order."""
    count = (await js.stream_info(stream)).state.messages
    messages = []
    for seq in range(1, count + 1):
        msg = await js.get_msg(stream, seq)
        assert msg.headers is not None
        assert msg.data is not None
        messages.append((msg.headers["Nats-Msg-Id"], msg.data))
    return messages


def opened(n: int) -> EmailOpened:
    campaign = uuid.uuid4()
    return EmailOpened.create(
        EngagementRef(campaign_id=campaign, sequence=n, recipient="reader@example.com"),
        workspace_id=uuid.uuid4(),
        event_id=deterministic_id("servicekit.test.opened", campaign, n),
    )


async def test_publishes_rows_with_their_event_id_as_msg_id_and_marks_them(
    engine: AsyncEngine, js: JetStreamContext, make_event: MakeEvent
) -> None:
    events = [make_event(n) for n in range(3)]
    await commit(engine, *events)
    relay = OutboxRelay(engine, js)

    assert await relay.publish_batch() == 3

    assert await unpublished(engine) == 0
    on_stream = await stream_messages(js, "CAMPAIGNS")
    assert on_stream == [(str(e.event_id), e.model_dump_json().encode()) for e in events]
    assert [parse_event(data) for _, data in on_stream] == events
    assert await relay.publish_batch() == 0


async def test_each_stream_receives_rows_in_outbox_order_across_batches(
    engine: AsyncEngine, js: JetStreamContext, make_event: MakeEvent, eventually: Eventually
) -> None:
    rng = random.Random(7)
    events: list[Event] = [make_event(n) if rng.random() < 0.5 else opened(n) for n in range(40)]
    for start in range(0, len(events), 6):  # several transactions
        await commit(engine, *events[start : start + 6])
    order = [str(eid) for eid in await outbox_ids(engine)]
    subjects = {str(e.event_id): e.subject for e in events}

    async with running(OutboxRelay(engine, js, batch_size=7, poll_interval=0.1)):
        await eventually(lambda: drained(engine), what="outbox drained")

    for stream, subject in (("CAMPAIGNS", "campaign.paused"), ("ENGAGEMENT", "email.opened")):
        ids = [msg_id for msg_id, _ in await stream_messages(js, stream)]
        assert ids == [eid for eid in order if subjects[eid] == subject]


async def test_notify_wakes_an_idle_relay_long_before_its_poll(
    engine: AsyncEngine, js: JetStreamContext, make_event: MakeEvent, eventually: Eventually
) -> None:
    async with running(OutboxRelay(engine, js, poll_interval=30)) as task:
        await asyncio.sleep(0.3)  # it has found nothing and is waiting
        assert not task.done()
        await commit(engine, make_event())
        took = await eventually(lambda: drained(engine), seconds=3)
    assert took < 2.0  # the poll would take 30 s


async def test_a_row_committed_during_a_batch_is_not_left_for_the_poll(
    engine: AsyncEngine, js: JetStreamContext, make_event: MakeEvent, eventually: Eventually
) -> None:
    late = make_event(2)

    class CommitDuringFirstBatch(OutboxRelay):
        batches = 0

        async def publish_batch(self) -> int:
            published = await super().publish_batch()
            self.batches += 1
            if self.batches == 1:
                # Another transaction commits after this batch read the outbox; its NOTIFY
                # arrives while the batch is still finishing.
                await commit(engine, late)
                await asyncio.sleep(0.2)
            return published

    first = make_event(1)
    await commit(engine, first)
    async with running(CommitDuringFirstBatch(engine, js, poll_interval=30)):
        await eventually(lambda: is_published(engine, late), seconds=3, what="late row published")
    assert [i for i, _ in await stream_messages(js, "CAMPAIGNS")] == [
        str(first.event_id), str(late.event_id),
    ]


async def test_concurrent_relays_publish_each_row_exactly_once(
    database_url: str, nats_client: Client, make_event: MakeEvent, eventually: Eventually
) -> None:
    # Every publish is counted, not only what the stream keeps: the stream would hide
    # double publishing behind its Nats-Msg-Id deduplication.
    seen: list[str] = []

    async def count(msg: Msg) -> None:
        seen.append((msg.headers or {})["Nats-Msg-Id"])

    sub = await nats_client.subscribe("campaign.paused", cb=count)
    engines = [create_engine(database_url), create_engine(database_url)]
    try:
        events = [make_event(n) for n in range(200)]
        js = nats_client.jetstream()
        relays = [OutboxRelay(e, js, batch_size=10, poll_interval=0.1) for e in engines]
        async with running(relays[0]), running(relays[1]):
            await asyncio.sleep(0.2)
            for start in range(0, len(events), 50):
                await commit(engines[0], *events[start : start + 50])
            await eventually(lambda: drained(engines[0]), what="outbox drained")
            await nats_client.flush()
            await asyncio.sleep(0.2)
    finally:
        await sub.unsubscribe()
        for engine in engines:
            await engine.dispose()

    expected = sorted(str(e.event_id) for e in events)
    assert sorted(seen) == expected
    assert sorted(i for i, _ in await stream_messages(js, "CAMPAIGNS")) == expected


async def test_relay_keeps_running_while_the_database_is_away(
    engine: AsyncEngine, postgres_server_url: str, js: JetStreamContext,
    make_event: MakeEvent, eventually: Eventually,
) -> None:
    name = engine.url.database
    admin = create_engine(postgres_server_url, pool_size=1)

    async def set_reachable(reachable: bool) -> None:
        async with admin.begin() as conn:
            await conn.execute(sa.text(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS {reachable}'))
            if not reachable:
                await conn.execute(
                    sa.text("SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                            "WHERE datname = :name"),
                    {"name": name},
                )

    try:
        async with running(OutboxRelay(engine, js, poll_interval=0.1)) as task:
            await commit(engine, make_event(1))
            await eventually(lambda: drained(engine), what="first row published")
            await set_reachable(False)
            await asyncio.sleep(1.0)  # several failed passes, publishing and observing
            assert not task.done(), task.exception()
            await set_reachable(True)
            await commit(engine, make_event(2))
            await eventually(lambda: drained(engine), what="published after outage")
    finally:
        await set_reachable(True)
        await admin.dispose()
    assert len(await stream_messages(js, "CAMPAIGNS")) == 2


async def test_after_a_database_restart_the_relay_listens_again(
    engine: AsyncEngine, postgres_server_url: str, js: JetStreamContext,
    make_event: MakeEvent, eventually: Eventually,
) -> None:
    """With no poll to fall back on, only a new LISTEN connection can wake the relay for
    rows committed after the database dropped every connection."""
    name = engine.url.database
    admin = create_engine(postgres_server_url, pool_size=1)

    async def listening() -> bool:
        async with admin.connect() as conn:
            return bool(await conn.scalar(sa.text(
                "SELECT count(*) FROM pg_stat_activity WHERE datname = :name "
                "AND query LIKE 'LISTEN%'"), {"name": name}))

    try:
        async with running(OutboxRelay(engine, js, poll_interval=3600)) as task:
            await eventually(listening, what="the relay listening")
            async with admin.begin() as conn:
                await conn.execute(sa.text(
                    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                    "WHERE datname = :name"), {"name": name})
            await eventually(listening, what="the relay listening again")
            await engine.dispose()  # the pool's connections were terminated too
            await commit(engine, make_event(1))
            await eventually(lambda: drained(engine), what="published after the restart")
            assert not task.done()
    finally:
        await admin.dispose()
    assert len(await stream_messages(js, "CAMPAIGNS")) == 1


async def test_prune_drops_only_what_outlived_its_retention(
    engine: AsyncEngine, js: JetStreamContext, make_event: MakeEvent,
) -> None:
    old, recent, pending = make_event(1), make_event(2), make_event(3)
    for event in (old, recent, pending):
        await commit(engine, event)
    marks = [uuid.uuid4(), uuid.uuid4()]
    async with engine.begin() as conn:
        await conn.execute(sa.update(outbox).where(outbox.c.event_id == old.event_id)
                           .values(published_at=sa.text("now() - interval '25 hours'")))
        await conn.execute(sa.update(outbox).where(outbox.c.event_id == recent.event_id)
                           .values(published_at=sa.text("now() - interval '23 hours'")))
        for mark, days in zip(marks, (32, 30), strict=True):
            await conn.execute(sa.insert(inbox).values(
                consumer="c", event_id=mark,
                processed_at=sa.func.now() - timedelta(days=days)))

    await OutboxRelay(engine, js).prune()

    async with engine.connect() as conn:
        kept = set((await conn.scalars(sa.select(outbox.c.event_id))).all())
        inbox_kept = set((await conn.scalars(sa.select(inbox.c.event_id))).all())
    assert kept == {recent.event_id, pending.event_id}
    assert inbox_kept == {marks[1]}


@pytest.fixture
def private_nats() -> Iterator[EmbeddedNats]:
    """A NATS server of the test's own, which it may stop and start."""
    folder = Path(tempfile.mkdtemp(prefix="sk-nats-", dir="/tmp"))
    server = EmbeddedNats(folder)
    try:
        yield server.start()
    finally:
        server.stop()
        shutil.rmtree(folder, ignore_errors=True)


async def test_rows_wait_out_a_nats_outage_and_go_out_once_it_is_back(
    engine: AsyncEngine, private_nats: EmbeddedNats, make_event: MakeEvent,
    eventually: Eventually,
) -> None:
    nc = await connect(private_nats.url, name="relay-test")
    try:
        js = nc.jetstream(timeout=0.5)
        await ensure_stream(js, TOPOLOGY.stream("CAMPAIGNS"))
        await asyncio.to_thread(private_nats.stop)
        events = [make_event(n) for n in range(3)]
        await commit(engine, *events)

        async with running(OutboxRelay(engine, js, poll_interval=0.1)) as task:
            await asyncio.sleep(1.5)  # several passes fail to publish
            assert not task.done()
            assert await unpublished(engine) == 3
            await asyncio.to_thread(private_nats.start)
            await eventually(lambda: drained(engine), seconds=15, what="published")

        # Attempts made during the outage may also arrive; Nats-Msg-Id keeps one of each.
        on_stream = [msg_id for msg_id, _ in await stream_messages(js, "CAMPAIGNS")]
        assert sorted(on_stream) == sorted(str(e.event_id) for e in events)
    finally:
        await nc.close()
