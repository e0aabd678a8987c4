"""A segment on the whole running system: its members reach the mailer's memberships (list_id =
the segment's id) at once when it is saved, a contact's change within one refresh interval,
and a change of rule takes the members it no longer selects off."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import asyncpg
import pytest

from devstack.stack import Stack
from servicekit.settings import asyncpg_dsn
from testkit.fake_openrouter import FakeOpenRouter
from testkit.system import api_client, running_system, wait_for

pytestmark = pytest.mark.e2e

REFRESH_SECONDS = 5


@pytest.fixture(scope="module")
def stack(fake_llm: FakeOpenRouter) -> Iterator[Stack]:
    with running_system("cb-e2e-", fake_llm, extra_env={
            "CAMPAIGN_API_SEGMENT_REFRESH_SECONDS": str(REFRESH_SECONDS)}) as running:
        yield running


def _mailer_members(stack: Stack, segment_id: str) -> list[str]:
    async def read() -> list[str]:
        conn = await asyncpg.connect(asyncpg_dsn(stack.database_url("mailer")))
        try:
            rows = await conn.fetch("SELECT email FROM memberships WHERE list_id = $1::uuid "
                                    "ORDER BY email", segment_id)
            return [r["email"] for r in rows]
        finally:
            await conn.close()

    return asyncio.run(read())


def test_a_segments_members_reach_the_mailer_and_follow_its_contacts_and_rule(
        stack: Stack) -> None:
    with api_client(stack) as api:
        assert api.post("/api/fields/", json={"key": "plan", "type": "text"}).status_code \
            in (201, 409)
        r = api.post("/api/contacts/bulk", json={"consent_basis": "consent", "contacts": [
            {"email": "seg-a@example.com", "tags": ["beta"], "fields": {"plan": "pro"}},
            {"email": "seg-b@example.com", "tags": ["beta"], "fields": {"plan": "free"}},
            {"email": "seg-c@example.com", "fields": {"plan": "pro"}}]})
        assert r.status_code == 200, r.text
        r = api.post("/api/segments/", json={"name": "beta", "rule": {"tag": "beta"}})
        assert r.status_code == 201, r.text
        sid = r.json()["id"]
        wait_for("the segment's members in the mailer", lambda: _mailer_members(stack, sid) == [
            "seg-a@example.com", "seg-b@example.com"], timeout=30)

        c = api.get("/api/contacts/", params={"q": "seg-c"}).json()["items"][0]["id"]
        assert api.patch(f"/api/contacts/{c}/", json={"tags": ["beta"]}).status_code == 200
        wait_for("a contact that joined, within the refresh interval",
                 lambda: "seg-c@example.com" in _mailer_members(stack, sid),
                 timeout=REFRESH_SECONDS + 20)

        r = api.patch(f"/api/segments/{sid}/", json={"rule": {"all": [
            {"tag": "beta"}, {"field": "plan", "op": "equals", "value": "pro"}]}})
        assert r.status_code == 200, r.text
        wait_for("the members the new rule leaves out taken off", lambda: _mailer_members(
            stack, sid) == ["seg-a@example.com", "seg-c@example.com"], timeout=30)
