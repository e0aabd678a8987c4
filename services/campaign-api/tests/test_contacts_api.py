"""/api/contacts and /api/fields: create, read, update, delete, search, filters, cursor pages,
bulk upsert, typed custom fields, consent records and the events each change publishes."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import httpx
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine

from campaign_api import db
from contracts import ContactsChanged

MakeClient = Callable[..., Awaitable[httpx.AsyncClient]]
ReadOutbox = Callable[..., Awaitable[list[dict[str, Any]]]]


async def _declare(client: httpx.AsyncClient, **types: str) -> None:
    for key, type_ in types.items():
        r = await client.post("/api/fields/", json={"key": key, "type": type_})
        assert r.status_code == 201, r.text


async def _create(client: httpx.AsyncClient, **body: Any) -> dict[str, Any]:
    r = await client.post("/api/contacts/", json={"consent_basis": "consent", **body})
    assert r.status_code == 201, r.text
    created: dict[str, Any] = r.json()
    return created


def _contacts(events: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [c for e in events for c in e["payload"]["contacts"]]


async def test_a_contact_is_created_with_typed_fields_read_back_and_published(
    api_client: MakeClient, outbox_events: ReadOutbox,
) -> None:
    client = await api_client("acme")
    await _declare(client, age="number", vip="boolean", born="date", company="text")
    created = await _create(client, email="Ada@Example.com", name="Ada Lovelace",
                            fields={"age": "36", "vip": True, "born": "1815-12-10",
                                    "company": "Analytical"},
                            tags=["VIP", " early "], timezone="Europe/London",
                            language="en-gb", consent_text="Yes, mail me")
    assert created["email"] == "ada@example.com"
    assert created["fields"] == {"age": 36, "vip": True, "born": "1815-12-10",
                                 "company": "Analytical"}
    assert created["tags"] == ["early", "vip"]
    assert created["language"] == "en-GB"
    assert [(c["source"], c["basis"], c["consent_text"]) for c in created["consents"]] == [
        ("api", "consent", "Yes, mail me")]
    got = (await client.get(f"/api/contacts/{created['id']}/")).json()
    assert got == created
    [state] = _contacts(await outbox_events("contacts.changed"))
    assert state["email"] == "ada@example.com"
    assert state["fields"] == {"age": "36", "vip": "true", "born": "1815-12-10",
                               "company": "Analytical"}
    assert state["timezone"] == "Europe/London"


async def test_the_same_address_twice_is_a_conflict(api_client: MakeClient) -> None:
    client = await api_client("acme")
    await _create(client, email="ada@example.com")
    r = await client.post("/api/contacts/", json={"email": "ADA@example.com",
                                                  "consent_basis": "consent"})
    assert r.status_code == 409


async def test_bad_input_is_refused_naming_the_field_and_nothing_is_stored(
    api_client: MakeClient, api_engine: AsyncEngine,
) -> None:
    client = await api_client("acme")
    await _declare(client, age="number")
    cases = [
        ({"email": "nope"}, "email"),
        ({"email": "a@example.com", "fields": {"age": "old"}}, "fields.age"),
        ({"email": "a@example.com", "fields": {"shoe": "9"}}, "fields.shoe"),
        ({"email": "a@example.com", "timezone": "Mars/Base"}, "timezone"),
        ({"email": "a@example.com", "language": "not a tag"}, "language"),
        ({"email": "a@example.com", "tags": ["ok", " "]}, "tags[1]"),
        ({"email": "a@example.com", "lists": ["00000000-0000-0000-0000-000000000001"]},
         "lists[0]"),
    ]
    for body, field in cases:
        r = await client.post("/api/contacts/", json={"consent_basis": "consent", **body})
        assert r.status_code == 422, (body, r.text)
        assert [e["field"] for e in r.json()["errors"]] == [field], (body, r.text)
    r = await client.post("/api/contacts/", json={"email": "a@example.com"})
    assert r.status_code == 422
    assert "consent_basis" in r.text
    async with api_engine.connect() as conn:
        assert (await conn.execute(sa.select(sa.func.count()).select_from(db.contacts))
                ).scalar() == 0


async def test_patch_merges_fields_replaces_tags_and_publishes_only_a_change(
    api_client: MakeClient, outbox_events: ReadOutbox,
) -> None:
    client = await api_client("acme")
    await _declare(client, age="number", company="text")
    created = await _create(client, email="ada@example.com", fields={"age": 36, "company": "A"},
                            tags=["a", "b"])
    url = f"/api/contacts/{created['id']}/"
    r = await client.patch(url, json={"fields": {"age": None, "company": "B"}, "tags": ["c"],
                                      "timezone": "Asia/Tokyo", "name": "Ada"})
    assert r.status_code == 200, r.text
    assert r.json()["fields"] == {"company": "B"}
    assert r.json()["tags"] == ["c"]
    assert r.json()["timezone"] == "Asia/Tokyo"
    assert len(await outbox_events("contacts.changed")) == 2
    same = await client.patch(url, json={"name": "Ada"})
    assert same.status_code == 200
    assert len(await outbox_events("contacts.changed")) == 2
    bad = await client.patch(url, json={"fields": {"age": "x"}})
    assert bad.status_code == 422
    assert bad.json()["errors"][0]["field"] == "fields.age"
    assert (await client.patch(url, json={"email": "b@example.com"})).status_code == 422


async def _consents_of(engine: AsyncEngine, contact_id: str) -> int:
    async with engine.connect() as conn:
        found: int = (await conn.execute(sa.select(sa.func.count()).select_from(db.consents)
                                         .where(db.consents.c.contact_id == contact_id))
                      ).scalar_one()
    return found


async def test_delete_removes_the_contact_with_its_consents_and_publishes_contacts_deleted(
    api_client: MakeClient, api_engine: AsyncEngine, outbox_events: ReadOutbox,
) -> None:
    client = await api_client("acme")
    created = await _create(client, email="ada@example.com")
    kept = await _create(client, email="grace@example.com")
    assert await _consents_of(api_engine, created["id"]) == 1
    r = await client.delete(f"/api/contacts/{created['id']}/")
    assert r.status_code == 204
    assert await _consents_of(api_engine, created["id"]) == 0
    assert await _consents_of(api_engine, kept["id"]) == 1
    assert (await client.get(f"/api/contacts/{created['id']}/")).status_code == 404
    assert (await client.delete(f"/api/contacts/{created['id']}/")).status_code == 404
    [event] = await outbox_events("contacts.deleted")
    assert event["payload"]["emails"] == ["ada@example.com"]


async def test_search_by_address_or_name_prefix_with_filters_in_cursor_pages(
    api_client: MakeClient,
) -> None:
    client = await api_client("acme")
    r = await client.post("/api/contacts/bulk", json={"consent_basis": "contract", "contacts": [
        {"email": f"user{i:02}@example.com", "name": "Grace Hopper" if i % 3 == 0 else "Bob",
         "tags": ["even"] if i % 2 == 0 else [], "status": "unsubscribed" if i == 4 else
         "subscribed"} for i in range(25)]})
    assert r.status_code == 200, r.text
    seen: list[str] = []
    cursor = None
    while True:
        params: dict[str, Any] = {"limit": 10, **({"cursor": cursor} if cursor else {})}
        page = (await client.get("/api/contacts/", params=params)).json()
        seen += [c["email"] for c in page["items"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert seen == [f"user{i:02}@example.com" for i in range(25)]

    async def emails(**params: Any) -> list[str]:
        r = await client.get("/api/contacts/", params=params)
        assert r.status_code == 200, r.text
        return [c["email"] for c in r.json()["items"]]

    assert await emails(q="user1") == [f"user{i}@example.com" for i in range(10, 20)]
    assert await emails(q="GRACE") == [f"user{i:02}@example.com" for i in range(0, 25, 3)]
    assert await emails(q="user_") == []  # a wildcard in the input is a character
    assert await emails(tag="EVEN", q="user0") == [
        f"user{i:02}@example.com" for i in range(0, 10, 2)]
    assert await emails(status="unsubscribed") == ["user04@example.com"]
    bad = await client.get("/api/contacts/", params={"cursor": "%%%"})
    assert bad.status_code == 422


async def test_bulk_upsert_of_10000_is_batched_records_consent_and_merges_existing(
    api_client: MakeClient, api_engine: AsyncEngine, outbox_events: ReadOutbox,
) -> None:
    client = await api_client("acme")
    await _declare(client, plan="text")
    listed = (await client.post("/api/lists/", json={"name": "Newsletter"})).json()
    bounced = await _create(client, email="c00005@example.com", status="bounced",
                            tags=["old"])
    contacts = [{"email": f"c{i:05}@example.com", "name": f"C {i}", "fields": {"plan": "pro"},
                 "tags": ["new"]} for i in range(10_000)]
    r = await client.post("/api/contacts/bulk", json={
        "contacts": contacts, "consent_basis": "legitimate_interests", "list_id": listed["id"]})
    assert r.status_code == 200, r.text
    assert r.json() == {"received": 10_000, "created": 9_999, "updated": 1, "unchanged": 0,
                        "added_to_list": 10_000, "erased": 0}
    kept = (await client.get(f"/api/contacts/{bounced['id']}/")).json()
    assert kept["status"] == "bounced"  # an import never resubscribes
    assert kept["tags"] == ["new", "old"]
    assert kept["fields"] == {"plan": "pro"}
    async with api_engine.connect() as conn:
        bases = (await conn.execute(sa.select(db.consents.c.basis, sa.func.count())
                                    .group_by(db.consents.c.basis))).all()
    assert dict(bases) == {"consent": 1, "legitimate_interests": 10_000}  # type: ignore[arg-type]
    changed = [ContactsChanged.model_validate(e) for e in await outbox_events("contacts.changed")]
    assert sum(len(e.payload.contacts) for e in changed) == 10_001
    assert max(len(e.payload.contacts) for e in changed) <= 500
    added = await outbox_events("list.members.added")
    assert sum(len(e["payload"]["emails"]) for e in added) == 10_000
    again = await client.post("/api/contacts/bulk", json={
        "contacts": contacts[:100], "consent_basis": "consent", "list_id": listed["id"]})
    assert again.json() == {"received": 100, "created": 0, "updated": 0, "unchanged": 100,
                            "added_to_list": 0, "erased": 0}
    assert len(await outbox_events("contacts.changed")) == len(changed)


async def test_bulk_refuses_a_bad_row_by_its_index_and_stores_none(
    api_client: MakeClient,
) -> None:
    client = await api_client("acme")
    rows = [{"email": "a@example.com"}, {"email": "b@example.com", "timezone": "Nowhere"}]
    r = await client.post("/api/contacts/bulk", json={"contacts": rows,
                                                      "consent_basis": "consent"})
    assert r.status_code == 422
    assert r.json()["errors"][0]["field"] == "contacts[1].timezone"
    assert (await client.get("/api/contacts/")).json()["items"] == []
    too_many = await client.post("/api/contacts/bulk", json={
        "contacts": [{"email": f"x{i}@example.com"} for i in range(10_001)],
        "consent_basis": "consent"})
    assert too_many.status_code == 422


async def test_fields_are_declared_listed_relabelled_and_deleted_with_their_values(
    api_client: MakeClient, outbox_events: ReadOutbox,
) -> None:
    client = await api_client("acme")
    await _declare(client, age="number")
    relabel = await client.post("/api/fields/", json={"key": "age", "label": "Age",
                                                      "type": "number"})
    assert relabel.status_code == 201
    retyped = await client.post("/api/fields/", json={"key": "age", "type": "text"})
    assert retyped.status_code == 409
    bad = await client.post("/api/fields/", json={"key": "9lives", "type": "text"})
    assert bad.status_code == 422
    assert bad.json()["errors"][0]["field"] == "key"
    assert [(f["key"], f["label"], f["type"]) for f in
            (await client.get("/api/fields/")).json()] == [("age", "Age", "number")]
    created = await _create(client, email="ada@example.com", fields={"age": 36})
    assert (await client.delete("/api/fields/age/")).status_code == 204
    assert (await client.delete("/api/fields/age/")).status_code == 404
    assert (await client.get(f"/api/contacts/{created['id']}/")).json()["fields"] == {}
    assert _contacts(await outbox_events("contacts.changed"))[-1]["fields"] == {}


async def test_a_workspace_never_sees_another_workspaces_contacts_or_fields(
    api_client: MakeClient,
) -> None:
    acme, other = await api_client("acme"), await api_client("other")
    await _declare(acme, age="number")
    created = await _create(acme, email="ada@example.com", fields={"age": 1})
    url = f"/api/contacts/{created['id']}/"
    assert (await other.get(url)).status_code == 404
    assert (await other.patch(url, json={"name": "x"})).status_code == 404
    assert (await other.delete(url)).status_code == 404
    assert (await other.get("/api/contacts/")).json()["items"] == []
    assert (await other.get("/api/fields/")).json() == []
    # The other workspace has not declared `age`: its contacts cannot use it.
    r = await other.post("/api/contacts/", json={"email": "ada@example.com",
                                                 "fields": {"age": 1}, "consent_basis": "consent"})
    assert r.status_code == 422
    assert (await _create(other, email="ada@example.com"))["id"] != created["id"]
    assert (await acme.get(url)).status_code == 200
