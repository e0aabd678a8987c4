"""Journeys through the REST API: a campaign of kind "journey" saved with its graph, numbered
and versioned, and every kind of malformed graph refused with 422 naming the step at fault."""

from __future__ import annotations

import copy
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine

from campaign_api import db

from .conftest import MakeClient, ReadOutbox


def welcome() -> dict[str, Any]:
    """The issue's welcome journey: email 1, wait 2 minutes, clicked email 1? 2a : 2b, exit."""
    return {
        "trigger": {"type": "event_received", "name": "signed_up"},
        "start": "email-1",
        "steps": [
            {"type": "email", "id": "email-1", "goal": "Say hello", "next": "wait-1"},
            {"type": "wait", "id": "wait-1", "until": {"kind": "duration", "seconds": 120},
             "next": "clicked-1"},
            {"type": "branch", "id": "clicked-1",
             "condition": {"kind": "clicked", "step": "email-1"},
             "then": "email-2a", "else": "email-2b"},
            {"type": "email", "id": "email-2a", "goal": "Thank the clicker", "next": "done"},
            {"type": "email", "id": "email-2b", "goal": "Nudge", "next": "done"},
            {"type": "exit", "id": "done"},
        ],
    }


def journey(graph: dict[str, Any] | None = None, **extra: Any) -> dict[str, Any]:
    return {"name": "Welcome", "description": "Welcome new sign-ups", "kind": "journey",
            "ai_agent_id": "openai/gpt-4", "timezone": "Europe/Berlin",
            "send_window": {"start": "08:00", "end": "20:00"},
            "journey": graph or welcome(), **extra}


def numbers(graph: dict[str, Any]) -> dict[str, int]:
    return {s["id"]: s["sequence"] for s in graph["steps"] if s["type"] == "email"}


async def test_a_journey_is_saved_with_its_email_steps_numbered_and_announced(
    api_client: MakeClient, outbox_events: ReadOutbox
) -> None:
    client = await api_client()
    created = await client.post("/api/campaigns/", json=journey())
    assert created.status_code == 201, created.text
    body = created.json()
    assert body["kind"] == "journey"
    assert body["journey"]["version"] == 1
    assert numbers(body["journey"]) == {"email-1": 1, "email-2a": 2, "email-2b": 3}
    assert body["timezone"] == "Europe/Berlin"
    assert body["next_send_times"] == []

    read = (await client.get(f"/api/campaigns/{body['id']}/")).json()
    assert read["journey"] == body["journey"]
    [event] = await outbox_events("campaign.created")
    assert event["payload"]["kind"] == "journey"
    assert event["payload"]["journey"] == body["journey"]
    assert event["payload"]["schedule"]["send_window"]["start"] == "08:00:00"


async def test_each_edit_of_a_journey_is_a_new_version_and_the_old_ones_are_kept(
    api_client: MakeClient, outbox_events: ReadOutbox, api_engine: AsyncEngine
) -> None:
    client = await api_client()
    campaign = (await client.post("/api/campaigns/", json=journey())).json()
    edited = welcome()
    edited["steps"][4]["goal"] = "Nudge, kindly"
    response = await client.patch(f"/api/campaigns/{campaign['id']}/", json={"journey": edited})
    assert response.status_code == 200, response.text
    graph = response.json()["journey"]
    assert graph["version"] == 2
    assert numbers(graph) == {"email-1": 1, "email-2a": 2, "email-2b": 4}

    # The same graph again (with what the API assigned, or without) is no new version.
    again = await client.patch(f"/api/campaigns/{campaign['id']}/", json={"journey": graph})
    assert again.json()["journey"]["version"] == 2
    renamed = await client.patch(f"/api/campaigns/{campaign['id']}/",
                                 json={"journey": edited, "name": "Welcome aboard"})
    assert renamed.json()["journey"]["version"] == 2

    updated = await outbox_events("campaign.updated")
    assert [e["payload"]["journey"]["version"] for e in updated] == [2, 2]
    async with api_engine.connect() as conn:
        kept = (await conn.execute(sa.select(db.journey_versions.c.version)
                                   .order_by(db.journey_versions.c.version))).scalars().all()
    assert kept == [1, 2]


async def test_a_journey_takes_no_cadence_and_a_campaign_takes_no_graph(
    api_client: MakeClient, original_payload: dict[str, Any]
) -> None:
    client = await api_client()
    cadence = await client.post("/api/campaigns/", json=journey(schedule_type="weekly"))
    assert cadence.status_code == 422
    assert cadence.json()["errors"][0]["field"] == "schedule_type"
    graphless = await client.post("/api/campaigns/", json={**journey(), "journey": None})
    assert graphless.status_code == 422
    assert graphless.json()["errors"][0]["field"] == "journey"
    mixed = await client.post("/api/campaigns/", json={**original_payload,
                                                       "journey": welcome()})
    assert mixed.status_code == 422
    assert mixed.json()["errors"][0]["field"] == "journey"

    campaign = (await client.post("/api/campaigns/", json=original_payload)).json()
    patched = await client.patch(f"/api/campaigns/{campaign['id']}/",
                                 json={"journey": welcome()})
    assert patched.status_code == 422
    assert patched.json()["errors"][0]["field"] == "journey"
    saved = (await client.post("/api/campaigns/", json=journey())).json()
    weekly = await client.patch(f"/api/campaigns/{saved['id']}/", json={"weekly_days": [1]})
    assert weekly.status_code == 422
    assert weekly.json()["errors"][0]["field"] == "weekly_days"


def _unknown_next(g: dict[str, Any]) -> None:
    g["steps"][1]["next"] = "wait-3"


def _loop(g: dict[str, Any]) -> None:
    g["steps"][3]["next"] = "email-1"


def _unreachable(g: dict[str, Any]) -> None:
    g["steps"].insert(5, {"type": "email", "id": "orphan", "goal": "Lost", "next": "done"})


def _duplicate_id(g: dict[str, Any]) -> None:
    g["steps"][4]["id"] = "email-2a"


def _leads_nowhere(g: dict[str, Any]) -> None:
    g["steps"][5] = {"type": "wait", "id": "done", "until": {"kind": "duration",
                                                             "seconds": 60}, "next": "done"}


def _branch_on_an_email_not_sent(g: dict[str, Any]) -> None:
    g["steps"][2]["condition"]["step"] = "email-2a"


MALFORMED = {
    "a step leading to no step": (_unknown_next, "journey.steps.1", "wait-1", "no step"),
    "a loop": (_loop, "journey.steps.3", "email-2a", "loop"),
    "an unreachable step": (_unreachable, "journey.steps.5", "orphan", "reach"),
    "two steps with one id": (_duplicate_id, "journey.steps.4", "email-2a", "already"),
    "a branch on an email not always sent": (_branch_on_an_email_not_sent, "journey.steps.2",
                                             "clicked-1", "email-2a"),
}


@pytest.mark.parametrize("kind", sorted(MALFORMED))
async def test_each_kind_of_malformed_journey_is_refused_with_the_step_named(
    api_client: MakeClient, outbox_events: ReadOutbox, kind: str
) -> None:
    client = await api_client()
    spoil, field, step, words = MALFORMED[kind]
    graph = copy.deepcopy(welcome())
    spoil(graph)
    response = await client.post("/api/campaigns/", json=journey(graph))
    assert response.status_code == 422, response.text
    assert response.headers["content-type"] == "application/problem+json"
    errors = response.json()["errors"]
    mine = next(e for e in errors if e["field"] == field)
    assert mine["message"].startswith(f'step "{step}": ')
    assert words in mine["message"].lower()
    assert await outbox_events("campaign.created") == []


async def test_a_malformed_edit_is_refused_with_the_step_named_and_nothing_changes(
    api_client: MakeClient
) -> None:
    client = await api_client()
    saved = (await client.post("/api/campaigns/", json=journey())).json()
    graph = welcome()
    _leads_nowhere(graph)
    response = await client.patch(f"/api/campaigns/{saved['id']}/", json={"journey": graph})
    assert response.status_code == 422, response.text
    fields = [e["field"] for e in response.json()["errors"]]
    assert "journey.steps.5" in fields
    start = welcome() | {"start": "hello"}
    refused = await client.patch(f"/api/campaigns/{saved['id']}/", json={"journey": start})
    assert refused.json()["errors"] == [{"field": "journey.start",
                                         "message": 'no step "hello"'}]
    field_error = welcome()
    field_error["steps"][1]["until"]["seconds"] = 1
    bounded = await client.patch(f"/api/campaigns/{saved['id']}/",
                                 json={"journey": field_error})
    assert bounded.status_code == 422
    assert bounded.json()["errors"][0]["field"].startswith("journey.steps.1.")
    read = (await client.get(f"/api/campaigns/{saved['id']}/")).json()
    assert read["journey"]["version"] == 1
