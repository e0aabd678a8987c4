"""Issue point 2: with two workspaces, every route that takes an id answers 404 for the other
workspace's ids and changes nothing; lists never show the other's rows. Operations come from
the app's own OpenAPI document, so a new endpoint is covered (or this test asks for a sample
body) automatically."""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from typing import Any

import httpx
from sqlalchemy.ext.asyncio import AsyncEngine

from campaign_api.app import create_app
from campaign_api.settings import Settings

MakeClient = Callable[..., Awaitable[httpx.AsyncClient]]

# A valid body per request model: the 404 must come from the workspace check, not validation.
SAMPLE_BODIES: dict[str, dict[str, Any]] = {
    "CampaignUpdate": {"name": "Taken over"},
    "WinnerPick": {"variant": "A"},
    "RecipientsAdd": {"recipients": [{"email": "intruder@example.com"}]},
    "RecipientsRemove": {"emails": ["user@example.com"]},
    "ContactUpdate": {"name": "Taken over"},
    "ListUpdate": {"name": "Taken over"},
    "MembersChange": {"emails": ["user@example.com"]},
    "SuppressionRemove": {"reason": "taken over"},
    "SegmentUpdate": {"name": "Taken over"},
}
RAW_BODIES = {"text/csv": b"email\nintruder@example.com\n"}
# Public routes whose id is a signed token, not a workspace's row: test_tracking and
# test_engagement_labels cover them.
TOKEN_ROUTES = {"/o/{token}.gif", "/c/{token}", "/c/{token}/{target}", "/t/{token}",
                "/u/{token}", "/f/confirm/{token}", "/p/{token}",
                "/p/{token}/lists/{list_id}/leave", "/p/{token}/lists/{list_id}/join",
                "/p/{token}/unsubscribe"}
# Public by design: anyone may sign up to any workspace's public list (test_signup_forms).
PUBLIC_ROUTES = {"/f/{list_id}"}


def _operations(app: Any) -> list[tuple[str, str, dict[str, Any]]]:
    return [(path, method.upper(), operation)
            for path, item in app.openapi()["paths"].items()
            for method, operation in item.items()]


def _body(path: str, operation: dict[str, Any]) -> dict[str, Any]:
    content = operation.get("requestBody", {}).get("content", {})
    if not content:
        return {}
    if "text/csv" in content:
        return {"content": RAW_BODIES["text/csv"], "headers": {"Content-Type": "text/csv"}}
    model = content["application/json"]["schema"]["$ref"].rpartition("/")[2]
    assert model in SAMPLE_BODIES, f"{path}: add a sample {model} body to this test"
    return {"json": SAMPLE_BODIES[model]}


async def test_no_route_reaches_another_workspaces_rows(
    api_engine: AsyncEngine, api_client: MakeClient, original_payload: dict[str, Any]
) -> None:
    settings = Settings(database_url="postgresql://unused/unused", environment="test",
                        link_signing_key="k" * 40, erasure_key="e" * 40, rate_burst=10_000)
    app = create_app(api_engine, [], settings=settings)
    acme, globex = await api_client("acme", app=app), await api_client("globex", app=app)
    theirs = (await globex.post("/api/campaigns/", json=original_payload)).json()
    their_key = (await globex.post("/api/keys", json={"name": "theirs"})).json()
    their_field = (await globex.post("/api/fields/", json={"key": "plan", "type": "text"})).json()
    their_list = (await globex.post("/api/lists/", json={"name": "Theirs"})).json()
    their_contact = (await globex.post("/api/contacts/", json={
        "email": "theirs@example.com", "consent_basis": "consent", "lists": [their_list["id"]],
        "fields": {"plan": "pro"}})).json()
    await globex.post("/api/suppressions", json={"email": "theirs@example.com"})
    their_segment = (await globex.post("/api/segments/", json={
        "name": "Theirs", "rule": {"all": []}})).json()
    ids = {"campaign_id": theirs["id"], "key_id": their_key["id"],
           "contact_id": their_contact["id"], "list_id": their_list["id"],
           "key": their_field["key"], "email": "theirs@example.com",
           "segment_id": their_segment["id"], "sequence": 1}
    before = {"campaign": (await globex.get(f"/api/campaigns/{theirs['id']}/")).json(),
              "recipients": (await globex.get(f"/api/campaigns/{theirs['id']}/recipients")).json(),
              "keys": (await globex.get("/api/keys")).json(),
              "contact": (await globex.get(f"/api/contacts/{their_contact['id']}/")).json(),
              "list": (await globex.get(f"/api/lists/{their_list['id']}/members")).json(),
              "fields": (await globex.get("/api/fields/")).json(),
              "suppressions": (await globex.get("/api/suppressions")).json()}
    await acme.post("/api/campaigns/", json={**original_payload, "name": "Ours"})

    checked = []
    for path, method, operation in _operations(app):
        if path in TOKEN_ROUTES | PUBLIC_ROUTES:
            continue
        params = [p["name"] for p in operation.get("parameters", []) if p["in"] == "path"]
        if not params:
            if method == "GET" and path.startswith("/api/"):
                listed = await acme.get(path)
                assert listed.status_code == 200, path
                assert theirs["id"] not in listed.text
                assert their_key["id"] not in listed.text
                assert their_contact["id"] not in listed.text
                assert their_list["id"] not in listed.text
                checked.append(f"{method} {path}")
            continue
        assert set(params) <= ids.keys(), f"{path}: which id does it take?"
        response = await acme.request(method, path.format(**ids), **_body(path, operation))
        assert response.status_code == 404, f"{method} {path}: {response.text}"
        assert theirs["name"] not in response.text
        # A well-formed id that exists nowhere answers the same: nothing to tell apart.
        unknown = await acme.request(method, path.format(
            **{k: f"{uuid.uuid4()}@example.com" if k == "email" else
               "1" if k == "sequence" else str(uuid.uuid4())
               for k in params}), **_body(path, operation))
        assert unknown.status_code == 404
        assert unknown.json()["title"] == response.json()["title"]
        checked.append(f"{method} {path}")

    assert len(checked) >= 14, checked
    # An event naming the other workspace's contact is this workspace's own: its contact is
    # created here, and theirs is left as it was (compared below).
    event = await acme.post("/api/events", json={"contact": "theirs@example.com",
                                                 "name": "order.paid"})
    assert event.status_code == 202, event.text
    [ours] = (await acme.get("/api/contacts/", params={"q": "theirs@example.com"})).json()["items"]
    assert ours["id"] != their_contact["id"]
    after = {"campaign": (await globex.get(f"/api/campaigns/{theirs['id']}/")).json(),
             "recipients": (await globex.get(f"/api/campaigns/{theirs['id']}/recipients")).json(),
             "keys": (await globex.get("/api/keys")).json(),
             "contact": (await globex.get(f"/api/contacts/{their_contact['id']}/")).json(),
             "list": (await globex.get(f"/api/lists/{their_list['id']}/members")).json(),
             "fields": (await globex.get("/api/fields/")).json(),
             "suppressions": (await globex.get("/api/suppressions")).json()}
    assert after == before
