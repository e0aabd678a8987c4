"""The unit of work: the service's writes, the inbox mark and the outbox rows commit together."""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine

from contracts import CampaignPaused, parse_event
from servicekit.db import UnitOfWork, inbox, outbox

MakeEvent = Callable[..., CampaignPaused]


async def outbox_rows(engine: AsyncEngine) -> list[Any]:
    async with engine.connect() as conn:
        return list((await conn.execute(sa.select(outbox).order_by(outbox.c.id))).all())


async def inbox_rows(engine: AsyncEngine) -> list[Any]:
    async with engine.connect() as conn:
        return list((await conn.execute(sa.select(inbox))).all())


async def test_commit_writes_each_published_event_to_the_outbox(
    engine: AsyncEngine, make_event: MakeEvent
) -> None:
    first, second = make_event(1), make_event(2)
    async with UnitOfWork(engine) as uow:
        uow.publish(first)
        uow.publish(second)
        await uow.commit()

    rows = await outbox_rows(engine)
    assert [r.event_id for r in rows] == [first.event_id, second.event_id]
    for row, event in zip(rows, (first, second), strict=True):
        assert row.subject == "campaign.paused"
        assert json.loads(row.data) == json.loads(event.model_dump_json())
        assert parse_event(row.data) == event
        assert row.published_at is None


async def test_an_exception_rolls_back_the_writes_and_the_outbox(
    engine: AsyncEngine, make_event: MakeEvent
) -> None:
    event = make_event()

    async def failing_handler() -> None:
        async with UnitOfWork(engine) as uow:
            assert await uow.first_delivery("svc", event.event_id)
            uow.publish(event)
            raise RuntimeError("handler failed")

    with pytest.raises(RuntimeError, match="handler failed"):
        await failing_handler()

    assert await outbox_rows(engine) == []
    assert await inbox_rows(engine) == []


async def test_leaving_without_commit_writes_nothing(
    engine: AsyncEngine, make_event: MakeEvent
) -> None:
    event = make_event()
    async with UnitOfWork(engine) as uow:
        await uow.first_delivery("svc", event.event_id)
        uow.publish(event)

    assert await outbox_rows(engine) == []
    assert await inbox_rows(engine) == []


async def test_an_exception_after_commit_keeps_what_was_committed(
    engine: AsyncEngine, make_event: MakeEvent
) -> None:
    event = make_event()

    async def fail_after_commit() -> None:
        async with UnitOfWork(engine) as uow:
            uow.publish(event)
            await uow.commit()
            raise RuntimeError("after commit")

    with pytest.raises(RuntimeError, match="after commit"):
        await fail_after_commit()

    assert [r.event_id for r in await outbox_rows(engine)] == [event.event_id]


async def test_first_delivery_is_true_once_per_consumer(engine: AsyncEngine) -> None:
    event_id = uuid.uuid4()

    async def first_delivery(consumer: str, *, commit: bool) -> bool:
        async with UnitOfWork(engine) as uow:
            first = await uow.first_delivery(consumer, event_id)
            if commit:
                await uow.commit()
            return first

    # A mark that was rolled back does not count.
    assert await first_delivery("mailer-content", commit=False)
    assert await first_delivery("mailer-content", commit=True)
    assert not await first_delivery("mailer-content", commit=True)
    assert not await first_delivery("mailer-content", commit=False)
    # Each consumer keeps its own inbox.
    assert await first_delivery("campaign-api-content", commit=True)
    assert {(r.consumer, r.event_id) for r in await inbox_rows(engine)} == {
        ("mailer-content", event_id),
        ("campaign-api-content", event_id),
    }


async def test_republishing_an_event_id_is_a_no_op(
    engine: AsyncEngine, make_event: MakeEvent
) -> None:
    campaign = uuid.uuid4()
    original = make_event(1, campaign=campaign)
    # Same deterministic id, emitted again later (a retry, a reconciliation).
    again = make_event(1, campaign=campaign).model_copy(
        update={"occurred_at": datetime.now(UTC) + timedelta(minutes=5)}
    )
    assert again.event_id == original.event_id
    assert again != original

    async with UnitOfWork(engine) as uow:
        uow.publish(original)
        await uow.commit()
    async with UnitOfWork(engine) as uow:
        uow.publish(again, make_event(2, campaign=campaign))
        await uow.commit()
    async with UnitOfWork(engine) as uow:
        uow.publish(again, again)  # twice in one transaction as well
        await uow.commit()

    rows = await outbox_rows(engine)
    assert len(rows) == 2
    assert parse_event(rows[0].data) == original


async def test_connection_is_only_available_inside_the_block(engine: AsyncEngine) -> None:
    uow = UnitOfWork(engine)
    with pytest.raises(RuntimeError, match="outside"):
        _ = uow.conn
    async with uow:
        assert (await uow.conn.execute(sa.select(1))).scalar() == 1
    with pytest.raises(RuntimeError, match="outside"):
        _ = uow.conn
