"""email.due in, one email (or one failure) out: real database, fake OpenRouter over HTTP.

`service` (see conftest) runs the handlers in committed units of work, as the consumer does.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from datetime import timedelta
from decimal import Decimal
from typing import Any

import pytest

from content_generator import db
from content_generator.prompts import EMAIL_SCHEMA, PROMPT_VERSION
from content_generator.providers import OpenRouterProvider
from contracts import (
    CampaignCancelled,
    CampaignCompleted,
    CampaignCreated,
    CampaignPaused,
    ContentFailed,
    ContentGenerated,
    EmailDue,
    deterministic_id,
)
from contracts.events import CampaignCompletedPayload, CampaignRef
from servicekit.consumer import RetryLater
from testkit.fake_openrouter import (
    Disconnect,
    Empty,
    Error,
    ErrorInBody,
    FakeOpenRouter,
    Hang,
    Malformed,
    Reply,
    Truncated,
)

MakeCampaign = Callable[..., CampaignCreated]
MakeDue = Callable[..., EmailDue]
PRIMARY, FALLBACK = "openai/gpt-4o-mini", "anthropic/claude-3.5-haiku"


def _cost(usage: Any) -> Decimal:
    """The cost the fake reported, to the precision the service keeps."""
    return Decimal(str(usage["cost"])).quantize(Decimal("1e-10"))


async def test_an_email_is_stored_and_announced_with_the_usage_the_provider_reported(
    service, openrouter: FakeOpenRouter, make_campaign: MakeCampaign, make_due: MakeDue
) -> None:
    campaign = make_campaign()
    cid = campaign.payload.campaign_id
    due = make_due(campaign, 1)
    await service.handle(campaign, due)

    [request] = openrouter.chat_requests()
    [row] = await service.rows(db.generated_emails)
    assert (row.campaign_id, row.sequence) == (cid, 1)
    assert (row.model, row.provider, row.structure) == (PRIMARY, "openrouter", "educational")
    assert row.prompt_version == PROMPT_VERSION
    assert row.prompt_tokens == request.usage["prompt_tokens"] > 0
    assert row.completion_tokens == request.usage["completion_tokens"] > 0
    assert row.cost == _cost(request.usage) > 0
    assert row.subject
    assert row.body_html
    assert row.body_text

    [event] = await service.published()
    assert isinstance(event, ContentGenerated)
    assert event.event_id == deterministic_id("content.generated", cid, 1)
    assert (event.workspace_id, event.correlation_id) == (due.workspace_id, due.correlation_id)
    assert event.payload.send_at == due.payload.send_at
    assert (event.payload.subject, event.payload.body_html) == (row.subject, row.body_html)
    assert (event.payload.model, event.payload.cost) == (PRIMARY, row.cost)

    [call] = await service.rows(db.llm_calls)
    assert (call.status, call.model, call.http_status, call.error) == ("ok", PRIMARY, 200, None)
    assert (call.prompt_tokens, call.cost) == (row.prompt_tokens, row.cost)


async def test_the_request_speaks_openrouters_protocol(
    service, openrouter: FakeOpenRouter, make_campaign: MakeCampaign, make_due: MakeDue
) -> None:
    campaign = make_campaign()
    await service.handle(campaign, make_due(campaign, 1))

    [request] = openrouter.chat_requests()
    assert request.headers["authorization"] == f"Bearer {openrouter.api_key}"
    assert request.headers["http-referer"] == "https://campaigns.example"
    assert request.headers["x-title"] == "Campaign Builder tests"
    body = request.body
    assert body["model"] == PRIMARY
    assert body["models"] == [PRIMARY, FALLBACK]
    assert body["response_format"] == {"type": "json_schema", "json_schema": EMAIL_SCHEMA}
    assert body["usage"] == {"include": True}
    assert [m["role"] for m in body["messages"]] == ["system", "user"]
    assert "Lyon Sourdough Club" in body["messages"][1]["content"]


async def test_a_duplicate_email_due_does_not_call_the_model_again(
    service, openrouter: FakeOpenRouter, make_campaign: MakeCampaign, make_due: MakeDue
) -> None:
    campaign = make_campaign()
    # Two events for the same email (say, re-emitted under another id): one email, one call.
    await service.handle(campaign, make_due(campaign, 1), make_due(campaign, 1))

    assert len(openrouter.chat_requests()) == 1
    assert len(await service.rows(db.generated_emails)) == 1
    assert len(await service.published()) == 1


async def test_429_with_retry_after_is_waited_out_and_retried(
    service, openrouter: FakeOpenRouter, make_campaign: MakeCampaign, make_due: MakeDue
) -> None:
    campaign = make_campaign(fallback_models=[])  # else OpenRouter itself falls back
    await service.handle(campaign)
    openrouter.script(Error(429, retry_after=1))
    await service.handle(make_due(campaign, 1))

    first, second = openrouter.chat_requests()
    assert (first.status, second.status) == (429, 200)
    assert second.received_at - first.responded_at >= 1.0  # backoff alone is ~0.01 s
    calls = await service.rows(db.llm_calls)
    assert [(c.status, c.http_status) for c in calls] == [("error", 429), ("ok", 200)]
    assert calls[0].error.startswith("unavailable: HTTP 429")
    assert [type(e) for e in await service.published()] == [ContentGenerated]


async def test_401_publishes_content_failed_with_reason_bad_key(
    service, openrouter: FakeOpenRouter, make_campaign: MakeCampaign, make_due: MakeDue,
    make_provider: Callable[..., OpenRouterProvider],
) -> None:
    campaign = make_campaign()
    cid = campaign.payload.campaign_id
    due = make_due(campaign, 2)
    await service.using(make_provider(api_key="sk-or-v1-revoked")).handle(campaign, due)

    assert [r.status for r in openrouter.chat_requests()] == [401]  # never retried
    [event] = await service.published()
    assert isinstance(event, ContentFailed)
    assert event.event_id == deterministic_id("content.failed", cid, 2)
    assert (event.payload.campaign_id, event.payload.sequence) == (cid, 2)
    assert event.payload.reason == "bad_key"
    assert event.correlation_id == due.correlation_id
    [failure] = await service.rows(db.content_failures)
    assert (failure.sequence, failure.reason) == (2, "bad_key")
    [call] = await service.rows(db.llm_calls)
    assert (call.status, call.http_status) == ("error", 401)
    assert await service.rows(db.generated_emails) == []


@pytest.mark.parametrize(
    ("status", "reason"),
    [(400, "bad_request"), (402, "out_of_credits"), (403, "moderation")],
)
async def test_other_permanent_faults_fail_at_once_with_their_reason(
    service, openrouter: FakeOpenRouter, make_campaign: MakeCampaign, make_due: MakeDue,
    status: int, reason: str,
) -> None:
    campaign = make_campaign(fallback_models=[])
    openrouter.script(Error(status))
    await service.handle(campaign, make_due(campaign, 1))

    assert len(openrouter.chat_requests()) == 1
    [event] = await service.published()
    assert isinstance(event, ContentFailed)
    assert event.payload.reason == reason


async def test_a_script_in_the_models_html_is_removed(
    service, openrouter: FakeOpenRouter, make_campaign: MakeCampaign, make_due: MakeDue
) -> None:
    openrouter.script(Reply(content={
        "subject": "Fresh\nbread",
        "preheader": "Warm from the oven",
        "body_html": '<p onmouseover="steal()">Hi {{first_name}}</p><script>steal()</script>'
                     '<p><a href="javascript:steal()">Win</a> <a href="https://x.example">'
                     "Shop</a> {{unsubscribe_url}}</p>",
        "body_text": "",
    }))
    campaign = make_campaign()
    await service.handle(campaign, make_due(campaign, 1))

    [row] = await service.rows(db.generated_emails)
    assert row.body_html == (
        '<p>Hi {{first_name}}</p><p><a>Win</a> <a href="https://x.example">Shop</a> </p>'
    )
    assert row.body_text == "Hi {{first_name}}\n\nWin Shop (https://x.example)"
    assert row.subject == "Fresh bread"
    [event] = await service.published()
    assert "<script" not in event.payload.body_html


async def test_unusable_answers_and_errors_in_200_bodies_are_retried_and_paid_for(
    service, openrouter: FakeOpenRouter, make_campaign: MakeCampaign, make_due: MakeDue
) -> None:
    openrouter.script(Malformed(), ErrorInBody(code=502))
    campaign = make_campaign()
    await service.handle(campaign, make_due(campaign, 1))

    requests = openrouter.chat_requests()
    assert len(requests) == 3
    calls = await service.rows(db.llm_calls)
    assert [c.status for c in calls] == ["error", "error", "ok"]
    assert calls[0].error.startswith("invalid_output: unusable answer")
    assert calls[1].error.startswith("unavailable: error in a 200 body (502)")
    # The malformed answer was billed: the email's cost counts it.
    [row] = await service.rows(db.generated_emails)
    billed = [_cost(r.usage) for r in requests if r.usage]
    assert len(billed) == 2
    assert row.cost == sum(billed)


async def test_faults_that_persist_are_retried_later_and_every_billed_attempt_is_counted(
    service, openrouter: FakeOpenRouter, make_campaign: MakeCampaign, make_due: MakeDue
) -> None:
    campaign = make_campaign(fallback_models=[])
    await service.handle(campaign)
    openrouter.script(Error(503, retry_after=0), Empty(), Error(502))
    due = make_due(campaign, 1)
    before_send = service.using(clock=lambda: due.payload.send_at - timedelta(hours=1))

    with pytest.raises(RetryLater) as caught:
        await before_send.handle(due)

    assert 0 < caught.value.delay <= 3600  # a try left before the send time
    assert len(openrouter.chat_requests()) == 3
    # The unit of work rolled back; the call log did not.
    assert await service.published() == []
    assert await service.rows(db.generated_emails) == []
    assert [c.status for c in await service.rows(db.llm_calls)] == ["error"] * 3

    await before_send.handle(due)  # the consumer's redelivery, once the provider is back
    [event] = await service.published()
    assert isinstance(event, ContentGenerated)
    # The event bills the email's every attempt: the empty answer was paid for too.
    billed = [r.usage for r in openrouter.chat_requests() if r.usage]
    assert len(billed) == 2
    assert event.payload.cost == sum(_cost(u) for u in billed)
    assert event.payload.prompt_tokens == sum(u["prompt_tokens"] for u in billed)
    assert event.payload.completion_tokens == sum(u["completion_tokens"] for u in billed)


async def test_dropped_connections_and_truncated_answers_are_retried(
    service, openrouter: FakeOpenRouter, make_campaign: MakeCampaign, make_due: MakeDue
) -> None:
    openrouter.script(Disconnect(), Truncated())
    campaign = make_campaign()
    await service.handle(campaign, make_due(campaign, 1))

    calls = await service.rows(db.llm_calls)
    assert [c.status for c in calls] == ["error", "error", "ok"]
    assert calls[0].error.startswith("unavailable: connection failed")
    assert "cut off by max_tokens" in calls[1].error
    assert len(await service.rows(db.generated_emails)) == 1


async def test_a_hung_request_times_out_and_is_retried(
    service, openrouter: FakeOpenRouter, make_campaign: MakeCampaign, make_due: MakeDue,
    make_provider: Callable[..., OpenRouterProvider],
) -> None:
    openrouter.script(Hang(seconds=10))
    campaign = make_campaign()
    started = time.monotonic()
    await service.using(make_provider(timeout=0.3)).handle(campaign, make_due(campaign, 1))

    assert time.monotonic() - started < 3
    calls = await service.rows(db.llm_calls)
    assert [c.status for c in calls] == ["error", "ok"]
    assert calls[0].error == "unavailable: no answer within 0.3 s"
    assert len(await service.rows(db.generated_emails)) == 1


async def test_the_fallback_model_that_answered_is_the_one_recorded(
    service, openrouter: FakeOpenRouter, make_campaign: MakeCampaign, make_due: MakeDue
) -> None:
    openrouter.script(Error(502), model=PRIMARY)
    campaign = make_campaign()
    await service.handle(campaign, make_due(campaign, 1))

    [request] = openrouter.chat_requests()
    assert request.attempted_models == (PRIMARY, FALLBACK)
    [row] = await service.rows(db.generated_emails)
    assert row.model == FALLBACK
    [event] = await service.published()
    assert event.payload.model == FALLBACK


async def test_an_email_of_an_unknown_campaign_waits_for_the_campaign(
    service, openrouter: FakeOpenRouter, make_campaign: MakeCampaign, make_due: MakeDue
) -> None:
    campaign = make_campaign()
    with pytest.raises(RetryLater):
        await service.handle(make_due(campaign, 1))
    assert openrouter.chat_requests() == []

    await service.handle(campaign, make_due(campaign, 1))
    assert len(await service.rows(db.generated_emails)) == 1


async def test_a_cancelled_campaign_gets_no_content(
    service, openrouter: FakeOpenRouter, make_campaign: MakeCampaign, make_due: MakeDue
) -> None:
    campaign = make_campaign()
    cancelled = CampaignCancelled.create(CampaignRef(campaign_id=campaign.payload.campaign_id),
                                         workspace_id=campaign.workspace_id)
    await service.handle(campaign, cancelled, make_due(campaign, 1))

    assert openrouter.chat_requests() == []
    assert await service.published() == []


async def test_paused_and_completed_campaigns_still_get_the_emails_already_due(
    service, openrouter: FakeOpenRouter, make_campaign: MakeCampaign, make_due: MakeDue
) -> None:
    campaign = make_campaign()
    cid, ws = campaign.payload.campaign_id, campaign.workspace_id
    await service.handle(
        campaign,
        CampaignPaused.create(CampaignRef(campaign_id=cid), workspace_id=ws),
        make_due(campaign, 1),
        CampaignCompleted.create(CampaignCompletedPayload(campaign_id=cid, total_emails=2),
                                 workspace_id=ws),
        make_due(campaign, 2),
    )
    assert [e.payload.sequence for e in await service.published()] == [1, 2]


async def test_each_prompt_recalls_the_earlier_emails(
    service, openrouter: FakeOpenRouter, make_campaign: MakeCampaign, make_due: MakeDue
) -> None:
    campaign = make_campaign()
    await service.handle(campaign, make_due(campaign, 1), make_due(campaign, 2))

    first, second = openrouter.chat_requests()
    [stored, _] = await service.rows(db.generated_emails)
    assert "<previous_emails>" not in first.body["messages"][1]["content"]
    prompt = second.body["messages"][1]["content"]
    assert f'Email 1: subject "{stored.subject}"' in prompt
    assert "email 2 of 12" in prompt
    assert "Promotional" in prompt


async def test_a_second_delivery_while_the_model_writes_waits_instead_of_paying_again(
    service, openrouter: FakeOpenRouter, make_campaign: MakeCampaign, make_due: MakeDue
) -> None:
    campaign = make_campaign()
    due = make_due(campaign, 1)
    await service.handle(campaign)
    openrouter.latency = 0.5
    first = asyncio.create_task(service.handle(due))
    while not openrouter.chat_requests():  # noqa: ASYNC110 - waits for the call to start
        await asyncio.sleep(0.01)

    with pytest.raises(RetryLater) as caught:  # the same event redelivered meanwhile
        await service.handle(due)
    assert 1 <= caught.value.delay <= 120  # until the claim would lapse at the latest
    assert await first == ["handled"]
    assert await service.handle(due) == ["duplicate"]  # and once it is stored
    assert len(openrouter.chat_requests()) == 1
    assert [type(e) for e in await service.published()] == [ContentGenerated]
    assert await service.rows(db.claims) == []


async def test_a_crash_between_the_call_and_the_commit_loses_nothing_and_emits_once(
    service, openrouter: FakeOpenRouter, make_campaign: MakeCampaign, make_due: MakeDue
) -> None:
    campaign = make_campaign()
    due = make_due(campaign, 1)
    await service.handle(campaign)
    prepare = service.using(claim_lease=timedelta(seconds=1)).handlers.steps(due.type)
    assert prepare is not None
    await prepare(due)  # the model wrote the email; the process dies before committing it
    assert await service.rows(db.generated_emails) == []
    assert await service.published() == []

    # The claim outlives the process until its lease ends, then the redelivery takes over.
    with pytest.raises(RetryLater):
        await service.handle(due)
    await asyncio.sleep(1.1)
    assert await service.handle(due) == ["handled"]
    await service.handle(make_due(campaign, 1))  # another email.due for it changes nothing

    assert len(openrouter.chat_requests()) == 2
    [row] = await service.rows(db.generated_emails)
    [event] = await service.published()
    assert isinstance(event, ContentGenerated)
    assert event.payload.subject == row.subject
    assert await service.rows(db.claims) == []
