"""contact.erased: afterwards no table of the content generator holds the address."""

from __future__ import annotations

import uuid
from collections.abc import Callable

import sqlalchemy as sa

from contracts import CampaignCreated, ContactErased
from contracts.contacts import ContactErasedPayload
from servicekit.db import outbox, parked_events
from testkit.holders import columns_holding

ADDRESS = "erased.person@example.com"


async def test_after_contact_erased_no_table_holds_the_address(
    service, make_campaign: Callable[..., CampaignCreated],
) -> None:
    created = make_campaign()
    await service.handle(created)
    async with service.engine.begin() as conn:
        await conn.execute(sa.insert(outbox).values(
            event_id=uuid.uuid4(), subject="x", published_at=sa.func.now(),
            data=f'{{"email":"{ADDRESS}"}}'.encode()))
        await conn.execute(sa.insert(parked_events).values(
            consumer="c", subject="x", reason="r", attempts=1,
            data=f'{{"to":"{ADDRESS.upper()}"}}'.encode()))
        assert await columns_holding(conn, ADDRESS) == ["outbox.data", "parked_events.data"]

    erased = ContactErased.create(ContactErasedPayload(email=ADDRESS),
                                  workspace_id=created.workspace_id)
    assert await service.handle(erased) == ["handled"]

    async with service.engine.connect() as conn:
        assert await columns_holding(conn, ADDRESS) == []
        # The campaign's brief is untouched.
        assert await columns_holding(conn, created.payload.name)
