"""The REST API against a real, migrated database (no broker needed: events go to the outbox)."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine

from campaign_api import db
from campaign_api.app import create_app
from campaign_api.domain import hash_api_key, new_api_key
from servicekit.db import create_engine, outbox
from testkit.fixtures import CreateDatabase

ORIGINAL = {
    "name": "Product Launch Series",
    "description": "Weekly emails about our new product features",
    "schedule_type": "weekly", "weekly_emails": 2, "weekly_days": [1, 3, 5], "total_months": 3,
    "ai_agent_id": "openai/gpt-4", "recipient_emails": ["user@example.com"],
}


@pytest.fixture
async def engine(migrated_database: CreateDatabase) -> AsyncIterator[AsyncEngine]:
    engine = create_engine(await migrated_database("campaign_api"))
    yield engine
    await engine.dispose()


async def _key(engine: AsyncEngine, workspace: str) -> str:
    key = new_api_key()
    async with engine.begin() as conn:
        ws = await db.ensure_workspace(conn, workspace)
        await db.add_api_key(conn, ws, hash_api_key(key), "test")
    return key


@pytest.fixture
async def client(engine: AsyncEngine) -> AsyncIterator[httpx.AsyncClient]:
    key = await _key(engine, "acme")
    transport = httpx.ASGITransport(app=create_app(engine, []))
    async with httpx.AsyncClient(transport=transport, base_url="http://api",
                                 headers={"Authorization": f"Bearer {key}"}) as c:
        yield c


async def _counts(engine: AsyncEngine) -> dict[str, int]:
    async with engine.connect() as conn:
        return {
            t.name: (await conn.execute(sa.select(sa.func.count()).select_from(t))).scalar_one()
            for t in (db.campaigns, db.contacts, db.list_members, outbox)
        }


async def test_the_original_payload_is_accepted_and_announced(
    client: httpx.AsyncClient, engine: AsyncEngine
) -> None:
    response = await client.post("/api/campaigns/", json=ORIGINAL)
    assert response.status_code == 201, response.text
    body = response.json()
    assert body["name"] == ORIGINAL["name"]
    assert body["status"] == "active"
    assert body["weekly_days"] == [1, 3, 5]
    assert body["progress"]["recipients"] == 1

    async with engine.connect() as conn:
        rows = (await conn.execute(sa.select(outbox.c.subject, outbox.c.data)
                                   .order_by(outbox.c.id))).all()
    assert [r.subject for r in rows] == ["contacts.changed", "list.members.added",
                                        "campaign.created"]
    created = json.loads(rows[2].data)
    assert created["payload"]["campaign_id"] == body["id"]
    assert created["payload"]["schedule"]["start_immediately"] is True

    listed = (await client.get("/api/campaigns/")).json()
    assert [c["id"] for c in listed["items"]] == [body["id"]]
    detail = await client.get(f"/api/campaigns/{body['id']}/")
    assert detail.status_code == 200
    assert detail.json()["ai_agent_id"] == "openai/gpt-4"


async def test_per_contact_time_and_a_send_window_are_announced_and_can_be_changed(
    client: httpx.AsyncClient, engine: AsyncEngine
) -> None:
    window = {"start": "08:00", "end": "18:30", "weekdays": [1, 2, 3, 4, 5]}
    response = await client.post("/api/campaigns/", json={
        **ORIGINAL, "per_contact_time": True, "send_window": window})
    assert response.status_code == 201, response.text
    body = response.json()
    assert body["per_contact_time"] is True
    assert body["send_window"] == {"start": "08:00:00", "end": "18:30:00",
                                   "weekdays": [1, 2, 3, 4, 5]}
    async with engine.connect() as conn:
        data = (await conn.execute(sa.select(outbox.c.data)
                                   .where(outbox.c.subject == "campaign.created"))).scalar_one()
    schedule = json.loads(data)["payload"]["schedule"]
    assert schedule["per_contact_time"] is True
    assert schedule["send_window"]["weekdays"] == [1, 2, 3, 4, 5]

    changed = await client.patch(f"/api/campaigns/{body['id']}/",
                                 json={"send_window": None, "brand_voice": "Plain"})
    assert changed.status_code == 200, changed.text
    assert changed.json()["send_window"] is None
    assert changed.json()["per_contact_time"] is True


async def test_send_time_optimisation_is_announced_and_can_be_turned_off(
    client: httpx.AsyncClient, engine: AsyncEngine
) -> None:
    response = await client.post("/api/campaigns/", json={
        **ORIGINAL, "send_time_optimization": True})
    assert response.status_code == 201, response.text
    body = response.json()
    assert body["send_time_optimization"] is True
    async with engine.connect() as conn:
        data = (await conn.execute(sa.select(outbox.c.data)
                                   .where(outbox.c.subject == "campaign.created"))).scalar_one()
    assert json.loads(data)["payload"]["schedule"]["send_time_optimization"] is True

    changed = await client.patch(f"/api/campaigns/{body['id']}/",
                                 json={"send_time_optimization": False})
    assert changed.status_code == 200, changed.text
    assert changed.json()["send_time_optimization"] is False
    kept = await client.patch(f"/api/campaigns/{body['id']}/", json={"brand_voice": "Plain"})
    assert kept.json()["send_time_optimization"] is False


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"weekly_emails": "two"}, "weekly_emails"),
        ({"send_time_optimization": "sometimes"}, "send_time_optimization"),
        ({"schedule_type": "monthly"}, "schedule_type"),
        ({"recipient_emails": ["not-an-address"]}, "recipient_emails.0"),
        ({"weekly_days": [0, 3]}, "weekly_days.0"),
        ({"weekly_days": [1, 8]}, "weekly_days.1"),
        ({"weekly_days": []}, "weekly_days"),
        ({"timezone": "Mars/Olympus"}, "timezone"),
        ({"name": "Launch\r\nBcc: victim@example.com"}, "name"),
        ({"workspace_id": "00000000-0000-0000-0000-000000000000"}, "workspace_id"),
        ({"total_months": None}, "total_months"),
        ({"send_window": {"start": "09:00", "end": "17:00", "weekdays": [8]}},
         "send_window.weekdays.0"),
        ({"send_window": {"start": "9 am", "end": "17:00"}}, "send_window.start"),
    ],
)
async def test_bad_input_names_the_field_and_stores_nothing(
    client: httpx.AsyncClient, engine: AsyncEngine, change: dict[str, Any], field: str
) -> None:
    before = await _counts(engine)
    response = await client.post("/api/campaigns/", json={**ORIGINAL, **change})
    assert response.status_code == 422, response.text
    assert response.headers["content-type"] == "application/problem+json"
    problem = response.json()
    assert field in [e["field"] for e in problem["errors"]], problem
    assert await _counts(engine) == before


async def test_a_body_that_is_not_json_is_a_422(client: httpx.AsyncClient) -> None:
    response = await client.post("/api/campaigns/", content=b"{not json",
                                 headers={"Content-Type": "application/json"})
    assert response.status_code == 422


@pytest.mark.parametrize("header", [None, "Bearer nope", "Basic dXNlcjpwYXNz", "Bearer "])
async def test_a_missing_or_wrong_key_is_a_401(
    engine: AsyncEngine, header: str | None
) -> None:
    transport = httpx.ASGITransport(app=create_app(engine, []))
    headers = {"Authorization": header} if header is not None else {}
    async with httpx.AsyncClient(transport=transport, base_url="http://api") as c:
        before = await _counts(engine)
        for response in (await c.get("/api/campaigns/"),
                         await c.post("/api/campaigns/", json=ORIGINAL, headers=headers)):
            assert response.status_code == 401
            assert response.headers["www-authenticate"] == "Bearer"
        assert await _counts(engine) == before


async def test_another_workspace_sees_nothing(
    client: httpx.AsyncClient, engine: AsyncEngine
) -> None:
    created = (await client.post("/api/campaigns/", json=ORIGINAL)).json()
    other_key = await _key(engine, "globex")
    transport = httpx.ASGITransport(app=create_app(engine, []))
    async with httpx.AsyncClient(transport=transport, base_url="http://api",
                                 headers={"Authorization": f"Bearer {other_key}"}) as other:
        assert (await other.get(f"/api/campaigns/{created['id']}/")).status_code == 404
        assert (await other.get("/api/campaigns/")).json()["items"] == []


async def test_pages_follow_the_cursor(client: httpx.AsyncClient) -> None:
    ids = [(await client.post("/api/campaigns/", json={**ORIGINAL, "name": f"C{i}"})).json()["id"]
           for i in range(5)]
    first = (await client.get("/api/campaigns/", params={"limit": 3})).json()
    second = (await client.get("/api/campaigns/",
                               params={"limit": 3, "cursor": first["next_cursor"]})).json()
    seen = [c["id"] for c in first["items"] + second["items"]]
    assert seen == list(reversed(ids))
    assert second["next_cursor"] is None
    bad = await client.get("/api/campaigns/", params={"cursor": "%%%"})
    assert bad.status_code == 422


async def test_either_spelling_of_a_path_is_served_without_a_redirect(
    client: httpx.AsyncClient,
) -> None:
    created = await client.post("/api/campaigns", json=ORIGINAL)
    assert created.status_code == 201, created.text
    cid = created.json()["id"]
    for path in ("/api/campaigns", "/api/campaigns/", f"/api/campaigns/{cid}",
                 f"/api/campaigns/{cid}/", f"/api/campaigns/{cid}/emails/",
                 f"/api/campaigns/{cid}/recipients/", "/dashboard"):
        response = await client.get(path)
        assert response.status_code in (200, 303), (path, response.status_code)
        assert response.status_code != 307, path
    paused = await client.post(f"/api/campaigns/{cid}/pause/")
    assert paused.status_code == 200
    assert paused.json()["status"] == "paused"
    unknown = await client.post("/api/nothing-here/", json={})
    assert unknown.status_code == 404
    assert unknown.json()["status"] == 404


async def test_the_openapi_document_lists_each_operation_once(
    client: httpx.AsyncClient,
) -> None:
    paths = (await client.get("/openapi.json")).json()["paths"]
    spellings = [p.rstrip("/") for p in paths]
    assert len(spellings) == len(set(spellings)), sorted(paths)
    operations = [op.get("operationId") for item in paths.values() for op in item.values()]
    assert len(operations) == len(set(operations))


async def test_costs_are_plain_fixed_point(client: httpx.AsyncClient, engine: AsyncEngine) -> None:
    created = (await client.post("/api/campaigns/", json=ORIGINAL)).json()
    async with engine.begin() as conn:
        await db.record_generated(conn, campaign_id=created["id"], sequence=1, subject="Hi",
                                  model="m", structure="story", send_at=None, prompt_tokens=1,
                                  completion_tokens=1, cost=0, failure=None)
    detail = (await client.get(f"/api/campaigns/{created['id']}")).json()
    assert created["cost"] == "0"
    assert detail["cost"] == detail["emails"][0]["cost"] == "0.00000000"
    emails = (await client.get(f"/api/campaigns/{created['id']}/emails")).json()
    assert emails[0]["cost"] == "0.00000000"


async def test_a_json_syntax_error_names_the_body_and_where_it_is(
    client: httpx.AsyncClient,
) -> None:
    response = await client.post("/api/campaigns/", content=b'{\n  "name": "x",\n  oops}',
                                 headers={"Content-Type": "application/json"})
    assert response.status_code == 422
    [error] = response.json()["errors"]
    assert error["field"] == "body"
    assert "line 3, column 3" in error["message"], error
    assert "not valid JSON" in response.json()["detail"]
