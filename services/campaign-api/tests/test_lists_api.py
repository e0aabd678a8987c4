"""/api/lists: create, read, rename, delete, members added and removed by address or id, member
pages, the events each change publishes, and one workspace never touching another's lists."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import httpx
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine

from campaign_api import db

MakeClient = Callable[..., Awaitable[httpx.AsyncClient]]
ReadOutbox = Callable[..., Awaitable[list[dict[str, Any]]]]


async def _bulk(client: httpx.AsyncClient, emails: list[str]) -> None:
    r = await client.post("/api/contacts/bulk", json={
        "consent_basis": "consent", "contacts": [{"email": e} for e in emails]})
    assert r.status_code == 200, r.text


async def _list(client: httpx.AsyncClient, name: str) -> dict[str, Any]:
    r = await client.post("/api/lists/", json={"name": name, "description": "d"})
    assert r.status_code == 201, r.text
    created: dict[str, Any] = r.json()
    return created


async def test_a_list_is_created_renamed_paged_and_deleted(
    api_client: MakeClient, outbox_events: ReadOutbox,
) -> None:
    client = await api_client("acme")
    created = await _list(client, "Newsletter")
    assert (created["kind"], created["members"], created["public"]) == ("list", 0, True)
    for name in ("Alpha", "Beta", "Gamma"):
        await _list(client, name)
    r = await client.patch(f"/api/lists/{created['id']}/", json={"name": "Weekly",
                                                                 "public": False})
    assert (r.json()["name"], r.json()["public"]) == ("Weekly", False)
    assert (await client.patch(f"/api/lists/{created['id']}/", json={"name": ""})
            ).status_code == 422
    names, cursor = [], None
    while True:
        page = (await client.get("/api/lists/", params={
            "limit": 3, **({"cursor": cursor} if cursor else {})})).json()
        names += [item["name"] for item in page["items"]]
        if (cursor := page["next_cursor"]) is None:
            break
    assert names == ["Alpha", "Beta", "Gamma", "Weekly"]
    await _bulk(client, ["a@example.com"])
    add = await client.post(f"/api/lists/{created['id']}/members",
                            json={"emails": ["a@example.com"]})
    assert add.json()["changed"] == 1
    assert (await client.delete(f"/api/lists/{created['id']}/")).status_code == 204
    assert (await client.get(f"/api/lists/{created['id']}/")).status_code == 404
    [removed] = await outbox_events("list.members.removed")
    assert removed["payload"] == {"list_id": created["id"], "emails": ["a@example.com"]}
    # Its contacts stay.
    assert len((await client.get("/api/contacts/")).json()["items"]) == 1


async def test_members_join_and_leave_by_address_or_id_publishing_only_what_changed(
    api_client: MakeClient, outbox_events: ReadOutbox,
) -> None:
    client = await api_client("acme")
    listed = await _list(client, "Customers")
    await _bulk(client, [f"m{i}@example.com" for i in range(5)])
    ids = {c["email"]: c["id"] for c in (await client.get("/api/contacts/")).json()["items"]}
    url = f"/api/lists/{listed['id']}/members"
    r = await client.post(url, json={"emails": ["M0@example.com", "m1@example.com",
                                                "nobody@example.com"],
                                     "contact_ids": [ids["m2@example.com"],
                                                     ids["m0@example.com"]]})
    assert r.status_code == 200, r.text
    assert r.json() == {"requested": 5, "changed": 3, "unknown": ["nobody@example.com"]}
    again = await client.post(url, json={"emails": ["m0@example.com"]})
    assert again.json()["changed"] == 0
    added = await outbox_events("list.members.added")
    assert [e["payload"]["emails"] for e in added] == [
        ["m0@example.com", "m1@example.com", "m2@example.com"]]
    page = (await client.get(url, params={"limit": 2})).json()
    assert [m["email"] for m in page["items"]] == ["m0@example.com", "m1@example.com"]
    rest = (await client.get(url, params={"cursor": page["next_cursor"]})).json()
    assert [m["email"] for m in rest["items"]] == ["m2@example.com"]
    assert rest["next_cursor"] is None
    assert (await client.get(f"/api/lists/{listed['id']}/")).json()["members"] == 3
    in_list = (await client.get("/api/contacts/", params={"list_id": listed["id"]})).json()
    assert len(in_list["items"]) == 3
    gone = await client.post(f"{url}/remove", json={"contact_ids": [ids["m1@example.com"]],
                                                    "emails": ["m4@example.com"]})
    assert gone.json() == {"requested": 2, "changed": 1, "unknown": []}
    [removed] = await outbox_events("list.members.removed")
    assert removed["payload"]["emails"] == ["m1@example.com"]
    contact = (await client.get(f"/api/contacts/{ids['m0@example.com']}/")).json()
    assert [entry["name"] for entry in contact["lists"]] == ["Customers"]


async def test_member_changes_are_checked(api_client: MakeClient) -> None:
    client = await api_client("acme")
    listed = await _list(client, "Customers")
    url = f"/api/lists/{listed['id']}/members"
    empty = await client.post(url, json={})
    assert empty.status_code == 422
    bad = await client.post(url, json={"emails": ["ok@example.com", "not an address"]})
    assert bad.status_code == 422
    assert bad.json()["errors"][0]["field"] == "emails[1]"
    assert (await client.post("/api/lists/", json={"name": ""})).status_code == 422


async def test_a_workspace_never_sees_or_changes_another_workspaces_lists(
    api_client: MakeClient,
) -> None:
    acme, other = await api_client("acme"), await api_client("other")
    listed = await _list(acme, "Private")
    await _bulk(acme, ["a@example.com"])
    await _bulk(other, ["a@example.com"])
    their = (await other.get("/api/contacts/")).json()["items"][0]["id"]
    base = f"/api/lists/{listed['id']}"
    assert (await other.get(f"{base}/")).status_code == 404
    assert (await other.patch(f"{base}/", json={"name": "x"})).status_code == 404
    assert (await other.delete(f"{base}/")).status_code == 404
    assert (await other.get(f"{base}/members")).status_code == 404
    assert (await other.post(f"{base}/members", json={"emails": ["a@example.com"]})
            ).status_code == 404
    assert (await other.get("/api/lists/")).json()["items"] == []
    # A contact id of another workspace is no contact here.
    r = await acme.post(f"{base}/members", json={"contact_ids": [their]})
    assert r.json() == {"requested": 1, "changed": 0, "unknown": [their]}
    bulk = await other.post("/api/contacts/bulk", json={
        "consent_basis": "consent", "contacts": [{"email": "b@example.com"}],
        "list_id": listed["id"]})
    assert bulk.status_code == 422
    assert bulk.json()["errors"][0]["field"] == "list_id"


async def test_deleting_a_list_deletes_the_consents_given_for_it_and_keeps_its_contacts(
    api_client: MakeClient, api_engine: AsyncEngine,
) -> None:
    client = await api_client("acme")
    news, other = await _list(client, "News"), await _list(client, "Other")
    for target in (news, other):
        r = await client.post("/api/contacts/import", content=b"email\na@example.com\n",
                              params={"list_id": target["id"], "consent_basis": "consent"},
                              headers={"content-type": "text/csv"})
        assert r.status_code == 200, r.text

    async def consents_for() -> list[str]:
        async with api_engine.connect() as conn:
            return sorted(str(i) for i in (await conn.execute(
                sa.select(db.consents.c.list_id))).scalars())

    assert await consents_for() == sorted([news["id"], other["id"]])
    assert (await client.delete(f"/api/lists/{news['id']}/")).status_code == 204
    assert await consents_for() == [other["id"]]
    assert len((await client.get("/api/contacts/")).json()["items"]) == 1
