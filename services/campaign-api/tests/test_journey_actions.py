"""journey.action carried out on one contact through the normal contact paths: a tag put on or
taken off (contacts.changed follows), the contact added to or removed from a list
(list.members.* follows); a repeat changes and publishes nothing, and a contact or list gone
is nothing to act on."""

from __future__ import annotations

import uuid
from typing import Any

import httpx
from sqlalchemy.ext.asyncio import AsyncEngine

from campaign_api.app import projections
from campaign_api.usecases.journey_actions import on_journey_action
from contracts import JourneyActionDue
from contracts.journey_events import JourneyActionPayload
from contracts.streams import CONSUMERS
from servicekit.db import UnitOfWork

from .conftest import MakeClient, ReadOutbox


async def _setup(client: httpx.AsyncClient) -> tuple[uuid.UUID, str]:
    made = await client.post("/api/contacts/", json={"email": "ada@example.com",
                                                      "consent_basis": "consent",
                                                      "tags": ["vip"]})
    assert made.status_code == 201, made.text
    workspace = uuid.UUID((await client.get("/api/workspace")).json()["id"])
    listed = (await client.post("/api/lists/", json={"name": "Engaged"})).json()
    return workspace, listed["id"]


def _action(workspace: uuid.UUID, email: str = "Ada@example.com", **target: Any
            ) -> JourneyActionDue:
    return JourneyActionDue.create(JourneyActionPayload(
        campaign_id=uuid.uuid4(), enrollment_id=uuid.uuid4(), step_id="act", email=email,
        **target), workspace_id=workspace)


async def _apply(engine: AsyncEngine, event: JourneyActionDue, times: int = 2) -> None:
    for _ in range(times):  # a redelivery past the inbox changes nothing more
        async with UnitOfWork(engine) as uow:
            await on_journey_action(event, uow)
            await uow.commit()


async def _tags(client: httpx.AsyncClient) -> list[str]:
    found = (await client.get("/api/contacts/", params={"q": "ada@example.com"})).json()
    tags: list[str] = found["items"][0]["tags"]
    return tags


def test_campaign_api_consumes_journey_actions() -> None:
    assert any(c.service == "campaign-api" and c.stream == "JOURNEYS"
               and "journey.action" in c.filter_subjects for c in CONSUMERS)
    assert projections().get(JourneyActionDue.TYPE) is on_journey_action


async def test_a_tag_action_tags_or_untags_the_contact_once(
    api_client: MakeClient, api_engine: AsyncEngine, outbox_events: ReadOutbox
) -> None:
    client = await api_client()
    workspace, _ = await _setup(client)
    before = len(await outbox_events("contacts.changed"))
    await _apply(api_engine, _action(workspace, action="add_tag", tag="Engaged"))
    assert await _tags(client) == ["engaged", "vip"]
    changed = (await outbox_events("contacts.changed"))[before:]
    assert [c["tags"] for e in changed for c in e["payload"]["contacts"]] == [
        ["engaged", "vip"]]
    await _apply(api_engine, _action(workspace, action="remove_tag", tag="vip"))
    assert await _tags(client) == ["engaged"]
    assert len(await outbox_events("contacts.changed")) == before + 2


async def test_a_list_action_adds_or_removes_the_contact_once(
    api_client: MakeClient, api_engine: AsyncEngine, outbox_events: ReadOutbox
) -> None:
    client = await api_client()
    workspace, list_id = await _setup(client)
    await _apply(api_engine, _action(workspace, action="add_to_list",
                                     list_id=uuid.UUID(list_id)))
    members = (await client.get(f"/api/lists/{list_id}/members")).json()["items"]
    assert [m["email"] for m in members] == ["ada@example.com"]
    [added] = await outbox_events("list.members.added")
    assert added["payload"] == {"list_id": list_id, "emails": ["ada@example.com"]}
    await _apply(api_engine, _action(workspace, action="remove_from_list",
                                     list_id=uuid.UUID(list_id)))
    assert (await client.get(f"/api/lists/{list_id}/members")).json()["items"] == []
    assert len(await outbox_events("list.members.removed")) == 1


async def test_an_action_on_a_contact_or_list_gone_or_of_another_workspace_does_nothing(
    api_client: MakeClient, api_engine: AsyncEngine, outbox_events: ReadOutbox
) -> None:
    client, other = await api_client("acme"), await api_client("globex")
    workspace, _ = await _setup(client)
    their_list = (await other.post("/api/lists/", json={"name": "Theirs"})).json()["id"]
    before = len(await outbox_events())
    await _apply(api_engine, _action(workspace, email="nobody@example.com", action="add_tag",
                                     tag="x"), times=1)
    await _apply(api_engine, _action(workspace, action="add_to_list",
                                     list_id=uuid.UUID(their_list)), times=1)
    await _apply(api_engine, _action(workspace, action="add_to_list",
                                     list_id=uuid.uuid4()), times=1)
    assert len(await outbox_events()) == before
    assert (await other.get(f"/api/lists/{their_list}/members")).json()["items"] == []
