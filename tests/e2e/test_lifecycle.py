"""Pause, resume, update, cancel and completion through the API, observed end to end on the
whole system: the scheduler's plan in the campaign's detail, no email due while paused, and a
one-email campaign that completes once resumed."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from itertools import pairwise
from typing import Any

import httpx
import nats
import pytest

from devstack.stack import Stack
from testkit.fake_openrouter import FakeOpenRouter
from testkit.system import api_client, running_system, wait_for

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def stack(fake_llm: FakeOpenRouter) -> Iterator[Stack]:
    # Emails fall due at their send time.
    with running_system("cb-e2e-", fake_llm,
                        extra_env={"SCHEDULER_LEAD_TIME_SECONDS": "0"}) as running:
        yield running


@pytest.fixture
def api(stack: Stack) -> Iterator[httpx.Client]:
    with api_client(stack) as client:
        yield client


def _due_events(nats_url: str, campaign_id: str) -> list[dict[str, Any]]:
    """Every email.due on the SCHEDULE stream for this campaign, read with a throw-away
    consumer."""

    async def read() -> list[dict[str, Any]]:
        nc = await nats.connect(nats_url)
        try:
            js = nc.jetstream(timeout=20)  # a loaded machine answers slowly
            # Read everything the stream holds, however slowly it arrives.
            total = (await js.stream_info("SCHEDULE")).state.messages
            sub = await js.pull_subscribe("email.due", stream="SCHEDULE")
            found: list[dict[str, Any]] = []
            seen = 0
            deadline = time.monotonic() + 30
            while seen < total:
                assert time.monotonic() < deadline, f"read {seen} of {total} email.due"
                try:
                    batch = await sub.fetch(100, timeout=5)
                except nats.errors.TimeoutError:
                    continue
                seen += len(batch)
                for msg in batch:
                    event = json.loads(msg.data)
                    if event["payload"]["campaign_id"] == campaign_id:
                        found.append(event)
            return found
        finally:
            await nc.close()

    return asyncio.run(read())


def _payload(start: datetime, **changes: Any) -> dict[str, Any]:
    return {
        "name": "Lifecycle", "description": "Tips for new customers", "schedule_type": "daily",
        "start_at": start.isoformat(), "send_time": start.time().isoformat(),
        "timezone": "UTC", "ai_agent_id": "openai/gpt-4o-mini",
        "recipient_emails": ["ada@example.com"], **changes,
    }


def _detail(api: httpx.Client, cid: str) -> dict[str, Any]:
    body: dict[str, Any] = api.get(f"/api/campaigns/{cid}/").json()
    return body


def test_a_paused_campaign_sends_nothing_and_resumes_at_its_next_slot(
    stack: Stack, api: httpx.Client
) -> None:
    start = (datetime.now(UTC) + timedelta(seconds=4)).replace(microsecond=0)
    created = api.post("/api/campaigns/", json=_payload(start, total_emails=1))
    assert created.status_code == 201, created.text
    cid = created.json()["id"]
    assert api.post(f"/api/campaigns/{cid}/pause").json()["status"] == "paused"
    planned = wait_for("the scheduler's plan",
                        lambda: (d := _detail(api, cid))["planned_total_emails"] and d)
    assert planned["planned_total_emails"] == 1

    # Well past the send time: nothing fell due, nothing was written.
    time.sleep(max(0.0, (start - datetime.now(UTC)).total_seconds()) + 2)
    assert _due_events(stack.nats_url, cid) == []
    held = _detail(api, cid)
    assert held["emails"] == []
    assert held["status"] == "paused"

    updated = api.patch(f"/api/campaigns/{cid}/", json={"brand_voice": "Friendly"})
    assert updated.status_code == 200
    assert updated.json()["brand_voice"] == "Friendly"

    # The slot that passed while paused is dropped: email 1 takes the next day's slot.
    assert api.post(f"/api/campaigns/{cid}/resume").json()["status"] == "active"
    tomorrow = start + timedelta(days=1)
    resumed = wait_for("the plan after resuming", lambda: (d := _detail(api, cid))[
        "next_send_times"][:1] == [tomorrow.isoformat().replace("+00:00", "Z")] and d)
    assert resumed["planned_total_emails"] == 1
    assert _due_events(stack.nats_url, cid) == []


def test_a_one_email_campaign_completes_and_can_be_archived(
    stack: Stack, api: httpx.Client
) -> None:
    created = api.post("/api/campaigns/", json=_payload(datetime.now(UTC), total_emails=1))
    assert created.status_code == 201, created.text
    cid = created.json()["id"]
    assert api.post(f"/api/campaigns/{cid}/archive").status_code == 409  # still running
    done = wait_for("completion", lambda: (d := _detail(api, cid))["status"] == "completed"
                     and d, timeout=60)
    assert len(_due_events(stack.nats_url, cid)) == 1
    wait_for("the delivery",
              lambda: _detail(api, cid)["progress"]["deliveries_sent"] == 1, timeout=30)
    assert _detail(api, cid)["emails"][0]["subject"]
    assert done["planned_total_emails"] == 1
    archived = api.post(f"/api/campaigns/{cid}/archive")
    assert archived.status_code == 200
    assert archived.json()["archived"] is True
    assert cid not in [c["id"] for c in api.get("/api/campaigns/").json()["items"]]


def test_update_replans_and_cancel_is_final(stack: Stack, api: httpx.Client) -> None:
    start = (datetime.now(UTC) + timedelta(days=1)).replace(microsecond=0)
    cid = api.post("/api/campaigns/", json=_payload(start, total_emails=4)).json()["id"]

    def plan() -> dict[str, Any]:
        body: dict[str, Any] = api.get(f"/api/campaigns/{cid}/").json()
        return body

    first = wait_for("the first plan", lambda: (d := plan())["planned_total_emails"] == 4 and d)
    times = [datetime.fromisoformat(t) for t in first["next_send_times"]]
    assert len(times) == 4
    assert times[0] == start
    assert all(b - a == timedelta(days=1) for a, b in pairwise(times))

    changed = api.patch(f"/api/campaigns/{cid}/", json={"total_emails": 2,
                                                       "timezone": "America/New_York"})
    assert changed.status_code == 200, changed.text
    replanned = wait_for("the new plan", lambda: (d := plan())["planned_total_emails"] == 2
                          and d)
    assert len(replanned["next_send_times"]) == 2

    assert api.post(f"/api/campaigns/{cid}/cancel").json()["status"] == "cancelled"
    for action in ("pause", "resume"):
        refused = api.post(f"/api/campaigns/{cid}/{action}")
        assert refused.status_code == 409
        assert refused.headers["content-type"] == "application/problem+json"
    assert api.patch(f"/api/campaigns/{cid}/", json={"name": "Again"}).status_code == 409
    time.sleep(1)
    assert plan()["status"] == "cancelled"
    assert _due_events(stack.nats_url, cid) == []
