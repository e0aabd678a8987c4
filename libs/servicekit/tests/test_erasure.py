"""Erasing an address from the messaging tables: published outbox rows and parked events that
hold it go, rows that do not hold it and unpublished outbox rows stay."""

from __future__ import annotations

import uuid

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine

from servicekit.db import outbox, parked_events
from servicekit.erasure import erase_address


async def _outbox_row(engine: AsyncEngine, data: bytes, *, published: bool) -> None:
    async with engine.begin() as conn:
        await conn.execute(sa.insert(outbox).values(
            event_id=uuid.uuid4(), subject="contacts.changed", data=data,
            published_at=sa.func.now() if published else None))


async def _parked(engine: AsyncEngine, data: bytes) -> None:
    async with engine.begin() as conn:
        await conn.execute(sa.insert(parked_events).values(
            consumer="svc", subject="contacts.changed", data=data, reason="r", attempts=3))


async def _datas(engine: AsyncEngine, table: sa.Table) -> set[bytes]:
    async with engine.connect() as conn:
        return {bytes(d) for d in (await conn.execute(sa.select(table.c.data))).scalars()}


async def test_published_rows_and_parked_events_naming_the_address_are_deleted_others_kept(
    engine: AsyncEngine,
) -> None:
    erased = b'{"payload":{"email":"Ann_Lee+x@Example.com"}}'
    other = b'{"payload":{"email":"annalee+x@example.com"}}'
    pending = b'{"payload":{"email":"ann_lee+x@example.com","outcome":"sent"}}'
    not_utf8 = b'\xff\xfe{"email":"ann_lee+x@example.com"}'
    await _outbox_row(engine, erased, published=True)
    await _outbox_row(engine, other, published=True)
    await _outbox_row(engine, pending, published=False)
    await _parked(engine, not_utf8)
    await _parked(engine, other)

    async with engine.begin() as conn:
        result = await erase_address(conn, "ann_lee+x@example.com")

    assert (result.outbox, result.parked) == (1, 1)
    # "_" is no wildcard: the look-alike address survives; the unpublished row is still to go.
    assert await _datas(engine, outbox) == {other, pending}
    assert await _datas(engine, parked_events) == {other}


async def test_erasing_in_a_transaction_that_rolls_back_deletes_nothing(
    engine: AsyncEngine,
) -> None:
    data = b'{"email":"bo@example.com"}'
    await _parked(engine, data)
    async with engine.connect() as conn, conn.begin() as tx:
        assert (await erase_address(conn, "bo@example.com")).parked == 1
        await tx.rollback()
    assert await _datas(engine, parked_events) == {data}
