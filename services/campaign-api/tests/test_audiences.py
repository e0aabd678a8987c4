"""Recipients by API and by CSV: validation, dedupe, the report, and bounded audience events."""

from __future__ import annotations

import json
import resource
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
from sqlalchemy.ext.asyncio import AsyncEngine

from campaign_api import db, handlers, usecases
from campaign_api.erasure import ErasureKey
from contracts import EmailFailed
from contracts.events import EmailFailedPayload
from contracts.links import LinkClaims, LinkSigner
from contracts.types import MAX_MEMBERS_PER_EVENT, MAX_PAYLOAD_BYTES
from servicekit.db import UnitOfWork

from .conftest import ERASURE_KEY

MakeClient = Callable[..., Awaitable[httpx.AsyncClient]]
ReadOutbox = Callable[..., Awaitable[list[dict[str, Any]]]]
LINK_KEY = "k" * 40  # the key the test settings verify with


async def _campaign(client: httpx.AsyncClient, original: dict[str, Any]) -> str:
    response = await client.post("/api/campaigns/", json=original)
    assert response.status_code == 201, response.text
    cid: str = response.json()["id"]
    return cid


def _states(events: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The contacts that contacts.changed events carried, as (email, name, fields)."""
    return [{k: c[k] for k in ("email", "name", "fields")}
            for e in events for c in e["payload"]["contacts"]]


def _joined(events: list[dict[str, Any]]) -> list[str]:
    return [m for e in events for m in e["payload"]["emails"]]


async def test_add_and_remove_by_api(
    api_client: MakeClient, original_payload: dict[str, Any], outbox_events: ReadOutbox
) -> None:
    client = await api_client()
    cid = await _campaign(client, original_payload)
    added = await client.post(f"/api/campaigns/{cid}/recipients", json={"recipients": [
        {"email": "Ada@Example.com", "name": "Ada", "fields": {"company": "Analytical"}},
        {"email": "ada@example.com", "name": "Ada again"},
        {"email": "user@example.com"},  # already there from the create payload
    ]})
    assert added.json() == {"requested": 2, "changed": 1}
    page = (await client.get(f"/api/campaigns/{cid}/recipients")).json()
    assert [(r["email"], r["name"], r["fields"]) for r in page["items"]] == [
        ("ada@example.com", "Ada", {"company": "Analytical"}), ("user@example.com", "", {})]
    # Recipients are the workspace's contacts on the campaign's own list.
    assert _states(await outbox_events("contacts.changed"))[-1] == {
        "email": "ada@example.com", "name": "Ada", "fields": {"company": "Analytical"}}
    joined = await outbox_events("list.members.added")
    assert {e["payload"]["list_id"] for e in joined} == {
        (await client.get("/api/lists/", params={"kind": "campaign"})).json()["items"][0]["id"]}
    assert _joined(joined) == ["user@example.com", "ada@example.com"]

    removed = await client.post(f"/api/campaigns/{cid}/recipients/remove",
                                json={"emails": ["ADA@example.com", "nobody@example.com"]})
    assert removed.json() == {"requested": 2, "changed": 1}
    [gone] = await outbox_events("list.members.removed")
    assert gone["payload"]["emails"] == ["ada@example.com"]

    bad = await client.post(f"/api/campaigns/{cid}/recipients",
                            json={"recipients": [{"email": "x@example.com",
                                                  "fields": {"bad key": "v"}}]})
    assert bad.status_code == 422


CSV = (
    "Email,Name,Company,Favourite Colour\n"  # 1
    "ada@example.com,Ada Lovelace,Analytical,blue\n"  # 2
    ",No Address,Acme,red\n"  # 3: missing email
    "not-an-address,Bad,Acme,red\n"  # 4: invalid email
    "grace@example.org,\"Hopper, Grace\",\"Navy\nReserve\",green\n"  # 5-6: quoted newline
    "ADA@example.com,Duplicate,Analytical,blue\n"  # 7: duplicate of line 2
    "linus@example.net,Linus,Kernel\n"  # 8: a column short
    "\n"  # 9: blank, skipped
    "ken@example.com,Ken,Bell Labs,\n"  # 10
)


async def test_csv_import_reports_rejected_rows_by_line(
    api_client: MakeClient, original_payload: dict[str, Any], outbox_events: ReadOutbox
) -> None:
    client = await api_client()
    cid = await _campaign(client, original_payload)
    response = await client.post(f"/api/campaigns/{cid}/recipients/import", content=CSV.encode(),
                                 headers={"Content-Type": "text/csv"})
    assert response.status_code == 200, response.text
    report = response.json()
    assert (report["rows"], report["added"], report["duplicates"], report["rejected"]) == (
        7, 3, 1, 3)
    assert [(r["line"], r["reason"].split(":")[0]) for r in report["rejected_rows"]] == [
        (3, "email"), (4, "email"), (8, "row")]
    members = {m["email"]: m for m in _states(await outbox_events("contacts.changed"))}
    assert members["grace@example.org"] == {
        "email": "grace@example.org", "name": "Hopper, Grace",
        "fields": {"company": "Navy\nReserve", "favourite_colour": "green"}}
    assert members["ken@example.com"]["fields"] == {"company": "Bell Labs"}

    again = (await client.post(f"/api/campaigns/{cid}/recipients/import", content=CSV.encode(),
                               headers={"Content-Type": "text/csv"})).json()
    assert (again["added"], again["duplicates"]) == (0, 4)
    no_header = await client.post(f"/api/campaigns/{cid}/recipients/import",
                                  content=b"name\nAda\n", headers={"Content-Type": "text/csv"})
    assert no_header.status_code == 422
    assert no_header.json()["errors"][0]["field"] == "file"


ROWS = 100_000


def _row(i: int) -> bytes:
    if i % 100 == 0:  # 1% invalid, in alternating ways
        return b"no-at-sign-%d,Broken\n" % i if i % 200 else b",Nobody\n"
    return b"person%d@example.com,Person %d,Plan %d\n" % (i, i, i % 7)


async def _upload() -> AsyncIterator[bytes]:
    yield b"email,name,plan\n"
    chunk: list[bytes] = []
    for i in range(1, ROWS + 1):
        chunk.append(_row(i))
        if len(chunk) == 2_000:
            yield b"".join(chunk)
            chunk = []
    if chunk:
        yield b"".join(chunk)


async def test_a_100k_row_import_streams_in_bounded_memory(
    api_engine: AsyncEngine, api_client: MakeClient, original_payload: dict[str, Any],
    outbox_events: ReadOutbox,
) -> None:
    """Issue point 4. Memory: the test process's peak resident set (VmHWM, from getrusage),
    which holds campaign-api's code running in-process plus pytest itself: an upper bound."""
    client = await api_client()
    cid = await _campaign(client, {**original_payload, "recipient_emails": ["x@example.com"]})
    workspace = uuid.UUID((await client.get("/api/workspace")).json()["id"])
    started = time.monotonic()
    report = await usecases.import_csv(api_engine, ErasureKey(ERASURE_KEY), workspace,
                                       uuid.UUID(cid), _upload())
    elapsed = time.monotonic() - started
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024  # KiB on Linux
    invalid_lines = [i + 1 for i in range(1, ROWS + 1) if i % 100 == 0]
    assert [r.line for r in report.rejected_rows] == invalid_lines
    assert (report.rows, report.added, report.rejected) == (ROWS, ROWS - ROWS // 100,
                                                           ROWS // 100)
    events = await outbox_events("list.members.added")
    delivered = _joined(events[1:])  # the first one is the create payload's recipient
    assert len(delivered) == report.added
    assert len(set(delivered)) == report.added
    states = await outbox_events("contacts.changed")
    assert len(_states(states[1:])) == report.added
    assert all(len(e["payload"]["emails"]) <= MAX_MEMBERS_PER_EVENT for e in events)
    assert all(len(e["payload"]["contacts"]) <= MAX_MEMBERS_PER_EVENT for e in states)
    assert max(len(json.dumps(e)) for e in events + states) < MAX_PAYLOAD_BYTES
    assert peak < 300 * 1024 * 1024
    print(f"\n100k-row import: {elapsed:.1f} s, process VmHWM {peak / 2**20:.0f} MiB")


async def test_a_name_given_with_the_address_is_kept(
    api_client: MakeClient, original_payload: dict[str, Any]
) -> None:
    client = await api_client()
    cid = await _campaign(client, {**original_payload, "recipient_emails": [
        "Grace Hopper <grace@example.org>", '"Lovelace, Ada" <ADA@example.com>',
        "user@example.com"]})
    page = (await client.get(f"/api/campaigns/{cid}/recipients")).json()
    assert [(r["email"], r["name"]) for r in page["items"]] == [
        ("ada@example.com", "Lovelace, Ada"), ("grace@example.org", "Grace Hopper"),
        ("user@example.com", "")]
    for bad in ("Grace <not-an-address>", "a@example.com, b@example.com", "Grace Hopper"):
        refused = await client.post("/api/campaigns/", json={
            **original_payload, "recipient_emails": [bad]})
        assert refused.status_code == 422, bad
        assert refused.json()["errors"][0]["field"] == "recipient_emails.0"


async def test_a_finished_campaign_takes_no_new_recipients(
    api_client: MakeClient, api_engine: AsyncEngine, original_payload: dict[str, Any],
    outbox_events: ReadOutbox,
) -> None:
    client = await api_client()
    cancelled = await _campaign(client, original_payload)
    assert (await client.post(f"/api/campaigns/{cancelled}/cancel")).status_code == 200
    completed = await _campaign(client, original_payload)
    async with api_engine.begin() as conn:
        await db.mark_completed(conn, uuid.UUID(completed))
    before = len(await outbox_events("list.members.added"))
    for cid, status in ((cancelled, "cancelled"), (completed, "completed")):
        added = await client.post(f"/api/campaigns/{cid}/recipients",
                                  json={"recipients": [{"email": "late@example.com"}]})
        assert added.status_code == 409, added.text
        assert f"a {status} campaign" in added.json()["detail"]
        imported = await client.post(f"/api/campaigns/{cid}/recipients/import",
                                     content=b"email\nlate@example.com\n",
                                     headers={"Content-Type": "text/csv"})
        assert imported.status_code == 409
        emails = [r["email"] for r in
                  (await client.get(f"/api/campaigns/{cid}/recipients")).json()["items"]]
        assert emails == ["user@example.com"]
    assert len(await outbox_events("list.members.added")) == before


async def test_a_completed_campaign_whose_last_email_is_still_to_go_takes_new_recipients(
    api_client: MakeClient, api_engine: AsyncEngine, original_payload: dict[str, Any],
) -> None:
    # The scheduler completes a campaign when it hands over the last email, up to the lead
    # time before its send time; who receives that email is decided when it goes out.
    client = await api_client()
    completed = await _campaign(client, original_payload)
    campaign_id = uuid.UUID(completed)
    async with api_engine.begin() as conn:
        await db.record_generated(conn, campaign_id=campaign_id, sequence=1,
                                  send_at=datetime.now(UTC) + timedelta(minutes=20))
        await db.mark_completed(conn, campaign_id)
    added = await client.post(f"/api/campaigns/{completed}/recipients",
                              json={"recipients": [{"email": "late@example.com"}]})
    assert added.status_code == 200, added.text
    async with api_engine.begin() as conn:
        await db.record_generated(conn, campaign_id=campaign_id, sequence=1,
                                  send_at=datetime.now(UTC) - timedelta(minutes=1))
    too_late = await client.post(f"/api/campaigns/{completed}/recipients",
                                 json={"recipients": [{"email": "later@example.com"}]})
    assert too_late.status_code == 409, too_late.text


async def test_the_audience_marks_who_unsubscribed_bounced_or_was_suppressed(
    api_client: MakeClient, api_engine: AsyncEngine, original_payload: dict[str, Any]
) -> None:
    client = await api_client()
    cid = await _campaign(client, {**original_payload, "recipient_emails": [
        "ada@example.com", "bob@example.com", "cy@example.com", "dee@example.com"]})
    workspace = (await client.get("/api/workspace")).json()["id"]
    signer = LinkSigner(LINK_KEY)
    token = signer.sign("unsubscribe", LinkClaims(
        workspace_id=uuid.UUID(workspace), campaign_id=uuid.uuid4(), sequence=1,
        email="bob@example.com"))
    await usecases.unsubscribe(api_engine, signer, token)  # from another campaign's email
    async with UnitOfWork(api_engine) as uow:
        for recipient, kind, code in (("cy@example.com", "bounced", 550),
                                      ("dee@example.com", "suppressed", None)):
            await handlers.on_email_failed(EmailFailed.create(EmailFailedPayload(
                campaign_id=uuid.UUID(cid), sequence=1, recipient=recipient, permanent=True,
                smtp_code=code, reason="refused", kind=kind),  # type: ignore[arg-type]
                workspace_id=uuid.UUID(workspace)), uow)
        await uow.commit()
    page = (await client.get(f"/api/campaigns/{cid}/recipients")).json()
    marks = ("unsubscribed", "bounced", "suppressed")
    assert [(r["email"], *(m for m in marks if r[m])) for r in page["items"]] == [
        ("ada@example.com",), ("bob@example.com", "unsubscribed"),
        ("cy@example.com", "bounced"), ("dee@example.com", "suppressed")]
