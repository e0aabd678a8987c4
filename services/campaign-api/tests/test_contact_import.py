"""/api/contacts/import and /api/contacts/export: a CSV into the workspace's contacts (raw body
or multipart), mapped, merged or left alone, onto a list, with a report per line; erased
addresses refused; the export streams what the search filters find."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Awaitable, Callable
from typing import Any

import httpx
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine

from campaign_api import db, usecases
from campaign_api.erasure import ErasureKey

from .conftest import ERASURE_KEY

MakeClient = Callable[..., Awaitable[httpx.AsyncClient]]
ReadOutbox = Callable[..., Awaitable[list[dict[str, Any]]]]
BASIS = {"consent_basis": "consent"}


async def _raw(client: httpx.AsyncClient, text: str, **params: Any) -> httpx.Response:
    return await client.post("/api/contacts/import", content=text.encode(),
                             params={**BASIS, **params}, headers={"content-type": "text/csv"})


async def _imported(client: httpx.AsyncClient, text: str, **params: Any) -> dict[str, Any]:
    r = await _raw(client, text, **params)
    assert r.status_code == 200, r.text
    report: dict[str, Any] = r.json()
    return report


async def _declare(client: httpx.AsyncClient, **types: str) -> None:
    for key, type_ in types.items():
        assert (await client.post("/api/fields/", json={"key": key, "type": type_})
                ).status_code == 201


async def _list(client: httpx.AsyncClient, name: str = "Newsletter") -> str:
    r = await client.post("/api/lists/", json={"name": name})
    assert r.status_code == 201, r.text
    list_id: str = r.json()["id"]
    return list_id


async def _contact(client: httpx.AsyncClient, email: str) -> dict[str, Any]:
    [found] = (await client.get("/api/contacts/", params={"q": email})).json()["items"]
    detail: dict[str, Any] = (await client.get(f"/api/contacts/{found['id']}/")).json()
    return detail


async def test_a_raw_csv_body_creates_contacts_with_fields_tags_zone_and_consent(
    api_client: MakeClient, outbox_events: ReadOutbox,
) -> None:
    client = await api_client("acme")
    await _declare(client, age="number", company="text")
    report = await _imported(client, (
        "email,name,tags,timezone,language,age,company\n"
        "Ada@Example.com,Ada Lovelace,vip; Early ,Europe/London,en-gb,36,Analytical\n"
        'grace@example.org,"Hopper, Grace",,,,,\n'))
    assert report == {"rows": 2, "created": 2, "updated": 0, "unchanged": 0,
                      "added_to_list": 0, "rejected": 0, "rejected_rows": []}
    ada = await _contact(client, "ada@example.com")
    assert (ada["name"], ada["tags"], ada["timezone"], ada["language"], ada["fields"],
            ada["source"]) == ("Ada Lovelace", ["early", "vip"], "Europe/London", "en-GB",
                               {"age": 36, "company": "Analytical"}, "import")
    assert [(c["source"], c["basis"]) for c in ada["consents"]] == [("import", "consent")]
    assert (await _contact(client, "grace@example.org"))["name"] == "Hopper, Grace"
    published = [c["email"] for e in await outbox_events("contacts.changed")
                 for c in e["payload"]["contacts"]]
    assert sorted(published) == ["ada@example.com", "grace@example.org"]


async def test_a_multipart_upload_takes_its_options_from_the_form_fields(
    api_client: MakeClient, outbox_events: ReadOutbox,
) -> None:
    client = await api_client("acme")
    list_id = await _list(client)
    r = await client.post("/api/contacts/import", files={
        "file": ("people.csv", b"email,name\nada@example.com,Ada\nbob@example.com,Bob\n",
                 "text/csv")}, data={"list_id": list_id, "consent_basis": "contract",
                                     "consent_text": "Customers"})
    assert r.status_code == 200, r.text
    assert r.json()["created"] == 2
    assert r.json()["added_to_list"] == 2
    ada = await _contact(client, "ada@example.com")
    assert [lst["id"] for lst in ada["lists"]] == [list_id]
    assert [(c["basis"], c["list_id"], c["consent_text"]) for c in ada["consents"]] == [
        ("contract", list_id, "Customers")]
    [added] = await outbox_events("list.members.added")
    assert added["payload"] == {"list_id": list_id,
                                "emails": ["ada@example.com", "bob@example.com"]}
    no_file = await client.post("/api/contacts/import", data={"consent_basis": "consent"},
                                files={"other": ("x.csv", b"email\n", "text/csv")})
    assert no_file.status_code == 422
    assert "file" in no_file.text


async def test_a_mapping_names_where_each_column_goes_and_null_ignores_one(
    api_client: MakeClient,
) -> None:
    client = await api_client("acme")
    await _declare(client, plan="text")
    mapping = {"E-Mail Address": "email", "Full name": "name", "Tier": "plan", "Notes": None}
    report = await _imported(client, "E-Mail Address,Full name,Tier,Notes\n"
                             "ada@example.com,Ada,gold,call her\n", mapping=json.dumps(mapping))
    assert report["created"] == 1
    ada = await _contact(client, "ada@example.com")
    assert (ada["name"], ada["fields"]) == ("Ada", {"plan": "gold"})


async def test_update_existing_merges_into_known_contacts_or_leaves_them_alone(
    api_client: MakeClient,
) -> None:
    client = await api_client("acme")
    await _imported(client, "email,name,tags\nada@example.com,Ada,a\n")
    left = await _imported(client, "email,name,tags\nada@example.com,Countess,b\n"
                           "new@example.com,New,\n", update_existing="false")
    assert (left["created"], left["updated"], left["unchanged"]) == (1, 0, 1)
    assert (await _contact(client, "ada@example.com"))["name"] == "Ada"
    merged = await _imported(client, "email,name,tags\nada@example.com,Countess,b\n"
                             "new@example.com,New,\n", update_existing="true")
    assert (merged["created"], merged["updated"], merged["unchanged"]) == (0, 1, 1)
    ada = await _contact(client, "ada@example.com")
    assert (ada["name"], ada["tags"]) == ("Countess", ["a", "b"])


async def test_each_bad_row_is_reported_by_line_and_the_good_ones_are_stored(
    api_client: MakeClient,
) -> None:
    client = await api_client("acme")
    await _declare(client, age="number")
    report = await _imported(client, (
        "email,name,age,timezone\n"
        "ada@example.com,Ada,36,\n"
        "not-an-address,X,1,\n"
        "\n"
        'bob@example.com,"Bob\nSmith",2,\n'
        "carl@example.com,Carl,old,\n"
        "dora@example.com,Dora,3,Mars/Olympus\n"
        "eve@example.com,Eve\n"
        "ada@example.com,Ada again,37,\n"))
    assert report["rows"] == 7
    assert report["created"] == 1  # ada; bob's name spans two lines and is refused
    assert [r["line"] for r in report["rejected_rows"]] == [3, 5, 7, 8, 9]
    reasons = {r["line"]: r["reason"] for r in report["rejected_rows"]}
    assert reasons[3].startswith("email:")
    assert reasons[7].startswith("fields.age:")
    assert reasons[8].startswith("timezone:")
    assert "columns" in reasons[9]
    assert report["rejected"] == 5
    assert (await _contact(client, "ada@example.com"))["fields"] == {"age": 37}


async def test_a_file_that_cannot_be_read_is_refused_whole_with_a_422_naming_it(
    api_client: MakeClient, api_engine: AsyncEngine,
) -> None:
    client = await api_client("acme")
    no_email = await _raw(client, "name,company\nAda,Analytical\n")
    assert no_email.status_code == 422
    assert "email" in no_email.json()["detail"]
    unknown_column = await _raw(client, "email,shoe_size\nada@example.com,7\n")
    assert unknown_column.status_code == 422
    assert "shoe_size" in unknown_column.json()["detail"]
    undeclared = await _raw(client, "email,size\nada@example.com,7\n",
                            mapping=json.dumps({"size": "shoe_size"}))
    assert undeclared.status_code == 422
    assert undeclared.json()["errors"][0]["field"] == "mapping.size"
    not_json = await _raw(client, "email\nada@example.com\n", mapping="{oops")
    assert not_json.status_code == 422
    assert "mapping" in not_json.text
    no_basis = await client.post("/api/contacts/import", content=b"email\na@example.com\n",
                                 headers={"content-type": "text/csv"})
    assert no_basis.status_code == 422
    assert "consent_basis" in no_basis.text
    empty = await _raw(client, "")
    assert empty.status_code == 422
    json_body = await client.post("/api/contacts/import", json={"email": "a@example.com"},
                                  params=BASIS)
    assert json_body.status_code == 422
    assert "content-type" in json_body.text
    async with api_engine.connect() as conn:
        assert (await conn.execute(sa.select(sa.func.count()).select_from(db.contacts))
                ).scalar_one() == 0


async def test_an_address_erased_on_request_is_rejected_and_never_stored(
    api_client: MakeClient, api_engine: AsyncEngine,
) -> None:
    client = await api_client("acme")
    acme = (await usecases.create_workspace(api_engine, "acme")).id
    async with api_engine.begin() as conn:
        await db.record_erased(conn, acme, ErasureKey(ERASURE_KEY).digest("gone@example.com"))
    report = await _imported(client, "email\nada@example.com\nGone@Example.com\n")
    assert report["created"] == 1
    assert report["rejected_rows"] == [{"line": 3, "reason": report["rejected_rows"][0]["reason"]}]
    assert "erased" in report["rejected_rows"][0]["reason"]
    async with api_engine.connect() as conn:
        stored = (await conn.execute(sa.select(db.contacts.c.email))).scalars().all()
    assert stored == ["ada@example.com"]


async def test_an_erased_address_is_added_back_by_no_other_way_either(
    api_client: MakeClient, api_engine: AsyncEngine, original_payload: dict[str, Any],
) -> None:
    client = await api_client("acme")
    acme = (await usecases.create_workspace(api_engine, "acme")).id
    async with api_engine.begin() as conn:
        await db.record_erased(conn, acme, ErasureKey(ERASURE_KEY).digest("gone@example.com"))
    one = await client.post("/api/contacts/", json={"email": "Gone@example.com",
                                                    "consent_basis": "consent"})
    assert one.status_code == 422, one.text
    assert one.json()["errors"][0]["field"] == "email"
    bulk = await client.post("/api/contacts/bulk", json={"consent_basis": "consent", "contacts": [
        {"email": "ada@example.com"}, {"email": "gone@example.com"}]})
    assert bulk.status_code == 200, bulk.text
    assert (bulk.json()["created"], bulk.json()["erased"]) == (1, 1)
    campaign = await client.post("/api/campaigns/", json={
        **original_payload, "recipient_emails": ["gone@example.com", "grace@example.com"]})
    assert campaign.status_code == 201, campaign.text
    cid = campaign.json()["id"]
    added = await client.post(f"/api/campaigns/{cid}/recipients",
                              json={"recipients": [{"email": "gone@example.com"}]})
    assert added.json()["changed"] == 0
    imported = await client.post(f"/api/campaigns/{cid}/recipients/import",
                                 content=b"email\ngone@example.com\n",
                                 headers={"Content-Type": "text/csv"})
    assert imported.json()["rejected_rows"][0]["line"] == 2
    async with api_engine.connect() as conn:
        stored = (await conn.execute(sa.select(db.contacts.c.email))).scalars().all()
    assert sorted(stored) == ["ada@example.com", "grace@example.com"]


async def test_a_workspace_imports_into_its_own_contacts_and_lists_only(
    api_client: MakeClient,
) -> None:
    acme = await api_client("acme")
    other = await api_client("other")
    foreign_list = await _list(other, "Theirs")
    r = await _raw(acme, "email\nada@example.com\n", list_id=foreign_list)
    assert r.status_code == 422
    assert r.json()["errors"][0]["field"] == "list_id"
    await _imported(other, "email,name\nada@example.com,Theirs\n")
    await _imported(acme, "email,name\nada@example.com,Ours\n")
    assert (await _contact(other, "ada@example.com"))["name"] == "Theirs"
    assert (await _contact(acme, "ada@example.com"))["name"] == "Ours"
    exported = (await other.get("/api/contacts/export")).text
    assert "Ours" not in exported
    assert "Theirs" in exported


def _rows(text: str) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(text)))


async def test_the_export_streams_every_column_and_follows_the_search_filters(
    api_client: MakeClient,
) -> None:
    client = await api_client("acme")
    await _declare(client, age="number", vip="boolean")
    list_id = await _list(client)
    await _imported(client, "email,name,tags,timezone,language,age,vip\n"
                    "ada@example.com,Ada,vip;beta,Europe/London,en,36,yes\n"
                    "bob@example.com,Bob,beta,,,,\n", list_id=list_id)
    await _imported(client, "email,name\ncarl@example.com,\"Carl, Jr\"\n")
    r = await client.get("/api/contacts/export")
    assert r.status_code == 200
    assert r.headers["content-type"].startswith("text/csv")
    rows = _rows(r.text)
    assert list(rows[0]) == ["email", "name", "status", "tags", "timezone", "language",
                             "created_at", "age", "vip"]
    assert [row["email"] for row in rows] == ["ada@example.com", "bob@example.com",
                                              "carl@example.com"]
    assert {k: rows[0][k] for k in ("name", "status", "tags", "timezone", "language", "age",
                                    "vip")} == {
        "name": "Ada", "status": "subscribed", "tags": "beta;vip", "timezone": "Europe/London",
        "language": "en", "age": "36", "vip": "true"}
    assert rows[2]["name"] == "Carl, Jr"
    assert rows[2]["age"] == ""
    by_tag = _rows((await client.get("/api/contacts/export", params={"tag": "VIP"})).text)
    assert [row["email"] for row in by_tag] == ["ada@example.com"]
    on_list = _rows((await client.get("/api/contacts/export",
                                      params={"list_id": list_id})).text)
    assert [row["email"] for row in on_list] == ["ada@example.com", "bob@example.com"]
    unsubscribed = _rows((await client.get("/api/contacts/export",
                                           params={"status": "unsubscribed"})).text)
    assert unsubscribed == []
    bad = await client.get("/api/contacts/export", params={"status": "sleeping"})
    assert bad.status_code == 422


async def test_the_export_reads_back_through_the_import_unchanged(
    api_client: MakeClient,
) -> None:
    client = await api_client("acme")
    await _declare(client, age="number")
    await _imported(client, "email,name,tags,age\nada@example.com,Ada,vip,36\n")
    exported = (await client.get("/api/contacts/export")).text
    again = await _imported(client, exported, mapping=json.dumps(
        {"status": None, "created_at": None}))
    assert (again["rows"], again["unchanged"], again["rejected"]) == (1, 1, 0)


async def test_a_large_import_commits_in_batches_and_keeps_a_repeated_address_once(
    api_client: MakeClient, api_engine: AsyncEngine, outbox_events: ReadOutbox,
) -> None:
    client = await api_client("acme")
    list_id = await _list(client)
    lines = [f"user{i}@example.com,User {i}" for i in range(25_000)]
    lines.append("user7@example.com,Seven")  # in a later batch than the first user7
    report = await _imported(client, "email,name\n" + "\n".join(lines) + "\n",
                             list_id=list_id)
    assert (report["rows"], report["created"], report["updated"], report["added_to_list"]) == (
        25_001, 25_000, 1, 25_000)
    assert (await _contact(client, "user7@example.com"))["name"] == "Seven"
    added = await outbox_events("list.members.added")
    assert sum(len(e["payload"]["emails"]) for e in added) == 25_000
    assert max(len(e["payload"]["emails"]) for e in added) <= 500
    async with api_engine.connect() as conn:
        consents = (await conn.execute(sa.select(sa.func.count()).select_from(db.consents))
                    ).scalar_one()
    assert consents == 25_001
