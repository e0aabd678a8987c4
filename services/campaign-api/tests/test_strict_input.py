"""Schedule fields and header values are read strictly, on create and on PATCH: anything that
is not what the field says is a 422 naming the field, and nothing stored changes."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import httpx
import pytest
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine

from campaign_api import db, usecases
from servicekit.db import outbox

from .conftest import Serve

MakeClient = Callable[..., Awaitable[httpx.AsyncClient]]

# Each is a 500 or a silent coercion when a field is read laxly.
BAD_WEEKDAYS = [None, {}, [1], 1.5, 1.0, True, False, "someday", "1", 0, 8]
BAD_SEND_TIMES = ["09:00+02:00", "09:00:00Z", "09:00-05:00", 32400, 9.5, True, "9am", "25:00",
                  "", [9, 0], {}]
BAD_COUNTS: list[tuple[str, Any]] = [
    ("weekly_emails", True), ("weekly_emails", "2"), ("weekly_emails", 2.0),
    ("weekly_emails", 2.5), ("total_months", "3"), ("total_months", 1.5),
    ("total_emails", True), ("total_emails", "6"), ("total_emails", 6.0),
]
# Line ends to str.splitlines (so to the mail header code), and NUL.
BAD_HEADER_CHARS = ["\u2028", "\u2029", "\x0b", "\x0c", "\x1c", "\x85", "\x00", "\r", "\n"]


async def _stored(engine: AsyncEngine) -> tuple[list[Any], int]:
    async with engine.connect() as conn:
        campaigns = (await conn.execute(
            sa.select(db.campaigns.c.definition).order_by(db.campaigns.c.id))).scalars().all()
        members = (await conn.execute(
            sa.select(sa.func.count()).select_from(db.list_members))).scalar_one()
        events = (await conn.execute(
            sa.select(sa.func.count()).select_from(outbox))).scalar_one()
    return list(campaigns), members + 1000 * events


async def _refused(response: httpx.Response, field: str) -> None:
    assert response.status_code == 422, response.text
    assert response.headers["content-type"] == "application/problem+json"
    errors = response.json()["errors"]
    fields = [e["field"] for e in errors]
    assert field in fields, fields
    # Our wording, not the validation library's.
    assert not [e for e in errors if e["message"].startswith("Value error")], errors


@pytest.fixture
async def campaign(api_client: MakeClient, original_payload: dict[str, Any]
                   ) -> tuple[httpx.AsyncClient, str]:
    client = await api_client()
    created = await client.post("/api/campaigns/", json=original_payload)
    assert created.status_code == 201, created.text
    return client, created.json()["id"]


@pytest.mark.parametrize("bad", BAD_WEEKDAYS)
async def test_a_weekday_that_is_not_one_is_refused_on_create(
    api_client: MakeClient, api_engine: AsyncEngine, original_payload: dict[str, Any], bad: Any
) -> None:
    client = await api_client()
    before = await _stored(api_engine)
    response = await client.post("/api/campaigns/",
                                 json={**original_payload, "weekly_days": [3, bad]})
    await _refused(response, "weekly_days.1")
    assert await _stored(api_engine) == before
    # The connection is still good: the next request is answered as usual.
    assert (await client.get("/api/campaigns/")).status_code == 200


async def test_on_a_real_connection_the_refusal_leaves_the_connection_usable(
    served: Serve, api_engine: AsyncEngine, original_payload: dict[str, Any]
) -> None:
    workspace = await usecases.create_workspace(api_engine, "acme")
    key = (await usecases.create_api_key(api_engine, workspace.id, "test")).key
    auth = {"Authorization": f"Bearer {key}"}
    async with served("127.0.0.1") as client:
        created = await client.post("/api/campaigns/", json=original_payload, headers=auth)
        cid = created.json()["id"]
        for bad in (None, {}, [1], 1.5):
            for response in (
                await client.post("/api/campaigns/", headers=auth,
                                  json={**original_payload, "weekly_days": [bad]}),
                await client.patch(f"/api/campaigns/{cid}/", headers=auth,
                                   json={"weekly_days": [bad]}),
            ):
                await _refused(response, "weekly_days.0")
                # The next request on the same keep-alive connection is answered as usual.
                assert (await client.get("/api/campaigns/", headers=auth)).status_code == 200


@pytest.mark.parametrize("bad", BAD_WEEKDAYS)
async def test_a_weekday_that_is_not_one_is_refused_on_patch(
    campaign: tuple[httpx.AsyncClient, str], api_engine: AsyncEngine, bad: Any
) -> None:
    client, cid = campaign
    before = await _stored(api_engine)
    response = await client.patch(f"/api/campaigns/{cid}/", json={"weekly_days": [bad]})
    await _refused(response, "weekly_days.0")
    assert await _stored(api_engine) == before


@pytest.mark.parametrize("bad", BAD_SEND_TIMES)
async def test_a_send_time_with_an_offset_or_as_a_number_is_refused(
    campaign: tuple[httpx.AsyncClient, str], api_engine: AsyncEngine,
    original_payload: dict[str, Any], bad: Any,
) -> None:
    client, cid = campaign
    before = await _stored(api_engine)
    await _refused(await client.post("/api/campaigns/",
                                     json={**original_payload, "send_time": bad}), "send_time")
    await _refused(await client.patch(f"/api/campaigns/{cid}/", json={"send_time": bad}),
                   "send_time")
    assert await _stored(api_engine) == before


@pytest.mark.parametrize(("field", "bad"), BAD_COUNTS)
async def test_counts_are_whole_json_numbers(
    campaign: tuple[httpx.AsyncClient, str], api_engine: AsyncEngine,
    original_payload: dict[str, Any], field: str, bad: Any,
) -> None:
    client, cid = campaign
    before = await _stored(api_engine)
    await _refused(await client.post("/api/campaigns/", json={**original_payload, field: bad}),
                   field)
    await _refused(await client.patch(f"/api/campaigns/{cid}/", json={field: bad}), field)
    assert await _stored(api_engine) == before


async def test_a_start_is_a_date_not_a_number(
    api_client: MakeClient, original_payload: dict[str, Any]
) -> None:
    client = await api_client()
    response = await client.post("/api/campaigns/",
                                 json={**original_payload, "start_at": 1_900_000_000})
    await _refused(response, "start_at")


async def test_a_wall_clock_send_time_is_taken_and_echoed_as_such(
    campaign: tuple[httpx.AsyncClient, str],
) -> None:
    client, cid = campaign
    response = await client.patch(f"/api/campaigns/{cid}/", json={"send_time": "07:45"})
    assert response.status_code == 200, response.text
    assert response.json()["send_time"] == "07:45:00"


@pytest.mark.parametrize("char", BAD_HEADER_CHARS)
async def test_a_sender_or_recipient_name_with_a_line_end_is_refused(
    campaign: tuple[httpx.AsyncClient, str], api_engine: AsyncEngine,
    original_payload: dict[str, Any], char: str,
) -> None:
    client, cid = campaign
    name = f"Flower{char}Bcc: all@example.net"
    before = await _stored(api_engine)
    await _refused(await client.post("/api/campaigns/", json={
        **original_payload, "from_name": name}), "from_name")
    await _refused(await client.post("/api/campaigns/", json={
        **original_payload, "recipients": [{"email": "ann@example.com", "name": name}]}),
        "recipients.0.name")
    await _refused(await client.post("/api/campaigns/", json={
        **original_payload, "name": name}), "name")
    await _refused(await client.patch(f"/api/campaigns/{cid}/", json={"from_name": name}),
                   "from_name")
    await _refused(await client.post(f"/api/campaigns/{cid}/recipients", json={
        "recipients": [{"email": "ann@example.com", "name": name}]}), "recipients.0.name")
    assert await _stored(api_engine) == before


async def test_a_csv_row_whose_name_has_a_line_end_is_rejected(
    campaign: tuple[httpx.AsyncClient, str],
) -> None:
    client, cid = campaign
    csv = "email,name\nann@example.com,Ann\u2028Bcc: x@example.net\nbob@example.com,Bob\n"
    response = await client.post(f"/api/campaigns/{cid}/recipients/import",
                                 content=csv.encode(), headers={"Content-Type": "text/csv"})
    assert response.status_code == 200, response.text
    report = response.json()
    assert (report["added"], report["rejected"]) == (1, 1)
    assert report["rejected_rows"][0]["line"] == 2
    assert "name" in report["rejected_rows"][0]["reason"]


async def test_the_detail_shows_the_days_emails_go_out_on(
    api_client: MakeClient, original_payload: dict[str, Any]
) -> None:
    client = await api_client()
    # The design's example: 2 emails a week on Monday, Wednesday and Friday.
    created = (await client.post("/api/campaigns/", json=original_payload)).json()
    assert (created["weekly_days"], created["send_days"]) == ([1, 3, 5], [1, 5])
    cid = created["id"]
    patched = await client.patch(f"/api/campaigns/{cid}/", json={"weekly_emails": 3})
    assert patched.json()["send_days"] == [1, 3, 5]
    daily = await client.patch(f"/api/campaigns/{cid}/", json={"schedule_type": "daily"})
    assert daily.json()["send_days"] == [1, 2, 3, 4, 5, 6, 7]
    assert (await client.get(f"/api/campaigns/{cid}/")).json()["send_days"] == list(range(1, 8))
