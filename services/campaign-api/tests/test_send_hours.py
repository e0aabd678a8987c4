"""Send-time optimisation in campaign-api: a person's open or click marks the address due, the
learner counts the contact's people's engagement per local hour of the week and keeps and
publishes the hours learned (contacts.changed), against a real migrated database."""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine

from campaign_api import db
from campaign_api.sendtime_learning import hour_of_week
from campaign_api.usecases.send_hours import WorkspacePatterns, learn_due_batch
from contracts.links import LinkClaims, LinkSigner

MakeClient = Callable[..., Awaitable[httpx.AsyncClient]]
ReadOutbox = Callable[..., Awaitable[list[dict[str, Any]]]]
SIGNER = LinkSigner("k" * 40)  # the key the test settings verify with
SAFARI = ("Mozilla/5.0 (iPhone; CPU iPhone OS 17_4 like Mac OS X) AppleWebKit/605.1.15 "
          "(KHTML, like Gecko) Version/17.4 Mobile/15E148 Safari/604.1")
APPLE_MAIL_PROXY = "Mozilla/5.0"
# 23:xx UTC in May is 19:xx in New York (EDT).
MAY_EVENINGS_IN_NEW_YORK = [datetime(2030, 5, d, 23, 10, tzinfo=UTC) for d in (6, 8, 10)]


class Workspace:
    def __init__(self, client: httpx.AsyncClient, engine: AsyncEngine, workspace_id: uuid.UUID,
                 campaign_id: uuid.UUID) -> None:
        self.client, self.engine = client, engine
        self.workspace_id, self.campaign_id = workspace_id, campaign_id

    async def contact(self, email: str, **fields: Any) -> dict[str, Any]:
        r = await self.client.post("/api/contacts/", json={
            "email": email, "consent_basis": "consent", **fields})
        assert r.status_code == 201, r.text
        created: dict[str, Any] = r.json()
        return created

    async def engaged(self, email: str, *moments: datetime, human: bool = True,
                      kind: str = "open") -> None:
        """Engagement recorded at `moments`, as recording a tracked open or click leaves it."""
        async with self.engine.begin() as conn:
            for at in moments:
                await db.record_engagement(
                    conn, workspace_id=self.workspace_id, campaign_id=self.campaign_id,
                    sequence=1, email=email, kind=kind, occurred_at=at, human=human,
                    machine_reason=None if human else "bot_user_agent")
                await db.mark_send_hours_due(conn, self.workspace_id, email)

    async def send_hours(self, email: str) -> list[int] | None:
        c = db.contacts.c
        async with self.engine.connect() as conn:
            hours = (await conn.execute(sa.select(c.send_hours).where(
                c.workspace_id == self.workspace_id, c.email == email))).scalar_one()
        return hours

    async def due(self) -> list[str]:
        async with self.engine.connect() as conn:
            return sorted((await conn.execute(sa.text(
                "SELECT email FROM send_hours_due WHERE workspace_id = :w"),
                {"w": self.workspace_id})).scalars())

    async def open_pixel(self, email: str, agent: str) -> None:
        claims = LinkClaims(self.workspace_id, self.campaign_id, 1, email)
        token = SIGNER.recipient_tokens(claims).open
        r = await self.client.get(f"/o/{token}.gif", headers={"user-agent": agent})
        assert r.status_code == 200


@pytest.fixture
async def workspace(api_client: MakeClient, api_engine: AsyncEngine,
                    original_payload: dict[str, Any]) -> Callable[..., Awaitable[Workspace]]:
    async def make(name: str = "acme", timezone: str = "UTC") -> Workspace:
        client = await api_client(name)
        created = await client.post("/api/campaigns/", json={**original_payload,
                                                             "timezone": timezone})
        assert created.status_code == 201, created.text
        workspace_id = uuid.UUID((await client.get("/api/workspace")).json()["id"])
        return Workspace(client, api_engine, workspace_id, uuid.UUID(created.json()["id"]))
    return make


def _learner() -> WorkspacePatterns:
    return WorkspacePatterns(every=timedelta(hours=1))


def _changed(events: list[dict[str, Any]]) -> dict[str, Any]:
    return {c["email"]: c for e in events for c in e["payload"]["contacts"]}


async def test_a_persons_open_through_the_pixel_marks_the_address_due_a_machines_does_not(
    workspace: Callable[..., Awaitable[Workspace]],
) -> None:
    ws = await workspace()
    await ws.open_pixel("proxy@example.com", APPLE_MAIL_PROXY)
    await ws.open_pixel("ann@example.com", SAFARI)
    await ws.open_pixel("ann@example.com", SAFARI)
    assert await ws.due() == ["ann@example.com"]


async def test_opens_clustered_at_one_hour_teach_that_hour_and_the_contact_is_published(
    workspace: Callable[..., Awaitable[Workspace]], api_engine: AsyncEngine,
    outbox_events: ReadOutbox,
) -> None:
    ws = await workspace()
    await ws.contact("ann@example.com", timezone="America/New_York")
    await ws.engaged("ann@example.com", *MAY_EVENINGS_IN_NEW_YORK)
    # A machine's opens at another hour teach nothing.
    await ws.engaged("ann@example.com", *(datetime(2030, 5, d, 12, tzinfo=UTC)
                                          for d in range(1, 6)), human=False)

    assert await learn_due_batch(api_engine, _learner()) == 1

    assert await ws.send_hours("ann@example.com") == [19] * 7
    published = _changed(await outbox_events("contacts.changed"))["ann@example.com"]
    assert published["send_hours"] == [19] * 7
    assert await ws.due() == []
    assert await learn_due_batch(api_engine, _learner()) is None


async def test_a_contact_without_a_zone_is_counted_in_the_zone_of_the_campaign_it_read(
    workspace: Callable[..., Awaitable[Workspace]], api_engine: AsyncEngine,
) -> None:
    ws = await workspace(timezone="Asia/Tokyo")
    await ws.contact("ken@example.com")
    # 10:30 UTC is 19:30 in Tokyo; a click counts as an open does.
    await ws.engaged("ken@example.com", *(datetime(2030, 5, d, 10, 30, tzinfo=UTC)
                                          for d in (6, 7)))
    await ws.engaged("ken@example.com", datetime(2030, 5, 9, 10, 45, tzinfo=UTC), kind="click")
    await learn_due_batch(api_engine, _learner())
    assert await ws.send_hours("ken@example.com") == [19] * 7


async def test_too_few_opens_learn_nothing_and_publish_nothing(
    workspace: Callable[..., Awaitable[Workspace]], api_engine: AsyncEngine,
    outbox_events: ReadOutbox,
) -> None:
    ws = await workspace()
    await ws.contact("bob@example.com", timezone="Europe/Berlin")
    before = len(await outbox_events("contacts.changed"))
    await ws.engaged("bob@example.com", *MAY_EVENINGS_IN_NEW_YORK[:2])

    assert await learn_due_batch(api_engine, _learner()) == 0
    assert await ws.send_hours("bob@example.com") is None
    assert len(await outbox_events("contacts.changed")) == before


async def test_learning_the_same_hours_again_publishes_nothing(
    workspace: Callable[..., Awaitable[Workspace]], api_engine: AsyncEngine,
    outbox_events: ReadOutbox,
) -> None:
    ws = await workspace()
    await ws.contact("ann@example.com", timezone="America/New_York")
    await ws.engaged("ann@example.com", *MAY_EVENINGS_IN_NEW_YORK)
    await learn_due_batch(api_engine, _learner())
    before = len(await outbox_events("contacts.changed"))

    await ws.engaged("ann@example.com", datetime(2030, 5, 13, 23, 5, tzinfo=UTC))
    assert await learn_due_batch(api_engine, _learner()) == 0
    assert len(await outbox_events("contacts.changed")) == before


async def test_every_change_of_the_contact_carries_its_learned_hours(
    workspace: Callable[..., Awaitable[Workspace]], api_engine: AsyncEngine,
    outbox_events: ReadOutbox,
) -> None:
    ws = await workspace()
    created = await ws.contact("ann@example.com", timezone="America/New_York")
    await ws.engaged("ann@example.com", *MAY_EVENINGS_IN_NEW_YORK)
    await learn_due_batch(api_engine, _learner())

    r = await ws.client.patch(f"/api/contacts/{created['id']}/", json={"name": "Ann"})
    assert r.status_code == 200, r.text
    last = (await outbox_events("contacts.changed"))[-1]["payload"]["contacts"]
    assert [(c["name"], c["send_hours"]) for c in last] == [("Ann", [19] * 7)]


async def test_the_sql_counts_each_engagement_in_the_hour_of_the_week_the_rule_gives(
    workspace: Callable[..., Awaitable[Workspace]], api_engine: AsyncEngine,
) -> None:
    """Around New York's spring-forward and Berlin's autumn fold, and across midnight on
    Sunday into Monday: the SQL binning and sendtime_learning.hour_of_week agree."""
    ws = await workspace()
    moments = {
        "ny@example.com": ("America/New_York", [
            datetime(2030, 3, 10, 6, 59, tzinfo=UTC), datetime(2030, 3, 10, 7, 0, tzinfo=UTC),
            datetime(2030, 3, 11, 4, 30, tzinfo=UTC)]),
        "berlin@example.com": ("Europe/Berlin", [
            datetime(2030, 10, 27, 0, 30, tzinfo=UTC), datetime(2030, 10, 27, 1, 30, tzinfo=UTC),
            datetime(2030, 10, 27, 22, 59, tzinfo=UTC),
            datetime(2030, 10, 27, 23, 0, tzinfo=UTC)]),
    }
    for email, (zone, at) in moments.items():
        await ws.contact(email, timezone=zone)
        await ws.engaged(email, *at)
    async with api_engine.connect() as conn:
        counts = await db.hour_counts(conn, ws.workspace_id, sorted(moments))
    for email, (zone, at) in moments.items():
        expected = [0] * 168
        for moment in at:
            expected[hour_of_week(moment, zone)] += 1
        assert counts[email] == expected, email
