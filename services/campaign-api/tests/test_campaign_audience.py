"""A campaign targets lists and segments of its workspace, with exclusions, besides its own
recipients; the count it shows is of its audience as it stands now."""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from typing import Any

import httpx
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine

from campaign_api import db

MakeClient = Callable[..., Awaitable[httpx.AsyncClient]]
ReadOutbox = Callable[..., Awaitable[list[dict[str, Any]]]]


async def _list_of(client: httpx.AsyncClient, name: str, emails: list[str]) -> str:
    created = (await client.post("/api/lists/", json={"name": name})).json()
    r = await client.post("/api/contacts/bulk", json={
        "consent_basis": "consent", "list_id": created["id"],
        "contacts": [{"email": e} for e in emails]})
    assert r.status_code == 200, r.text
    list_id: str = created["id"]
    return list_id


async def _segment_of(engine: AsyncEngine, client: httpx.AsyncClient, emails: list[str]) -> str:
    """A segment whose members are already worked out (as the segments' refresh leaves them)."""
    workspace = uuid.UUID((await client.get("/api/workspace")).json()["id"])
    segment_id = uuid.uuid4()
    async with engine.begin() as conn:
        await conn.execute(sa.insert(db.segments).values(
            id=segment_id, workspace_id=workspace, name="Engaged", rule={"all": []}))
        ids = await db.ids_by_email(conn, workspace, emails)
        await conn.execute(sa.insert(db.segment_members), [
            {"segment_id": segment_id, "contact_id": i} for i in ids.values()])
    return str(segment_id)


async def test_a_campaign_counts_its_list_and_targets_less_the_exclusions(
    api_client: MakeClient, api_engine: AsyncEngine, original_payload: dict[str, Any],
    outbox_events: ReadOutbox,
) -> None:
    client = await api_client("acme")
    customers = await _list_of(client, "Customers", [f"c{i}@example.com" for i in range(6)])
    blocked = await _list_of(client, "Blocked", ["c0@example.com", "user@example.com"])
    await client.post("/api/contacts/bulk", json={"consent_basis": "consent", "contacts": [
        {"email": "s1@example.com"}, {"email": "s2@example.com"}]})
    engaged = await _segment_of(api_engine, client, ["c5@example.com", "s1@example.com",
                                                     "s2@example.com"])
    quiet = await _segment_of(api_engine, client, ["s2@example.com"])
    audience = {"lists": [customers], "segments": [engaged], "exclude_lists": [blocked],
                "exclude_segments": [quiet]}
    r = await client.post("/api/campaigns/", json={
        **original_payload, "recipient_emails": ["user@example.com", "own@example.com"],
        "audience": audience})
    assert r.status_code == 201, r.text
    body = r.json()
    assert body["audience"] == audience
    # own list {user, own}, customers {c0..c5} and engaged {c5, s1, s2},
    # less blocked {c0, user} and quiet {s2}: own, c1..c5, s1.
    assert body["progress"]["recipients"] == 7
    [created] = await outbox_events("campaign.created")
    assert created["payload"]["targets"] == {"include": [customers, engaged],
                                             "exclude": [blocked, quiet]}
    # Who joins a targeted list later counts at once.
    await client.post("/api/contacts/bulk", json={
        "consent_basis": "consent", "list_id": customers,
        "contacts": [{"email": "late@example.com"}]})
    cid = body["id"]
    assert (await client.get(f"/api/campaigns/{cid}/")).json()["progress"]["recipients"] == 8
    listed = (await client.get("/api/campaigns/")).json()["items"]
    assert listed[0]["progress"]["recipients"] == 8

    changed = await client.patch(f"/api/campaigns/{cid}/", json={"audience": {
        "lists": [blocked]}})
    assert changed.status_code == 200, changed.text
    assert changed.json()["audience"] == {"lists": [blocked], "segments": [],
                                          "exclude_lists": [], "exclude_segments": []}
    assert changed.json()["progress"]["recipients"] == 3  # user, own, c0
    [updated] = await outbox_events("campaign.updated")
    assert updated["payload"]["targets"] == {"include": [blocked], "exclude": []}
    renamed = await client.patch(f"/api/campaigns/{cid}/", json={"name": "Spring"})
    assert renamed.status_code == 200
    own = (await client.get("/api/lists/", params={"kind": "campaign"})).json()["items"]
    assert [(item["name"], item["campaign_id"]) for item in own] == [("Spring", cid)]


async def test_a_campaign_may_mail_only_a_list_but_needs_someone(
    api_client: MakeClient, original_payload: dict[str, Any],
) -> None:
    client = await api_client("acme")
    customers = await _list_of(client, "Customers", ["a@example.com", "b@example.com"])
    r = await client.post("/api/campaigns/", json={
        **original_payload, "recipient_emails": [], "audience": {"lists": [customers]}})
    assert r.status_code == 201, r.text
    assert r.json()["progress"]["recipients"] == 2
    nobody = await client.post("/api/campaigns/", json={
        **original_payload, "recipient_emails": [], "audience": {"exclude_lists": [customers]}})
    assert nobody.status_code == 422
    assert nobody.json()["errors"][0]["field"] == "recipient_emails"


async def test_targets_must_be_the_workspaces_own_and_are_named_when_not(
    api_client: MakeClient, api_engine: AsyncEngine, original_payload: dict[str, Any],
) -> None:
    acme, other = await api_client("acme"), await api_client("other")
    mine = await _list_of(acme, "Mine", ["a@example.com"])
    theirs = await _list_of(other, "Theirs", ["a@example.com"])
    their_segment = await _segment_of(api_engine, other, ["a@example.com"])
    cases = [
        ({"lists": [mine, theirs]}, "audience.lists[1]"),
        ({"lists": [mine], "segments": [their_segment]}, "audience.segments[0]"),
        ({"lists": [mine], "segments": [mine]}, "audience.segments[0]"),
        ({"lists": [mine], "exclude_lists": [str(uuid.uuid4())]}, "audience.exclude_lists[0]"),
        ({"lists": [mine], "exclude_segments": [theirs]}, "audience.exclude_segments[0]"),
    ]
    for audience, field in cases:
        r = await acme.post("/api/campaigns/", json={**original_payload, "audience": audience})
        assert r.status_code == 422, (audience, r.text)
        assert [e["field"] for e in r.json()["errors"]] == [field], r.text
    assert (await acme.get("/api/campaigns/")).json()["items"] == []
    created = (await acme.post("/api/campaigns/", json=original_payload)).json()
    r = await acme.patch(f"/api/campaigns/{created['id']}/", json={"audience": {
        "lists": [theirs]}})
    assert r.status_code == 422
    assert r.json()["errors"][0]["field"] == "audience.lists[0]"
    unknown = await acme.post("/api/campaigns/", json={**original_payload, "audience": {
        "lists": [mine], "everyone": True}})
    assert unknown.status_code == 422
