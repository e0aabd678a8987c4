"""A tag put on or taken off many chosen contacts in one statement, published as
contacts.changed for those that changed only."""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from typing import Any

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from campaign_api import usecases
from campaign_api.contacts_domain import MAX_TAGS
from campaign_api.erasure import ErasureKey
from campaign_api.failures import Invalid
from campaign_api.schemas_contacts import BulkUpsert, ContactFields
from campaign_api.usecases import contact_tags, contacts

from .conftest import ERASURE_KEY

ReadOutbox = Callable[..., Awaitable[list[dict[str, Any]]]]


async def _people(engine: AsyncEngine, name: str,
                  tags: dict[str, list[str]]) -> tuple[uuid.UUID, dict[str, uuid.UUID]]:
    ws = await usecases.create_workspace(engine, name)
    await contacts.bulk_upsert(engine, ErasureKey(ERASURE_KEY), ws.id, BulkUpsert(
        consent_basis="consent", contacts=[ContactFields(email=e, tags=t)
                                           for e, t in tags.items()]))
    found = (await contacts.search_contacts(engine, ws.id)).items
    return ws.id, {c.email: c.id for c in found}


async def _tags(engine: AsyncEngine, workspace_id: uuid.UUID) -> dict[str, list[str]]:
    return {c.email: c.tags for c in (await contacts.search_contacts(engine,
                                                                       workspace_id)).items}


async def test_a_tag_goes_on_the_chosen_contacts_sorted_and_is_published_once_each(
    api_engine: AsyncEngine, outbox_events: ReadOutbox,
) -> None:
    full = [f"t{i:03}" for i in range(MAX_TAGS)]
    ws, ids = await _people(api_engine, "acme", {
        "a@example.com": ["zeta"], "b@example.com": ["beta", "spring"],
        "c@example.com": full, "d@example.com": []})
    # contacts.changed carries each contact's tags, from the first upsert on.
    upserted = {c["email"]: c["tags"] for e in await outbox_events("contacts.changed")
                for c in e["payload"]["contacts"]}
    assert upserted["b@example.com"] == ["beta", "spring"]
    assert upserted["d@example.com"] == []
    before = len(await outbox_events("contacts.changed"))
    chosen = [ids["a@example.com"], ids["b@example.com"], ids["c@example.com"]]
    changed = await contact_tags.retag_contacts(api_engine, ws, chosen, " Spring ", add=True)
    assert changed == 1 + 0 + 0  # b has it already, c has no room left
    assert await _tags(api_engine, ws) == {
        "a@example.com": ["spring", "zeta"], "b@example.com": ["beta", "spring"],
        "c@example.com": full, "d@example.com": []}
    events = (await outbox_events("contacts.changed"))[before:]
    assert [[c["email"] for c in e["payload"]["contacts"]] for e in events] == [
        ["a@example.com"]]
    assert events[0]["payload"]["contacts"][0]["tags"] == ["spring", "zeta"]
    assert events[0]["payload"]["contacts"][0]["changed_at"]
    removed = await contact_tags.retag_contacts(api_engine, ws, chosen, "spring", add=False)
    assert removed == 2
    assert (await _tags(api_engine, ws))["b@example.com"] == ["beta"]
    untagged = {c["email"]: c["tags"] for e in (await outbox_events("contacts.changed"))[-1:]
                for c in e["payload"]["contacts"]}
    assert untagged == {"a@example.com": ["zeta"], "b@example.com": ["beta"]}


async def test_another_workspaces_contacts_are_not_retagged(api_engine: AsyncEngine) -> None:
    rival, theirs = await _people(api_engine, "rival", {"x@example.com": []})
    ws, _ = await _people(api_engine, "acme", {"a@example.com": []})
    assert await contact_tags.retag_contacts(api_engine, ws, list(theirs.values()), "mine",
                                             add=True) == 0
    assert await _tags(api_engine, rival) == {"x@example.com": []}


async def test_a_tag_that_is_not_one_is_refused_by_its_path(api_engine: AsyncEngine) -> None:
    ws, ids = await _people(api_engine, "acme", {"a@example.com": []})
    with pytest.raises(Invalid) as refused:
        await contact_tags.retag_contacts(api_engine, ws, list(ids.values()), "x" * 65,
                                          add=True)
    assert refused.value.errors[0].field == "tag[0]"
    with pytest.raises(Invalid):
        await contact_tags.retag_contacts(api_engine, ws, list(ids.values()), "  ", add=True)
