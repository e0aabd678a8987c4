"""POST /api/events: a contact's event recorded once per event id (derived from the body when
none is given), its contact created when new, and published as activity.recorded through the
outbox; anything malformed refused naming the field."""

from __future__ import annotations

import uuid
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine

from campaign_api import db
from contracts.journey_events import ActivityRecorded

from .conftest import MakeClient, ReadOutbox

PAID = {"contact": "Ada@Example.com", "name": "order.paid",
        "properties": {"order": "A-1042", "total": 42.5, "gift": False, "coupon": None}}


async def _contacts(engine: AsyncEngine) -> list[tuple[str, str]]:
    async with engine.connect() as conn:
        rows = await conn.execute(sa.select(db.contacts.c.email, db.contacts.c.status)
                                  .order_by(db.contacts.c.email))
        return [(r.email, r.status) for r in rows]


async def test_an_event_is_published_and_its_new_contact_created(
    api_client: MakeClient, api_engine: AsyncEngine, outbox_events: ReadOutbox
) -> None:
    client = await api_client()
    given = uuid.uuid4()
    response = await client.post("/api/events", json={**PAID, "event_id": str(given)})
    assert response.status_code == 202, response.text
    assert response.json() == {"event_id": str(given), "duplicate": False}

    assert await _contacts(api_engine) == [("ada@example.com", "subscribed")]
    [changed] = await outbox_events("contacts.changed")
    assert changed["payload"]["contacts"][0]["email"] == "ada@example.com"
    [recorded] = await outbox_events("activity.recorded")
    event = ActivityRecorded.model_validate(recorded)
    assert event.payload.event_id == given
    assert (event.payload.email, event.payload.name) == ("ada@example.com", "order.paid")
    assert event.payload.properties == PAID["properties"]


async def test_a_repeated_event_id_is_accepted_and_published_once(
    api_client: MakeClient, outbox_events: ReadOutbox
) -> None:
    client = await api_client()
    body = {**PAID, "event_id": str(uuid.uuid4())}
    first = await client.post("/api/events", json=body)
    again = await client.post("/api/events", json={**body, "properties": {"other": 1}})
    assert again.status_code == 202
    assert again.json() == {"event_id": body["event_id"], "duplicate": True}
    assert first.json()["event_id"] == body["event_id"]
    assert len(await outbox_events("activity.recorded")) == 1
    assert len(await outbox_events("contacts.changed")) == 1


async def test_without_an_id_the_same_body_is_one_event_and_another_body_another(
    api_client: MakeClient, outbox_events: ReadOutbox
) -> None:
    client = await api_client()
    first = (await client.post("/api/events", json=PAID)).json()
    # The address is one contact however it is spelt.
    again = (await client.post("/api/events", json={**PAID,
                                                    "contact": "ada@example.com"})).json()
    other = (await client.post("/api/events", json={**PAID, "properties": {
        "order": "A-1043"}})).json()
    assert again == {"event_id": first["event_id"], "duplicate": True}
    assert other["event_id"] != first["event_id"]
    assert other["duplicate"] is False
    assert [e["payload"]["event_id"] for e in await outbox_events("activity.recorded")] == [
        first["event_id"], other["event_id"]]


async def test_an_existing_contact_is_left_as_it_is(
    api_client: MakeClient, api_engine: AsyncEngine, outbox_events: ReadOutbox
) -> None:
    client = await api_client()
    made = await client.post("/api/contacts/", json={"email": "ada@example.com",
                                                      "name": "Ada", "status": "unsubscribed",
                                                      "consent_basis": "consent"})
    assert made.status_code == 201, made.text
    assert (await client.post("/api/events", json=PAID)).status_code == 202
    assert await _contacts(api_engine) == [("ada@example.com", "unsubscribed")]
    assert len(await outbox_events("contacts.changed")) == 1


async def test_the_same_event_id_in_two_workspaces_is_two_events(
    api_client: MakeClient, outbox_events: ReadOutbox
) -> None:
    acme, globex = await api_client("acme"), await api_client("globex")
    body = {**PAID, "event_id": str(uuid.uuid4())}
    assert (await acme.post("/api/events", json=body)).json()["duplicate"] is False
    assert (await globex.post("/api/events", json=body)).json()["duplicate"] is False
    recorded = await outbox_events("activity.recorded")
    assert len({e["workspace_id"] for e in recorded}) == 2
    assert len({e["event_id"] for e in recorded}) == 2


async def test_an_event_needs_a_key_of_a_workspace(api_client: MakeClient) -> None:
    client = await api_client()
    response = await client.post("/api/events", json=PAID, headers={"Authorization": ""})
    assert response.status_code == 401


@pytest.mark.parametrize(("change", "field"), [
    ({"contact": "not an address"}, "contact"),
    ({"name": "has spaces"}, "name"),
    ({"name": None}, "name"),
    ({"event_id": "not-a-uuid"}, "event_id"),
    ({"properties": {"nested": {"a": 1}}}, "properties.nested"),
    ({"properties": {"bad key!": 1}}, "properties.bad key!"),
    ({"properties": {"long": "x" * 1_001}}, "properties.long"),
    ({"properties": {f"k{i}": i for i in range(51)}}, "properties"),
    ({"workspace_id": str(uuid.uuid4())}, "workspace_id"),
])
async def test_a_malformed_event_is_refused_naming_the_field(
    api_client: MakeClient, outbox_events: ReadOutbox, change: dict[str, Any], field: str
) -> None:
    client = await api_client()
    response = await client.post("/api/events", json={**PAID, **change})
    assert response.status_code == 422, response.text
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["errors"][0]["field"].startswith(field)
    assert await outbox_events("activity.recorded") == []
