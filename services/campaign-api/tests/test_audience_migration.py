"""Migration 0009: the old per-campaign audiences become the workspace's contacts on each
campaign's own list, and nothing of them is lost; the downgrade gives the audiences back."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Awaitable, Callable
from typing import Any

import httpx
import sqlalchemy as sa
from alembic import command
from sqlalchemy.ext.asyncio import AsyncEngine

from servicekit import migrations
from servicekit.migrations import alembic_config

MakeClient = Callable[..., Awaitable[httpx.AsyncClient]]


async def test_old_audience_rows_move_into_contacts_and_campaign_lists(
    api_client: MakeClient, api_engine: AsyncEngine, original_payload: dict[str, Any],
) -> None:
    client = await api_client("acme")
    workspace = uuid.UUID((await client.get("/api/workspace")).json()["id"])
    first = (await client.post("/api/campaigns/", json={
        **original_payload, "recipients": [{"email": "ada@example.com", "name": "Ada",
                                            "fields": {"company": "Analytical"}}]})).json()
    second = (await client.post("/api/campaigns/", json=original_payload)).json()
    config = alembic_config("campaign_api", api_engine.url.render_as_string(hide_password=False))
    await asyncio.to_thread(command.downgrade, config, "0008")

    async with api_engine.begin() as conn:
        old = (await conn.execute(sa.text(
            "SELECT audience_id, email, name, fields FROM audience_members "
            "ORDER BY audience_id, email"))).all()
        assert {(r.email, r.name, r.fields["company"] if r.fields else None) for r in old} == {
            ("ada@example.com", "Ada", "Analytical"), ("user@example.com", "", None)}
        assert (await conn.execute(sa.text("SELECT count(*) FROM lists"))).scalar() == 0
        # As a database was at 0008, before anything wrote contacts.
        await conn.execute(sa.text("DELETE FROM contacts"))
        await conn.execute(sa.text("DELETE FROM contact_fields"))
        # The same address on the second campaign's audience, newer and with another name;
        # and one who unsubscribed from the workspace.
        await conn.execute(sa.text(
            "INSERT INTO audience_members (audience_id, email, workspace_id, name, fields, "
            "added_at) VALUES (:a, 'ada@example.com', :w, 'Ada L.', '{\"plan\": \"pro\"}', "
            "now() + interval '1 minute'), (:a, 'bob@example.com', :w, 'Bob', '{}', now())"),
            {"a": await _audience(conn, second["id"]), "w": workspace})
        await conn.execute(sa.text(
            "INSERT INTO engagements (workspace_id, campaign_id, sequence, email, kind) "
            "VALUES (:w, :c, 1, 'bob@example.com', 'unsubscribe')"),
            {"w": workspace, "c": uuid.UUID(second["id"])})
    await asyncio.to_thread(command.upgrade, config, "0009")

    async with api_engine.connect() as conn:
        assert not (await conn.execute(sa.text(
            "SELECT to_regclass('audience_members') IS NOT NULL"))).scalar()
        contacts = {r.email: r for r in (await conn.execute(sa.text(
            "SELECT email, name, fields, status, workspace_id FROM contacts"))).all()}
        fields = dict((await conn.execute(sa.text(
            "SELECT key, type FROM contact_fields"))).all())  # type: ignore[arg-type]
        lists = (await conn.execute(sa.text(
            "SELECT id, kind, campaign_id FROM lists ORDER BY name, campaign_id"))).all()
        members = set((await conn.execute(sa.text(
            "SELECT l.campaign_id, c.email FROM list_members m JOIN lists l ON l.id = m.list_id "
            "JOIN contacts c ON c.id = m.contact_id"))).all())
        suppressed = (await conn.execute(sa.text(
            "SELECT email, reason FROM suppressions"))).all()
    assert sorted(contacts) == ["ada@example.com", "bob@example.com", "user@example.com"]
    assert {c.workspace_id for c in contacts.values()} == {workspace}
    assert (contacts["ada@example.com"].name, contacts["ada@example.com"].fields) == (
        "Ada L.", {"plan": "pro"})
    assert contacts["bob@example.com"].status == "unsubscribed"
    assert contacts["user@example.com"].status == "subscribed"
    assert fields == {"company": "text", "plan": "text"}
    assert {(r.kind, str(r.campaign_id)) for r in lists} == {
        ("campaign", first["id"]), ("campaign", second["id"])}
    one, two = uuid.UUID(first["id"]), uuid.UUID(second["id"])
    assert members == {(one, "ada@example.com"), (one, "user@example.com"),
                       (two, "user@example.com"), (two, "ada@example.com"),
                       (two, "bob@example.com")}
    assert [tuple(r) for r in suppressed] == [("bob@example.com", "unsubscribed")]
    await asyncio.to_thread(command.upgrade, config, "head")
    # The API reads the moved audiences as it did.
    page = (await client.get(f"/api/campaigns/{second['id']}/recipients")).json()
    assert [(r["email"], r["unsubscribed"]) for r in page["items"]] == [
        ("ada@example.com", False), ("bob@example.com", True), ("user@example.com", False)]
    assert (await client.get(f"/api/campaigns/{second['id']}/")).json()[
        "progress"]["recipients"] == 3


async def _audience(conn: Any, campaign_id: str) -> uuid.UUID:
    found: uuid.UUID = (await conn.execute(sa.text(
        "SELECT audience_id FROM campaigns WHERE id = :c"), {"c": uuid.UUID(campaign_id)})
    ).scalar_one()
    return found


def test_the_migrations_form_one_line() -> None:
    # Two revisions written against the same parent leave two heads, and `upgrade head` fails.
    assert len(migrations.heads("campaign_api")) == 1
