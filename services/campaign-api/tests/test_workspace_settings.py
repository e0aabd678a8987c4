"""The workspace's settings: the frequency cap and the LLM budget, read and changed by the API;
each change publishes workspace.updated with every setting, the unchanged ones included
(its consumers store what it carries)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from decimal import Decimal
from typing import Any

import httpx

from contracts.events import WorkspaceSettingsPayload

MakeClient = Callable[..., Awaitable[httpx.AsyncClient]]
ReadOutbox = Callable[..., Awaitable[list[dict[str, Any]]]]


async def test_a_new_workspace_has_no_cap_and_no_budget(api_client: MakeClient) -> None:
    client = await api_client()
    settings = await client.get("/api/workspace/settings")
    assert settings.status_code == 200
    assert settings.json() == {"name": "acme", "frequency_cap_day": None,
                               "frequency_cap_week": None, "over_cap": "defer",
                               "monthly_llm_budget": None}


async def test_each_change_publishes_every_setting(
    api_client: MakeClient, outbox_events: ReadOutbox
) -> None:
    client = await api_client()
    capped = await client.put("/api/workspace/settings", json={
        "frequency_cap_day": 1, "frequency_cap_week": 3, "over_cap": "skip"})
    assert capped.status_code == 200, capped.text
    assert capped.json()["frequency_cap_day"] == 1
    budget = await client.put("/api/workspace/settings", json={"monthly_llm_budget": "12.5"})
    assert budget.json() == {"name": "acme", "frequency_cap_day": 1, "frequency_cap_week": 3,
                             "over_cap": "skip", "monthly_llm_budget": "12.5000000000"}
    cleared = await client.put("/api/workspace/settings", json={"frequency_cap_day": None})
    assert cleared.json()["frequency_cap_day"] is None
    assert cleared.json()["frequency_cap_week"] == 3
    events = [WorkspaceSettingsPayload.model_validate(e["payload"])
              for e in await outbox_events("workspace.updated")]
    assert [(e.frequency_cap_day, e.frequency_cap_week, e.over_cap, e.monthly_llm_budget)
            for e in events] == [(1, 3, "skip", None), (1, 3, "skip", Decimal("12.5")),
                                 (None, 3, "skip", Decimal("12.5"))]
    assert {e.name for e in events} == {"acme"}
    assert (await client.get("/api/workspace/settings")).json() == cleared.json()
    other = await api_client("other")
    assert (await other.get("/api/workspace/settings")).json()["frequency_cap_week"] is None


async def test_bad_settings_are_refused_naming_the_field_and_change_nothing(
    api_client: MakeClient, outbox_events: ReadOutbox
) -> None:
    client = await api_client()
    await client.put("/api/workspace/settings", json={"frequency_cap_day": 2})
    for body, field in (({"frequency_cap_day": 0}, "frequency_cap_day"),
                        ({"frequency_cap_week": 10_001}, "frequency_cap_week"),
                        ({"over_cap": "later"}, "over_cap"), ({"over_cap": None}, "over_cap"),
                        ({"monthly_llm_budget": "-1"}, "monthly_llm_budget"),
                        ({"frequency_cap_week": 1}, "frequency_cap_week"),
                        ({"name": "renamed"}, "name")):
        response = await client.put("/api/workspace/settings", json=body)
        assert response.status_code == 422, body
        assert field in {e["field"] for e in response.json()["errors"]}, response.json()
    assert (await client.get("/api/workspace/settings")).json()["frequency_cap_day"] == 2
    assert len(await outbox_events("workspace.updated")) == 1
