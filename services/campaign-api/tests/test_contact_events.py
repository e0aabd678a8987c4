"""Contact and membership changes reach the outbox as bounded events, in the change's own
transaction, each one valid by its contract whatever the size of the change."""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncEngine

from campaign_api import usecases
from campaign_api.contacts_domain import contact
from campaign_api.erasure import ErasureKey
from campaign_api.usecases._contact_events import (
    publish_contacts_changed,
    publish_contacts_deleted,
    publish_members_added,
    publish_members_removed,
)
from campaign_api.usecases._contact_writes import upsert_batch
from contracts import ContactsChanged, ContactsDeleted, ListMembersAdded, ListMembersRemoved
from contracts.contacts import MAX_CONTACT_TAGS
from contracts.types import MAX_MEMBERS_PER_EVENT, MAX_PAYLOAD_BYTES
from servicekit.db import UnitOfWork

from .conftest import ERASURE_KEY

ReadOutbox = Callable[..., Awaitable[list[dict[str, Any]]]]


@dataclass
class Row:
    email: str
    name: str = ""
    fields: dict[str, Any] = field(default_factory=dict)
    tags: list[str] = field(default_factory=list)
    timezone: str | None = None
    language: str | None = None
    status: str = "subscribed"
    send_hours: list[int] | None = None
    updated_at: datetime = field(default_factory=lambda: datetime.now(UTC))


async def test_large_contacts_travel_in_events_within_both_bounds(
    api_engine: AsyncEngine, outbox_events: ReadOutbox,
) -> None:
    # 50 fields of 1,000 characters: ~50 kB a contact, so bytes, not the count, split them.
    big = {f"f{i}": "x" * 1_000 for i in range(50)}
    # And as many tags as a contact may have, each as long as a tag may be.
    tags = [f"{i:03}" + "t" * 61 for i in range(MAX_CONTACT_TAGS)]
    rows = [Row(email=f"c{i}@example.com", name="Ada", fields=big, tags=tags,
                timezone="Asia/Tokyo", language="ja") for i in range(40)]
    rows += [Row(email=f"s{i}@example.com", fields={"age": 41, "vip": True},
                 send_hours=[23, 23, 23, 23, 23, 10, 10]) for i in range(1_100)]
    async with UnitOfWork(api_engine) as uow:
        sent = publish_contacts_changed(uow, uuid.uuid4(), rows, uuid.uuid4())
        await uow.commit()
    events = await outbox_events("contacts.changed")
    assert sent == 1_140
    assert len(events) >= 6
    assert sum(len(e["payload"]["contacts"]) for e in events) == 1_140
    for raw in events:
        event = ContactsChanged.model_validate(raw)
        assert len(event.payload.contacts) <= MAX_MEMBERS_PER_EVENT
        assert len(event.payload.model_dump_json()) <= MAX_PAYLOAD_BYTES
    small = next(c for e in events for c in e["payload"]["contacts"]
                 if c["email"] == "s1@example.com")
    assert small["fields"] == {"age": "41", "vip": "true"}
    assert small["send_hours"] == [23, 23, 23, 23, 23, 10, 10]
    assert small["tags"] == []
    large = next(c for e in events for c in e["payload"]["contacts"]
                 if c["email"] == "c1@example.com")
    assert large["tags"] == tags


async def test_memberships_and_deletions_travel_500_addresses_at_most(
    api_engine: AsyncEngine, outbox_events: ReadOutbox,
) -> None:
    list_id, emails = uuid.uuid4(), [f"m{i}@example.com" for i in range(1_201)]
    async with UnitOfWork(api_engine) as uow:
        publish_members_added(uow, uuid.uuid4(), list_id, emails, uuid.uuid4())
        publish_members_removed(uow, uuid.uuid4(), list_id, emails[:3], uuid.uuid4())
        publish_contacts_deleted(uow, uuid.uuid4(), emails[:501], uuid.uuid4())
        await uow.commit()
    added = [ListMembersAdded.model_validate(e) for e in await outbox_events("list.members.added")]
    assert [len(e.payload.emails) for e in added] == [500, 500, 201]
    assert {e.payload.list_id for e in added} == {list_id}
    assert [str(a) for e in added for a in e.payload.emails] == emails
    removed = [ListMembersRemoved.model_validate(e)
               for e in await outbox_events("list.members.removed")]
    assert [len(e.payload.emails) for e in removed] == [3]
    deleted = [ContactsDeleted.model_validate(e) for e in await outbox_events("contacts.deleted")]
    assert [len(e.payload.emails) for e in deleted] == [500, 1]


async def test_nothing_is_published_when_the_change_rolls_back(
    api_engine: AsyncEngine, outbox_events: ReadOutbox,
) -> None:
    async with UnitOfWork(api_engine) as uow:
        publish_members_added(uow, uuid.uuid4(), uuid.uuid4(), ["a@example.com"], uuid.uuid4())
    assert await outbox_events("list.members.added") == []


async def test_an_upsert_given_an_address_twice_keeps_the_first_and_stores_one(
    api_engine: AsyncEngine, outbox_events: ReadOutbox,
) -> None:
    workspace = (await usecases.create_workspace(api_engine, "acme")).id
    given = [contact("ada@example.com", {}, name="Ada"), contact("ADA@example.com", {},
                                                                 name="Ada again")]
    async with UnitOfWork(api_engine) as uow:
        done = await upsert_batch(uow, workspace, given, erasure=ErasureKey(ERASURE_KEY),
                                  source="import", correlation_id=uuid.uuid4())
        await uow.commit()
    assert (done.created, done.updated, list(done.ids)) == (1, 0, ["ada@example.com"])
    [event] = await outbox_events("contacts.changed")
    assert [(c["email"], c["name"]) for c in event["payload"]["contacts"]] == [
        ("ada@example.com", "Ada")]
