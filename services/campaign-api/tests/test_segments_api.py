"""/api/segments: create, read, list, change, delete, the preview that saves nothing, a 422
naming the path inside the rule, one workspace never seeing another's; and the refresher that
sends a segment's members to the mailer as list.members.* with list_id = the segment's id."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Awaitable, Callable
from datetime import timedelta
from typing import Any

import httpx
from sqlalchemy.ext.asyncio import AsyncEngine

from campaign_api.usecases.segments import refresh_due_segment, refresh_loop
from servicekit.shutdown import Shutdown

MakeClient = Callable[..., Awaitable[httpx.AsyncClient]]
ReadOutbox = Callable[..., Awaitable[list[dict[str, Any]]]]
NOW_DUE = timedelta(seconds=3_600)
VIP_ADULTS = {"all": [{"tag": "vip"}, {"field": "age", "op": "greater", "value": 17}]}


async def _people(client: httpx.AsyncClient) -> None:
    r = await client.post("/api/fields/", json={"key": "age", "type": "number"})
    assert r.status_code == 201, r.text
    r = await client.post("/api/contacts/bulk", json={"consent_basis": "consent", "contacts": [
        {"email": "ann@example.com", "tags": ["vip"], "fields": {"age": 30}},
        {"email": "bob@example.com", "tags": ["vip"], "fields": {"age": 12}},
        {"email": "cid@example.com", "tags": ["vip"], "fields": {"age": 50}},
        {"email": "dee@example.com", "fields": {"age": 40}},
    ]})
    assert r.status_code == 200, r.text


def _emails(events: list[dict[str, Any]], segment_id: str) -> list[str]:
    return sorted(e for ev in events if ev["payload"]["list_id"] == segment_id
                  for e in ev["payload"]["emails"])


async def test_a_segment_is_created_shown_with_count_and_sample_changed_listed_and_deleted(
    api_client: MakeClient,
) -> None:
    client = await api_client()
    await _people(client)
    r = await client.post("/api/segments/", json={"name": "VIP adults", "rule": VIP_ADULTS})
    assert r.status_code == 201, r.text
    created = r.json()
    assert created["count"] == 2
    assert [c["email"] for c in created["sample"]] == ["ann@example.com", "cid@example.com"]
    assert created["refreshed_at"] is None
    url = f"/api/segments/{created['id']}/"
    shown = (await client.get(url)).json()
    assert (shown["count"], shown["rule"]) == (2, {"all": [
        {"tag": "vip", "op": "has"}, {"field": "age", "op": "greater", "value": 17.0}]})
    changed = await client.patch(url, json={"rule": {"field": "age", "op": "less",
                                                     "value": 45}})
    assert changed.status_code == 200, changed.text
    assert [c["email"] for c in changed.json()["sample"]] == [
        "ann@example.com", "bob@example.com", "dee@example.com"]
    renamed = await client.patch(url, json={"name": "Under 45"})
    assert (renamed.json()["name"], renamed.json()["count"]) == ("Under 45", 3)
    await client.post("/api/segments/", json={"name": "All", "rule": {"all": []}})
    page = (await client.get("/api/segments/", params={"limit": 1})).json()
    assert [s["name"] for s in page["items"]] == ["All"]
    rest = (await client.get("/api/segments/", params={"cursor": page["next_cursor"]})).json()
    assert [s["name"] for s in rest["items"]] == ["Under 45"]
    assert (await client.delete(url)).status_code == 204
    assert (await client.get(url)).status_code == 404


async def test_the_preview_counts_and_samples_without_saving(api_client: MakeClient) -> None:
    client = await api_client()
    await _people(client)
    r = await client.post("/api/segments/preview", json={"rule": {"tag": "vip",
                                                                  "op": "has_not"}})
    assert r.status_code == 200, r.text
    assert r.json() == {"count": 1, "sample": [
        {"id": r.json()["sample"][0]["id"], "email": "dee@example.com", "name": "",
         "status": "subscribed"}]}
    assert (await client.get("/api/segments/")).json()["items"] == []


async def test_a_malformed_rule_is_refused_with_its_path_and_nothing_is_stored(
    api_client: MakeClient,
) -> None:
    client = await api_client()
    await _people(client)
    bad = {"all": [{"tag": "vip"}, {"status": ["subscribed"]},
                   {"any": [{"field": "age", "op": "greater", "value": "old"}]}]}
    for r in (await client.post("/api/segments/", json={"name": "x", "rule": bad}),
              await client.post("/api/segments/preview", json={"rule": bad})):
        assert r.status_code == 422, r.text
        assert r.json()["errors"] == [{"field": "rule.all[2].any[0].value",
                                       "message": 'a number is required for field "age"'}]
    other = await client.post("/api/segments/preview",
                              json={"rule": {"any": [{"list": str(uuid.uuid4())}]}})
    assert other.json()["errors"][0]["field"] == "rule.any[0].list"
    assert (await client.post("/api/segments/", json={"name": "x", "rule": []})
            ).status_code == 422
    assert (await client.get("/api/segments/")).json()["items"] == []


async def test_a_workspace_never_sees_another_workspaces_segments_or_contacts(
    api_client: MakeClient,
) -> None:
    acme, other = await api_client("acme"), await api_client("other")
    await _people(acme)
    r = await acme.post("/api/segments/", json={"name": "all", "rule": {"all": []}})
    url = f"/api/segments/{r.json()['id']}/"
    assert (await other.get(url)).status_code == 404
    assert (await other.patch(url, json={"name": "mine"})).status_code == 404
    assert (await other.delete(url)).status_code == 404
    assert (await other.post("/api/segments/preview", json={"rule": {"all": []}})
            ).json()["count"] == 0
    assert (await other.get("/api/segments/")).json()["items"] == []


async def test_the_refresher_sends_the_members_then_only_what_changed_and_deletion_empties_it(
    api_client: MakeClient, api_engine: AsyncEngine, outbox_events: ReadOutbox,
) -> None:
    client = await api_client()
    await _people(client)
    segment = (await client.post("/api/segments/", json={"name": "vip adults",
                                                         "rule": VIP_ADULTS})).json()
    sid = segment["id"]
    assert str(await refresh_due_segment(api_engine, NOW_DUE)) == sid
    assert await refresh_due_segment(api_engine, NOW_DUE) is None  # not due again yet
    assert _emails(await outbox_events("list.members.added"), sid) == [
        "ann@example.com", "cid@example.com"]
    assert (await client.get(f"/api/segments/{sid}/")).json()["members"] == 2
    # bob grows up, ann loses the tag: a refresh (the interval passed) sends just that.
    ann, bob = [(await client.get("/api/contacts/", params={"q": name})).json()["items"][0]
                ["id"] for name in ("ann", "bob")]
    for contact_id, change in ((bob, {"fields": {"age": 18}}), (ann, {"tags": []})):
        r = await client.patch(f"/api/contacts/{contact_id}/", json=change)
        assert r.status_code == 200, r.text
    await refresh_due_segment(api_engine, timedelta(0))
    assert _emails(await outbox_events("list.members.added"), sid) == [
        "ann@example.com", "bob@example.com", "cid@example.com"]
    assert _emails(await outbox_events("list.members.removed"), sid) == ["ann@example.com"]
    # A change of rule is due at once.
    await client.patch(f"/api/segments/{sid}/", json={"rule": {"field": "age", "op": "less",
                                                               "value": 20}})
    assert str(await refresh_due_segment(api_engine, NOW_DUE)) == sid
    assert _emails(await outbox_events("list.members.removed"), sid) == [
        "ann@example.com", "cid@example.com"]
    assert (await client.delete(f"/api/segments/{sid}/")).status_code == 204
    assert _emails(await outbox_events("list.members.removed"), sid) == [
        "ann@example.com", "bob@example.com", "cid@example.com"]


async def test_replicas_refreshing_at_once_share_the_segments_and_send_each_member_once(
    api_client: MakeClient, api_engine: AsyncEngine, outbox_events: ReadOutbox,
) -> None:
    client = await api_client()
    await _people(client)
    ids = [(await client.post("/api/segments/", json={"name": f"s{i}", "rule": {"all": []}})
            ).json()["id"] for i in range(4)]
    refreshed = await asyncio.gather(*(refresh_due_segment(api_engine, NOW_DUE)
                                       for _ in range(6)))
    done = [str(s) for s in refreshed if s is not None]
    assert sorted(done) == sorted(set(done))  # no segment refreshed twice
    while (more := await refresh_due_segment(api_engine, NOW_DUE)) is not None:
        done.append(str(more))
    assert sorted(done) == sorted(ids)
    added = await outbox_events("list.members.added")
    for sid in ids:
        assert _emails(added, sid) == ["ann@example.com", "bob@example.com",
                                       "cid@example.com", "dee@example.com"]


async def test_the_refresh_loop_sends_a_new_segment_at_once_in_bounded_events_and_stops(
    api_client: MakeClient, api_engine: AsyncEngine, outbox_events: ReadOutbox,
) -> None:
    client = await api_client()
    r = await client.post("/api/contacts/bulk", json={"consent_basis": "consent", "contacts": [
        {"email": f"m{i:04}@example.com", "tags": ["many"]} for i in range(1_200)]})
    assert r.status_code == 200, r.text
    shutdown = Shutdown(grace=5)
    loop = asyncio.create_task(refresh_loop(api_engine, shutdown, interval=3_600, poll=0.05))
    sid = (await client.post("/api/segments/", json={"name": "many", "rule": {"tag": "many"}})
           ).json()["id"]
    async with asyncio.timeout(30):
        while len(_emails(await outbox_events("list.members.added"), sid)) < 1_200:  # noqa: ASYNC110 - polls the outbox
            await asyncio.sleep(0.05)
    shutdown.request()
    async with asyncio.timeout(5):
        await loop
    sizes = [len(e["payload"]["emails"]) for e in await outbox_events("list.members.added")
             if e["payload"]["list_id"] == sid]
    assert sizes == [500, 500, 200]
