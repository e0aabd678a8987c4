"""contact.erased: afterwards no table of the scheduler holds the address."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine

from contracts import CampaignCreated, ContactErased
from contracts.contacts import ContactErasedPayload
from scheduler import handlers
from servicekit.db import UnitOfWork, create_engine, outbox, parked_events
from servicekit.settings import async_url
from testkit.holders import columns_holding

ADDRESS = "erased.person@example.com"


@pytest.fixture
async def engine(migrated_database: Callable[[str], Awaitable[str]]) -> AsyncIterator[AsyncEngine]:
    engine = create_engine(async_url(await migrated_database("scheduler")), pool_size=2)
    yield engine
    await engine.dispose()


async def test_after_contact_erased_no_table_holds_the_address(
    engine: AsyncEngine, make_created: Callable[..., CampaignCreated],
) -> None:
    created = make_created(schedule_type="daily", start_at=datetime(2030, 1, 7, tzinfo=UTC),
                           total_emails=3)
    async with UnitOfWork(engine) as uow:
        await handlers.on_created(created, uow, lead=timedelta(minutes=30))
        await uow.commit()
    async with engine.begin() as conn:
        await conn.execute(sa.insert(outbox).values(
            event_id=uuid.uuid4(), subject="x", published_at=sa.func.now(),
            data=f'{{"email":"{ADDRESS}"}}'.encode()))
        await conn.execute(sa.insert(parked_events).values(
            consumer="c", subject="x", reason="r", attempts=1,
            data=f'{{"to":"{ADDRESS}"}}'.encode()))
        assert await columns_holding(conn, ADDRESS) == ["outbox.data", "parked_events.data"]

    async with UnitOfWork(engine) as uow:
        await handlers.on_contact_erased(
            ContactErased.create(ContactErasedPayload(email=ADDRESS),
                                 workspace_id=created.workspace_id), uow)
        await uow.commit()

    async with engine.connect() as conn:
        assert await columns_holding(conn, ADDRESS) == []
        # The schedule and the event announcing it are still there.
        assert (await conn.execute(sa.select(sa.func.count()).select_from(outbox))).scalar() == 1
