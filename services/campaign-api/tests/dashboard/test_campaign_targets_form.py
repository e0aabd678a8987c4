"""The campaign form targets the workspace's lists, with exclusions, besides its recipients."""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from typing import Any

import httpx
from sqlalchemy.ext.asyncio import AsyncEngine

from campaign_api.schemas_contacts import ListCreate
from campaign_api.schemas_segments import SegmentCreate
from campaign_api.usecases import accounts, lists, segments
from campaign_api.usecases import campaigns as campaign_cases

NewKey = Callable[[str], Awaitable[str]]
Dashboard = Callable[..., httpx.AsyncClient]
SignIn = Callable[[httpx.AsyncClient, str], Awaitable[str]]
Seed = Callable[..., Awaitable[uuid.UUID]]


async def _workspace(engine: AsyncEngine, key: str) -> uuid.UUID:
    found = await accounts.authenticate(engine, key)
    assert found is not None
    return found


async def test_a_campaign_sent_to_a_list_less_another_needs_no_typed_recipient(
    new_key: NewKey, dashboard: Dashboard, sign_in: SignIn, seed_contacts: Seed,
    campaign_form: dict[str, Any], api_engine: AsyncEngine,
) -> None:
    key = await new_key("acme")
    workspace = await _workspace(api_engine, key)
    garden = await seed_contacts(workspace, count=2)
    blocked = await lists.create_list(api_engine, workspace, ListCreate(name="Do not mail"))
    async with dashboard() as client:
        csrf = await sign_in(client, key)
        form = await client.get("/dashboard/campaigns/new")
        assert f'name="target_lists" value="{garden}"' in form.text
        made = await client.post("/dashboard/campaigns/new", data={
            **campaign_form, "csrf_token": csrf, "recipients": "",
            "target_lists": [str(garden)], "exclude_lists": [str(blocked.id)]})
        assert made.status_code == 303, made.text
        campaign_id = uuid.UUID(made.headers["location"].split("?")[0].rsplit("/", 1)[1])
        stored = await campaign_cases.get_campaign(api_engine, workspace, campaign_id)
        assert stored.audience.lists == [garden]
        assert stored.audience.exclude_lists == [blocked.id]
        edit = (await client.get(f"/dashboard/campaigns/{campaign_id}/edit")).text
        assert f'value="{garden}" aria-label="Send to Gardeners" checked' in edit
        changed = await client.post(f"/dashboard/campaigns/{campaign_id}/edit", data={
            **campaign_form, "csrf_token": csrf, "exclude_lists": [str(blocked.id)]})
        assert changed.status_code == 303, changed.text
        stored = await campaign_cases.get_campaign(api_engine, workspace, campaign_id)
        assert stored.audience.lists == []
        assert stored.audience.exclude_lists == [blocked.id]


async def test_the_form_refuses_another_workspaces_list_and_an_empty_audience(
    new_key: NewKey, dashboard: Dashboard, sign_in: SignIn, seed_contacts: Seed,
    campaign_form: dict[str, Any], api_engine: AsyncEngine,
) -> None:
    theirs = await seed_contacts(await _workspace(api_engine, await new_key("rival")), count=1)
    key = await new_key("acme")
    await seed_contacts(await _workspace(api_engine, key), count=1)
    async with dashboard() as client:
        csrf = await sign_in(client, key)
        foreign = await client.post("/dashboard/campaigns/new", data={
            **campaign_form, "csrf_token": csrf, "recipients": "",
            "target_lists": [str(theirs)]})
        assert foreign.status_code == 422
        assert 'id="target_lists-error"' in foreign.text
        nobody = await client.post("/dashboard/campaigns/new", data={
            **campaign_form, "csrf_token": csrf, "recipients": ""})
        assert nobody.status_code == 422
        assert "or choose a list or segment" in nobody.text
        garbage = await client.post("/dashboard/campaigns/new", data={
            **campaign_form, "csrf_token": csrf, "target_lists": ["not-an-id"]})
        assert garbage.status_code == 422
        assert 'id="target_lists-error"' in garbage.text


async def test_a_campaign_sends_to_a_segment_less_a_list(
    new_key: NewKey, dashboard: Dashboard, sign_in: SignIn, seed_contacts: Seed,
    campaign_form: dict[str, Any], api_engine: AsyncEngine,
) -> None:
    key = await new_key("acme")
    workspace = await _workspace(api_engine, key)
    garden = await seed_contacts(workspace, count=3)
    vips = await segments.create_segment(api_engine, workspace, SegmentCreate(
        name="VIPs", rule={"tag": "vip"}))
    async with dashboard() as client:
        csrf = await sign_in(client, key)
        form = await client.get("/dashboard/campaigns/new")
        assert f'name="target_segments" value="{vips.id}"' in form.text
        made = await client.post("/dashboard/campaigns/new", data={
            **campaign_form, "csrf_token": csrf, "recipients": "",
            "target_segments": [str(vips.id)], "exclude_lists": [str(garden)]})
        assert made.status_code == 303, made.text
        campaign_id = uuid.UUID(made.headers["location"].split("?")[0].rsplit("/", 1)[1])
        stored = await campaign_cases.get_campaign(api_engine, workspace, campaign_id)
        assert stored.audience.segments == [vips.id]
        assert stored.audience.exclude_lists == [garden]
        assert stored.audience.lists == []
