"""Update, pause, resume, cancel, archive; filters and pages; the scheduler's plan."""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine

from campaign_api import db, handlers
from contracts import CampaignCompleted, CampaignScheduled
from contracts.events import CampaignCompletedPayload, CampaignScheduledPayload
from servicekit.db import UnitOfWork

MakeClient = Callable[..., Awaitable[httpx.AsyncClient]]
ReadOutbox = Callable[..., Awaitable[list[dict[str, Any]]]]
ORIGINAL_PAYLOAD: dict[str, Any] = {
    "name": "Product Launch Series", "description": "Weekly emails about our new product",
    "schedule_type": "weekly", "weekly_emails": 2, "weekly_days": [1, 3, 5], "total_months": 3,
    "ai_agent_id": "openai/gpt-4", "recipient_emails": ["user@example.com"],
}


async def _create(client: httpx.AsyncClient, **changes: Any) -> dict[str, Any]:
    response = await client.post("/api/campaigns/", json={**ORIGINAL_PAYLOAD, **changes})
    assert response.status_code == 201, response.text
    body: dict[str, Any] = response.json()
    return body


async def test_patch_publishes_the_whole_new_definition(
    api_client: MakeClient, api_engine: AsyncEngine, outbox_events: ReadOutbox
) -> None:
    client = await api_client()
    created = await _create(client)
    response = await client.patch(f"/api/campaigns/{created['id']}/", json={
        "brand_voice": "Warm, direct", "weekly_days": ["tue", "thu"], "timezone": "Europe/Berlin",
        "total_months": None, "total_emails": 6, "ai_agent_id": "anthropic/claude-3.5-sonnet",
    })
    assert response.status_code == 200, response.text
    detail = response.json()
    assert (detail["brand_voice"], detail["weekly_days"], detail["timezone"]) == (
        "Warm, direct", [2, 4], "Europe/Berlin")
    assert (detail["total_months"], detail["total_emails"]) == (None, 6)
    [updated] = await outbox_events("campaign.updated")
    payload = updated["payload"]
    assert payload["campaign_id"] == created["id"]
    assert payload["model"] == "anthropic/claude-3.5-sonnet"
    assert payload["schedule"]["weekly_days"] == [2, 4]
    assert payload["schedule"]["total_emails"] == 6
    assert payload["description"] == ORIGINAL_PAYLOAD["description"]  # unchanged fields stay

    # No duration left is refused, naming the field, and nothing is published.
    bad = await client.patch(f"/api/campaigns/{created['id']}/", json={"total_emails": None})
    assert bad.status_code == 422
    assert "total_months" in [e["field"] for e in bad.json()["errors"]]
    assert len(await outbox_events("campaign.updated")) == 1


async def test_lifecycle_actions_publish_and_refuse_what_the_status_forbids(
    api_client: MakeClient, api_engine: AsyncEngine, outbox_events: ReadOutbox
) -> None:
    client = await api_client()
    cid = (await _create(client))["id"]

    async def act(action: str) -> httpx.Response:
        return await client.post(f"/api/campaigns/{cid}/{action}")

    assert (await act("archive")).status_code == 409  # still running
    assert (await act("resume")).json()["status"] == "active"  # already: no change, no event
    paused = await act("pause")
    assert paused.json()["status"] == "paused"
    assert (await act("pause")).json()["status"] == "paused"  # again: no change, no event
    assert (await act("resume")).json()["status"] == "active"
    assert (await act("cancel")).json()["status"] == "cancelled"
    refused = await act("resume")
    assert refused.status_code == 409
    assert refused.headers["content-type"] == "application/problem+json"
    assert (await client.patch(f"/api/campaigns/{cid}/", json={"name": "x"})).status_code == 409
    subjects = [e["type"] for e in await outbox_events()]
    assert subjects[-3:] == ["campaign.paused", "campaign.resumed", "campaign.cancelled"]

    archived = await act("archive")
    assert archived.json()["archived"] is True
    assert (await client.get("/api/campaigns/")).json()["items"] == []
    listed = (await client.get("/api/campaigns/", params={"archived": True})).json()["items"]
    assert [c["id"] for c in listed] == [cid]


async def test_filters_and_a_cursor_that_survives_ties(
    api_client: MakeClient, api_engine: AsyncEngine, outbox_events: ReadOutbox
) -> None:
    client = await api_client()
    ids = [(await _create(client, name=f"Spring {i}"))["id"] for i in range(4)]
    other = (await _create(client, name="Autumn", description="leaves 100%_off"))["id"]
    # Same creation instant for all: only the id can order them.
    async with api_engine.begin() as conn:
        await conn.execute(sa.update(db.campaigns).values(
            created_at=datetime(2026, 1, 1, tzinfo=UTC)))
    seen: list[str] = []
    cursor = None
    while True:
        params: dict[str, Any] = {"limit": 2, **({"cursor": cursor} if cursor else {})}
        page = (await client.get("/api/campaigns/", params=params)).json()
        seen += [c["id"] for c in page["items"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert sorted(seen) == sorted([*ids, other])
    assert len(seen) == 5

    found = (await client.get("/api/campaigns/", params={"q": "spring"})).json()["items"]
    assert sorted(c["id"] for c in found) == sorted(ids)
    found = (await client.get("/api/campaigns/", params={"q": "100%_"})).json()["items"]
    assert [c["id"] for c in found] == [other]
    await client.post(f"/api/campaigns/{other}/pause")
    paused = (await client.get("/api/campaigns/", params={"status": "paused"})).json()["items"]
    assert [c["id"] for c in paused] == [other]


async def test_detail_shows_the_schedulers_plan_and_completion(
    api_client: MakeClient, api_engine: AsyncEngine, outbox_events: ReadOutbox
) -> None:
    client = await api_client()
    created = await _create(client)
    cid = uuid.UUID(created["id"])
    assert created["next_sequence"] is not None  # planned by the same rules from the start
    ws = uuid.uuid4()
    # A plan published two days ago: emails 3 to 5 went out since; five of the rest show.
    first = datetime.now(UTC).replace(microsecond=0) - timedelta(days=2, hours=1)
    times = [first + timedelta(days=i) for i in range(10)]
    async with UnitOfWork(api_engine) as uow:
        await handlers.on_campaign_scheduled(CampaignScheduled.create(CampaignScheduledPayload(
            campaign_id=cid, state="active", total_emails=26, next_sequence=3,
            next_send_times=times), workspace_id=ws), uow)
        await uow.commit()
    detail = (await client.get(f"/api/campaigns/{cid}/")).json()
    assert detail["planned_total_emails"] == 26
    assert detail["progress"]["emails_planned"] == 26
    assert detail["next_sequence"] == 6
    assert [datetime.fromisoformat(t) for t in detail["next_send_times"]] == times[3:8]

    async with UnitOfWork(api_engine) as uow:
        await handlers.on_campaign_completed(CampaignCompleted.create(
            CampaignCompletedPayload(campaign_id=cid, total_emails=26), workspace_id=ws), uow)
        await uow.commit()
    assert (await client.get(f"/api/campaigns/{cid}/")).json()["status"] == "completed"


async def test_bodies_over_the_limit_are_a_413(api_client: MakeClient) -> None:
    client = await api_client(max_body_bytes=4096)
    big = {**ORIGINAL_PAYLOAD, "description": "x" * 10_000}
    response = await client.post("/api/campaigns/", json=big)
    assert response.status_code == 413
    assert response.headers["content-type"] == "application/problem+json"

    async def chunked() -> Any:  # no Content-Length: counted as it arrives
        yield b'{"name": "'
        for _ in range(10):
            yield b"x" * 1000

    response = await client.post("/api/campaigns/", content=chunked(),
                                 headers={"Content-Type": "application/json"})
    assert response.status_code == 413


async def test_each_key_has_its_own_rate_limit(api_client: MakeClient) -> None:
    client = await api_client(rate_burst=3, rate_per_second=0.01)
    codes = [(await client.get("/api/campaigns/")).status_code for _ in range(4)]
    assert codes == [200, 200, 200, 429]
    limited = await client.get("/api/campaigns/")
    assert int(limited.headers["retry-after"]) >= 1
    other = await api_client("globex", rate_burst=3, rate_per_second=0.01)
    assert (await other.get("/api/campaigns/")).status_code == 200


async def test_keys_are_created_shown_once_listed_and_revoked(
    api_client: MakeClient, api_engine: AsyncEngine, outbox_events: ReadOutbox
) -> None:
    client = await api_client()
    created = (await client.post("/api/keys", json={"name": "ci"})).json()
    assert created["key"].startswith("cb_")
    async with api_engine.connect() as conn:
        stored = (await conn.execute(sa.select(db.api_keys.c.key_hash))).scalars().all()
    assert created["key"] not in stored  # only the hash is kept
    listed = (await client.get("/api/keys")).json()
    assert "key" not in listed[0]
    assert created["id"] in [k["id"] for k in listed]

    new = httpx.AsyncClient(transport=client._transport, base_url="http://api",
                            headers={"Authorization": f"Bearer {created['key']}"})
    async with new:
        assert (await new.get("/api/workspace")).json()["name"] == "acme"
        assert (await client.delete(f"/api/keys/{created['id']}")).status_code == 204
        assert (await new.get("/api/campaigns/")).status_code == 401
    assert (await client.delete(f"/api/keys/{uuid.uuid4()}")).status_code == 404


async def test_a_start_in_the_past_is_a_start_now(
    api_client: MakeClient, outbox_events: ReadOutbox
) -> None:
    client = await api_client()
    before = datetime.now(UTC)
    created = await _create(client, start_at="2020-01-06T09:00:00", timezone="Europe/Berlin")
    assert datetime.fromisoformat(created["start_at"]) >= before
    [event] = await outbox_events("campaign.created")
    schedule = event["payload"]["schedule"]
    # Kept as given, the scheduler would plan six years of slots, skip them as missed and the
    # plan would count them as sent.
    assert datetime.fromisoformat(schedule["start_at"]) >= before
    assert schedule["start_immediately"] is True


async def _plan(engine: AsyncEngine, cid: uuid.UUID, state: str, next_sequence: int,
                times: list[datetime], at: datetime | None = None) -> None:
    async with UnitOfWork(engine) as uow:
        await handlers.on_campaign_scheduled(CampaignScheduled.create(CampaignScheduledPayload(
            campaign_id=cid, state=state, total_emails=12, next_sequence=next_sequence,  # type: ignore[arg-type]
            next_send_times=times), workspace_id=uuid.uuid4(), occurred_at=at), uow)
        await uow.commit()


async def test_a_paused_campaign_keeps_its_plan_and_resumes_with_it(
    api_client: MakeClient, api_engine: AsyncEngine
) -> None:
    client = await api_client()
    cid = uuid.UUID((await _create(client))["id"])
    now = datetime.now(UTC).replace(microsecond=0)
    paused_at = now - timedelta(hours=2)
    # Email 2 was due an hour ago, while the campaign was paused: that slot is dropped and
    # email 2 takes the next one (the scheduler numbers on without a gap).
    times = [now - timedelta(hours=1)] + [now + timedelta(days=d) for d in range(1, 8)]
    await _plan(api_engine, cid, "active", 2, times, at=paused_at - timedelta(days=1))
    assert (await client.post(f"/api/campaigns/{cid}/pause")).status_code == 200
    await _plan(api_engine, cid, "paused", 2, [], at=paused_at)

    paused = (await client.get(f"/api/campaigns/{cid}")).json()
    assert paused["status"] == "paused"
    assert paused["next_sequence"] == 2
    assert [datetime.fromisoformat(t) for t in paused["next_send_times"]] == times[1:6]

    resumed = await client.post(f"/api/campaigns/{cid}/resume")
    assert resumed.json()["status"] == "active"
    # Right from the first answer, before the scheduler's new plan: nothing vanishes.
    assert resumed.json()["next_sequence"] == 2
    assert [datetime.fromisoformat(t) for t in resumed.json()["next_send_times"]] == times[1:6]
    again = (await client.get(f"/api/campaigns/{cid}")).json()
    assert again["next_sequence"] == 2
    assert again["next_send_times"] == resumed.json()["next_send_times"]


async def test_the_plan_shows_from_the_creates_own_answer(api_client: MakeClient) -> None:
    client = await api_client()
    # The design's example from Monday 2 March 2099, Berlin: Mondays and Fridays at 09:00
    # (08:00 UTC) for three months, 27 emails, before the scheduler has said a word.
    created = await _create(client, start_at="2099-03-02T00:00:00", timezone="Europe/Berlin")
    assert created["planned_total_emails"] == 27
    assert created["progress"]["emails_planned"] == 27
    assert created["next_sequence"] == 1
    assert created["next_send_times"] == [
        "2099-03-02T08:00:00Z", "2099-03-06T08:00:00Z", "2099-03-09T08:00:00Z",
        "2099-03-13T08:00:00Z", "2099-03-16T08:00:00Z"]
    detail = (await client.get(f"/api/campaigns/{created['id']}")).json()
    assert detail["next_send_times"] == created["next_send_times"]
