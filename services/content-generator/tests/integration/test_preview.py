"""Preview over a real NATS request-reply: the next email's draft, stored nowhere as content."""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import AsyncIterator, Callable
from decimal import Decimal

import pytest
from nats.aio.client import Client

from content_generator import db
from content_generator.preview import serve_previews
from contracts import CampaignCreated, EmailDue
from contracts.preview import PREVIEW_SUBJECT, PreviewReply, PreviewRequest
from servicekit.shutdown import Shutdown
from testkit.fake_openrouter import Error, FakeOpenRouter

MakeCampaign = Callable[..., CampaignCreated]
MakeDue = Callable[..., EmailDue]


@pytest.fixture
async def responder(service, nats_client: Client) -> AsyncIterator[None]:
    task = asyncio.create_task(serve_previews(nats_client, service.engine, service.ports,
                                                Shutdown(0)))
    await asyncio.sleep(0.1)  # subscribed
    yield
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task


async def _ask(nats_client: Client, workspace_id: uuid.UUID, campaign_id: uuid.UUID,
               ) -> PreviewReply:
    request = PreviewRequest(workspace_id=workspace_id, campaign_id=campaign_id)
    msg = await nats_client.request(PREVIEW_SUBJECT, request.model_dump_json().encode(),
                                    timeout=10)
    return PreviewReply.model_validate_json(msg.data)


@pytest.mark.usefixtures("responder")
async def test_a_preview_drafts_the_next_email_without_storing_or_publishing_it(
    service, nats_client: Client, openrouter: FakeOpenRouter,
    make_campaign: MakeCampaign, make_due: MakeDue,
) -> None:
    campaign = make_campaign()
    cid, ws = campaign.payload.campaign_id, campaign.workspace_id
    await service.handle(campaign, make_due(campaign, 1), make_due(campaign, 2))
    published = await service.published()

    reply = await _ask(nats_client, ws, cid)

    assert reply.error is None
    assert reply.draft is not None
    draft = reply.draft
    assert draft.sequence == 3
    assert draft.structure == "personal_story"
    assert draft.subject
    assert draft.body_html
    assert draft.body_text
    last = openrouter.chat_requests()[-1]
    assert draft.cost == Decimal(str(last.usage["cost"])).quantize(Decimal("1e-10"))
    assert "email 3 of an ongoing sequence" in last.body["messages"][1]["content"]
    # Nothing stored as content, nothing published; the call is billed as a preview.
    assert len(await service.rows(db.generated_emails)) == 2
    assert await service.published() == published
    calls = await service.rows(db.llm_calls)
    assert [c.preview for c in calls] == [False, False, True]
    assert calls[-1].sequence == 3


@pytest.mark.usefixtures("responder")
async def test_previews_of_unknown_campaigns_and_failing_models_say_why(
    service, nats_client: Client, openrouter: FakeOpenRouter, make_campaign: MakeCampaign,
) -> None:
    campaign = make_campaign(fallback_models=[])
    await service.handle(campaign)

    unknown = await _ask(nats_client, campaign.workspace_id, uuid.uuid4())
    assert (unknown.draft, unknown.error_code) == (None, "unknown_campaign")
    # Another workspace's campaign is as unknown as a missing one.
    foreign = await _ask(nats_client, uuid.uuid4(), campaign.payload.campaign_id)
    assert foreign.error_code == "unknown_campaign"

    openrouter.script(Error(402))
    broke = await _ask(nats_client, campaign.workspace_id, campaign.payload.campaign_id)
    assert (broke.draft, broke.error_code) == (None, "out_of_credits")
    assert "402" in (broke.error or "")


async def test_an_invalid_request_gets_an_error_reply(
    responder: None, nats_client: Client,
) -> None:
    msg = await nats_client.request(PREVIEW_SUBJECT, b'{"campaign_id": "nope"}', timeout=5)
    reply = PreviewReply.model_validate_json(msg.data)
    assert reply.error_code == "bad_request"
