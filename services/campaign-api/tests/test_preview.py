"""POST /api/campaigns/{id}/preview over real NATS request-reply, with a responder in the test
standing in for the content generator."""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from typing import Any

import httpx
import pytest
from nats.aio.client import Client
from nats.aio.msg import Msg
from sqlalchemy.ext.asyncio import AsyncEngine

from campaign_api import db
from campaign_api.app import create_app
from campaign_api.settings import Settings
from contracts.preview import (
    PREVIEW_QUEUE,
    PREVIEW_SUBJECT,
    PreviewDraft,
    PreviewReply,
    PreviewRequest,
)

MakeClient = Callable[..., Awaitable[httpx.AsyncClient]]

DRAFT = PreviewDraft(sequence=3, subject="What is next", preheader="A look ahead",
                     body_html="<p>Hi</p>", body_text="Hi", model="openai/gpt-4o-mini",
                     provider="openrouter", structure="story", cost="0.0012")


@pytest.fixture
async def preview_client(
    api_engine: AsyncEngine, api_client: MakeClient, nats_client: Client
) -> httpx.AsyncClient:
    settings = Settings(database_url="postgresql://unused/unused", environment="test",
                        link_signing_key="k" * 40, erasure_key="e" * 40,
                        preview_timeout_seconds=0.5)
    app = create_app(api_engine, [], nc=nats_client, settings=settings)
    return await api_client(app=app)


async def _respond(nc: Client, answer: Callable[[PreviewRequest], PreviewReply | None]) -> Any:
    async def on_request(msg: Msg) -> None:
        reply = answer(PreviewRequest.model_validate_json(msg.data))
        if reply is not None:  # None: stay silent, as a stuck generator would
            await msg.respond(reply.model_dump_json().encode())

    return await nc.subscribe(PREVIEW_SUBJECT, queue=PREVIEW_QUEUE, cb=on_request)


async def test_preview_returns_the_generators_draft(
    preview_client: httpx.AsyncClient, nats_client: Client, original_payload: dict[str, Any]
) -> None:
    cid = (await preview_client.post("/api/campaigns/", json=original_payload)).json()["id"]
    asked: list[PreviewRequest] = []

    def answer(request: PreviewRequest) -> PreviewReply:
        asked.append(request)
        return PreviewReply(draft=DRAFT)

    sub = await _respond(nats_client, answer)
    try:
        response = await preview_client.post(f"/api/campaigns/{cid}/preview")
    finally:
        await sub.unsubscribe()
    assert response.status_code == 200, response.text
    assert response.json()["subject"] == "What is next"
    assert [str(r.campaign_id) for r in asked] == [cid]


async def test_preview_errors_are_problem_documents(
    preview_client: httpx.AsyncClient, nats_client: Client, original_payload: dict[str, Any]
) -> None:
    cid = (await preview_client.post("/api/campaigns/", json=original_payload)).json()["id"]
    url = f"/api/campaigns/{cid}/preview"

    no_one = await preview_client.post(url)
    assert no_one.status_code == 503
    assert no_one.headers["content-type"] == "application/problem+json"

    sub = await _respond(nats_client, lambda r: None)
    try:
        silent = await preview_client.post(url)
    finally:
        await sub.unsubscribe()
    assert silent.status_code == 504

    sub = await _respond(nats_client, lambda r: PreviewReply(error="budget exceeded",
                                                             error_code="budget_exceeded"))
    try:
        refused = await preview_client.post(url)
    finally:
        await sub.unsubscribe()
    assert refused.status_code == 409
    assert "budget exceeded" in refused.json()["detail"]


async def test_a_finished_campaign_has_no_next_email_to_preview(
    preview_client: httpx.AsyncClient, nats_client: Client, api_engine: AsyncEngine,
    original_payload: dict[str, Any],
) -> None:
    cancelled = (await preview_client.post("/api/campaigns", json=original_payload)).json()["id"]
    await preview_client.post(f"/api/campaigns/{cancelled}/cancel")
    completed = (await preview_client.post("/api/campaigns", json=original_payload)).json()["id"]
    async with api_engine.begin() as conn:
        await db.mark_completed(conn, uuid.UUID(completed))
    asked: list[PreviewRequest] = []
    sub = await _respond(nats_client, lambda r: asked.append(r) or PreviewReply(draft=DRAFT))
    try:
        for cid, status in ((cancelled, "cancelled"), (completed, "completed")):
            response = await preview_client.post(f"/api/campaigns/{cid}/preview")
            assert response.status_code == 409, response.text
            assert f"a {status} campaign sends no next email" in response.json()["detail"]
    finally:
        await sub.unsubscribe()
    assert asked == []  # the writer is not even asked
