"""The journey builder: a journey drawn as a flow from its JSON graph, created and edited through
the same use cases as the REST API (a new version per edit), each error shown next to the step
it names, and a graph that is not JSON refused without a save."""

from __future__ import annotations

import copy
import json
import re
import uuid
from collections.abc import Awaitable, Callable
from typing import Any

import httpx
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine

from campaign_api import db
from campaign_api.dashboard import journey_flow
from campaign_api.dashboard.journey_pages import STARTER

NewKey = Callable[[str], Awaitable[str]]
Dashboard = Callable[..., httpx.AsyncClient]
SignIn = Callable[[httpx.AsyncClient, str], Awaitable[str]]
SeedJourney = Callable[[uuid.UUID, uuid.UUID], Awaitable[None]]


def _form(csrf: str, graph: dict[str, Any] | str, intent: str = "save") -> dict[str, str]:
    return {"csrf_token": csrf, "name": "Welcome", "description": "Welcome new sign-ups",
            "model": "openai/gpt-4o-mini", "timezone": "Europe/Berlin", "intent": intent,
            "graph": graph if isinstance(graph, str) else json.dumps(graph)}


def test_a_branch_is_drawn_as_two_columns_that_meet_again_at_their_common_step() -> None:
    flow = journey_flow.layout(STARTER)
    assert [b.step_id for b in flow.blocks[:3] if isinstance(b, journey_flow.StepBox)] == [
        "email-1", "wait-1", "clicked-1"]
    split = flow.blocks[3]
    assert isinstance(split, journey_flow.Split)
    assert [b.step_id for b in split.then if isinstance(b, journey_flow.StepBox)] == ["email-2a"]
    assert [b.step_id for b in split.otherwise
            if isinstance(b, journey_flow.StepBox)] == ["email-2b"]
    assert isinstance(flow.blocks[4], journey_flow.StepBox)
    assert flow.blocks[4].step_id == "done"
    assert flow.unreached == []
    assert journey_flow.duration(172_800) == "2 days"
    assert journey_flow.duration(5_400) == "1 hour 30 minutes"


def test_a_broken_graph_is_still_drawn_with_its_missing_and_unreached_steps() -> None:
    graph = copy.deepcopy(STARTER)
    graph["steps"][0]["next"] = "nowhere"
    flow = journey_flow.layout(graph, {"email-1": ["next: no step \"nowhere\""]})
    first, jump = flow.blocks[0], flow.blocks[1]
    assert isinstance(first, journey_flow.StepBox)
    assert first.errors == [
        "next: no step \"nowhere\""]
    assert isinstance(jump, journey_flow.Jump)
    assert jump.missing
    assert [s.step_id for s in flow.unreached] == [
        "wait-1", "clicked-1", "email-2a", "email-2b", "done"]


async def test_a_journey_is_created_and_edited_in_the_builder_as_new_versions(
    new_key: NewKey, dashboard: Dashboard, sign_in: SignIn,
) -> None:
    key = await new_key("acme")
    async with dashboard() as client:
        csrf = await sign_in(client, key)
        page = await client.get("/dashboard/journeys/new")
        assert page.status_code == 200
        assert 'id="step-clicked-1"' in page.text
        assert 'class="flow-split"' in page.text
        created = await client.post("/dashboard/journeys/new", data=_form(csrf, STARTER))
        assert created.status_code == 303, created.text
        campaign_id = re.search(r"/campaigns/([0-9a-f-]{36})", created.headers["location"])
        assert campaign_id is not None
        auth = {"Authorization": f"Bearer {key}"}
        api = await client.get(f"/api/campaigns/{campaign_id[1]}/", headers=auth)
        assert api.json()["journey"]["version"] == 1
        assert api.json()["kind"] == "journey"

        edit = await client.get(f"/dashboard/journeys/{campaign_id[1]}/edit")
        assert edit.status_code == 200
        assert "&#34;sequence&#34;: 1" in edit.text
        graph = copy.deepcopy(STARTER)
        graph["steps"][4]["goal"] = "A kinder reminder"
        saved = await client.post(f"/dashboard/journeys/{campaign_id[1]}/edit",
                                  data=_form(csrf, graph))
        assert saved.status_code == 303, saved.text
        journey = (await client.get(f"/api/campaigns/{campaign_id[1]}/",
                                    headers=auth)).json()["journey"]
        assert journey["version"] == 2
        assert {s["id"]: s.get("sequence") for s in journey["steps"]
                if s["type"] == "email"} == {"email-1": 1, "email-2a": 2, "email-2b": 4}


async def test_an_error_is_shown_next_to_the_step_it_names_and_nothing_is_saved(
    new_key: NewKey, dashboard: Dashboard, sign_in: SignIn,
) -> None:
    key = await new_key("acme")
    async with dashboard() as client:
        csrf = await sign_in(client, key)
        graph = copy.deepcopy(STARTER)
        graph["steps"][1]["next"] = "wait-9"
        refused = await client.post("/dashboard/journeys/new", data=_form(csrf, graph))
        assert refused.status_code == 422
        step = refused.text.split('id="step-wait-1"')[1].split("</li>")[0]
        assert "wait-9" in step
        assert "error-text" in step
        assert "Some steps need a change" in refused.text

        drawn = await client.post("/dashboard/journeys/new",
                                  data=_form(csrf, STARTER, intent="draw"))
        assert drawn.status_code == 200
        assert 'id="step-email-2b"' in drawn.text
        broken = await client.post("/dashboard/journeys/new", data=_form(csrf, "{\"steps\": ["))
        assert broken.status_code == 422
        assert "not JSON" in broken.text
        listed = (await client.get("/api/campaigns/",
                                   headers={"Authorization": f"Bearer {key}"})).json()
        assert listed["items"] == []


async def test_a_journeys_page_shows_who_waits_where_and_each_steps_funnel(
    new_key: NewKey, dashboard: Dashboard, sign_in: SignIn, api_engine: AsyncEngine,
    seed_journey: SeedJourney,
) -> None:
    key = await new_key("acme")
    async with dashboard() as client:
        csrf = await sign_in(client, key)
        created = await client.post("/dashboard/journeys/new", data=_form(csrf, STARTER))
        campaign_id = uuid.UUID(created.headers["location"].split("/")[-1].split("?")[0])
        empty = (await client.get(f"/dashboard/campaigns/{campaign_id}")).text
        assert "no contact has entered yet" in empty
        async with api_engine.connect() as conn:
            workspace_id = (await conn.execute(sa.select(db.campaigns.c.workspace_id).where(
                db.campaigns.c.id == campaign_id))).scalar_one()
        await seed_journey(workspace_id, campaign_id)
        page = (await client.get(f"/dashboard/campaigns/{campaign_id}")).text
    live = page[page.index('id="journey-live"'):page.index('id="journey-funnel"')]
    assert "1 contact waiting" in live
    wait = " ".join(live.split('id="step-wait-1"')[1].split("</li>")[0].split())
    assert "Waiting now</dt><dd>1" in wait
    assert "Exited by goal</dt><dd>1" in wait
    funnel = page[page.index('id="journey-funnel"'):]
    rows = {m[0]: re.findall(r'<td class="num">([^<]*)</td>', m[1])
            for m in re.findall(r'<tr data-step="([^"]+)">(.*?)</tr>', funnel, re.S)}
    # waiting, entered, sent, opened, clicked, exited by goal
    assert rows["email-1"] == ["0", "3", "2", "1", "1", "0"]
    assert rows["wait-1"] == ["1", "—", "—", "—", "—", "1"]
    assert rows["email-2a"] == ["0", "1", "0", "0", "0", "0"]
