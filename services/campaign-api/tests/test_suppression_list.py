"""The managed suppression list: pages by reason, adds one or a CSV, removals with a recorded
reason, export; every change is published and the contacts' status follows."""

from __future__ import annotations

import csv
import io
from collections.abc import Awaitable, Callable
from typing import Any

import httpx
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine

from campaign_api import db
from campaign_api.db.contact_tables import suppression_removals
from campaign_api.erasure import ErasureKey

from .conftest import ERASURE_KEY
from .consent_helpers import contact_row, make_contact, workspace

MakeClient = Callable[..., Awaitable[httpx.AsyncClient]]
ReadOutbox = Callable[..., Awaitable[list[dict[str, Any]]]]


async def test_adding_one_suppresses_it_and_its_contact_follows(
    api_client: MakeClient, api_engine: AsyncEngine, outbox_events: ReadOutbox
) -> None:
    client = await api_client()
    ws = await workspace(api_engine)
    await make_contact(api_engine, ws, "ada@example.com")
    added = await client.post("/api/suppressions", json={"email": "Ada@Example.com",
                                                         "note": "asked by phone"})
    assert added.status_code == 201
    assert added.json() == {"added": True}
    again = await client.post("/api/suppressions", json={"email": "ada@example.com",
                                                         "reason": "bounced"})
    assert again.json() == {"added": False}
    page = (await client.get("/api/suppressions")).json()
    assert [(s["email"], s["reason"], s["note"]) for s in page["items"]] == [
        ("ada@example.com", "manual", "asked by phone")]
    assert (await contact_row(api_engine, ws, "ada@example.com")).status == "unsubscribed"
    [event] = await outbox_events("suppression.added")
    assert event["payload"] == {"emails": ["ada@example.com"], "reason": "manual"}
    [changed] = await outbox_events("contacts.changed")
    assert changed["payload"]["contacts"][0]["status"] == "unsubscribed"


async def test_bad_input_is_refused_naming_the_field(api_client: MakeClient) -> None:
    client = await api_client()
    for body, field in (({"email": "nope"}, "email"), ({"email": "a@example.com",
                                                        "reason": "erased"}, "reason"),
                        ({"email": "a@example.com", "extra": 1}, "extra")):
        response = await client.post("/api/suppressions", json=body)
        assert response.status_code == 422, body
        assert field in {e["field"] for e in response.json()["errors"]}
    assert (await client.get("/api/suppressions?reason=lost")).status_code == 422
    assert (await client.delete("/api/suppressions/a@example.com")).status_code == 422
    blank = await client.request("DELETE", "/api/suppressions/a@example.com",
                                 json={"reason": ""})
    assert blank.status_code == 422
    assert blank.json()["errors"][0]["field"] == "reason"


async def test_pages_follow_the_cursor_and_filter_by_reason(api_client: MakeClient) -> None:
    client = await api_client()
    for i in range(5):
        await client.post("/api/suppressions", json={
            "email": f"user{i}@example.com", "reason": "bounced" if i % 2 else "complained"})
    first = (await client.get("/api/suppressions?limit=2")).json()
    second = (await client.get(f"/api/suppressions?limit=2&cursor={first['next_cursor']}")
              ).json()
    third = (await client.get(f"/api/suppressions?limit=2&cursor={second['next_cursor']}")
             ).json()
    emails = [s["email"] for p in (first, second, third) for s in p["items"]]
    assert emails == [f"user{i}@example.com" for i in range(5)]
    assert third["next_cursor"] is None
    bounced = (await client.get("/api/suppressions?reason=bounced")).json()
    assert [s["email"] for s in bounced["items"]] == ["user1@example.com", "user3@example.com"]
    other = await api_client("other")
    assert (await other.get("/api/suppressions")).json()["items"] == []


async def test_removing_needs_a_reason_that_is_kept_and_resubscribes_the_contact(
    api_client: MakeClient, api_engine: AsyncEngine, outbox_events: ReadOutbox
) -> None:
    client = await api_client()
    ws = await workspace(api_engine)
    await make_contact(api_engine, ws, "ada@example.com")
    await client.post("/api/suppressions", json={"email": "ada@example.com",
                                                 "reason": "complained"})
    assert (await contact_row(api_engine, ws, "ada@example.com")).status == "complained"
    gone = await client.request("DELETE", "/api/suppressions/ada@example.com",
                                json={"reason": "complaint was a mistake, per ticket 42"})
    assert gone.status_code == 204
    assert (await client.get("/api/suppressions")).json()["items"] == []
    async with api_engine.connect() as conn:
        [removal] = (await conn.execute(sa.select(suppression_removals))).all()
    assert (removal.email, removal.was_reason, removal.reason) == (
        "ada@example.com", "complained", "complaint was a mistake, per ticket 42")
    [removed] = await outbox_events("suppression.removed")
    assert removed["payload"] == {"emails": ["ada@example.com"], "reason": "complained"}
    assert (await contact_row(api_engine, ws, "ada@example.com")).status == "subscribed"
    missing = await client.request("DELETE", "/api/suppressions/ada@example.com",
                                   json={"reason": "x"})
    assert missing.status_code == 404


async def test_a_csv_is_added_in_batches_and_bad_lines_are_reported(
    api_client: MakeClient, api_engine: AsyncEngine, outbox_events: ReadOutbox
) -> None:
    client = await api_client()
    ws = await workspace(api_engine)
    async with api_engine.begin() as conn:
        await db.record_erased(conn, ws, ErasureKey(ERASURE_KEY).digest("gone@example.com"))
    text = ("Email,Reason,Note\n"
            "ada@example.com,bounced,hard bounce\n"
            "not-an-address,,\n"
            "grace@example.org,,\n"
            "ADA@example.com,,duplicate\n"
            "linus@example.net,lost,\n"
            "gone@example.com,,\n")
    report = await client.post("/api/suppressions/import", content=text,
                               headers={"Content-Type": "text/csv"})
    assert report.status_code == 200, report.text
    body = report.json()
    assert (body["rows"], body["added"], body["rejected"]) == (6, 2, 2)
    assert [(r["line"], r["reason"].split(":")[0]) for r in body["rejected_rows"]] == [
        (3, "email"), (6, "reason")]
    listed = {s["email"]: s["reason"]
              for s in (await client.get("/api/suppressions")).json()["items"]}
    # An erased address is not written down again, not even here.
    assert listed == {"ada@example.com": "bounced", "grace@example.org": "manual"}
    reasons = {e["payload"]["reason"]: e["payload"]["emails"]
               for e in await outbox_events("suppression.added")}
    assert reasons == {"bounced": ["ada@example.com"], "manual": ["grace@example.org"]}
    no_header = await client.post("/api/suppressions/import", content="name\nAda\n",
                                  headers={"Content-Type": "text/csv"})
    assert no_header.status_code == 422
    assert no_header.json()["errors"][0]["field"] == "file"


async def test_the_export_is_the_whole_list_as_csv(api_client: MakeClient) -> None:
    client = await api_client()
    for i in range(3):
        await client.post("/api/suppressions", json={"email": f"u{i}@example.com",
                                                     "note": f"note, {i}"})
    export = await client.get("/api/suppressions/export")
    assert export.status_code == 200
    assert export.headers["content-type"].startswith("text/csv")
    rows = list(csv.reader(io.StringIO(export.text)))
    assert rows[0] == ["email", "reason", "note", "created_at"]
    assert [r[:3] for r in rows[1:]] == [[f"u{i}@example.com", "manual", f"note, {i}"]
                                        for i in range(3)]
