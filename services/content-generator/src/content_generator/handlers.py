"""Use cases: campaign events keep the brief current; email.due writes one email."""

from __future__ import annotations

import uuid
from typing import Any

import structlog

from content_generator import db, metrics
from content_generator.domain import (
    CampaignBrief,
    CampaignState,
    structure_for,
    transition,
    wants_content,
)
from content_generator.prompts import build_prompt
from content_generator.providers.base import EmailProvider, EmailRequest, ProviderError
from contracts import (
    CampaignCancelled,
    CampaignCompleted,
    CampaignCreated,
    CampaignPaused,
    CampaignResumed,
    CampaignUpdated,
    ContentFailed,
    ContentGenerated,
    EmailDue,
    deterministic_id,
)
from contracts.events import ContentFailedPayload, ContentGeneratedPayload
from servicekit.consumer import RetryLater
from servicekit.db import UnitOfWork

log = structlog.get_logger(__name__)


async def on_campaign_defined(event: CampaignCreated | CampaignUpdated, uow: UnitOfWork) -> None:
    brief = CampaignBrief.from_definition(event.payload)
    await db.save_campaign(uow.conn, brief, event.workspace_id)


async def _move(uow: UnitOfWork, campaign_id: uuid.UUID, target: CampaignState) -> None:
    brief = await db.get_campaign(uow.conn, campaign_id, for_update=True)
    if brief is None:
        return
    state = transition(brief.state, target)
    if state != brief.state:
        await db.set_state(uow.conn, campaign_id, state)


async def on_paused(event: CampaignPaused, uow: UnitOfWork) -> None:
    await _move(uow, event.payload.campaign_id, "paused")


async def on_resumed(event: CampaignResumed, uow: UnitOfWork) -> None:
    await _move(uow, event.payload.campaign_id, "active")


async def on_cancelled(event: CampaignCancelled, uow: UnitOfWork) -> None:
    await _move(uow, event.payload.campaign_id, "cancelled")


async def on_completed(event: CampaignCompleted, uow: UnitOfWork) -> None:
    await _move(uow, event.payload.campaign_id, "completed")


async def on_email_due(
    event: EmailDue,
    uow: UnitOfWork,
    *,
    provider: EmailProvider,
    call_log: db.CallLog,
    previous_limit: int = 10,
) -> None:
    due = event.payload
    campaign_id, k = due.campaign_id, due.sequence
    brief = await db.get_campaign(uow.conn, campaign_id)
    if brief is None:
        # campaign.created travels on another stream and may not have been handled yet.
        raise RetryLater(f"campaign {campaign_id} is not known yet", delay=5.0)
    if not wants_content(brief.state) or await db.has_content(uow.conn, campaign_id, k):
        return

    structure = structure_for(k)
    previous = await db.previous_emails(uow.conn, campaign_id, before=k, limit=previous_limit)
    prompt = build_prompt(brief, sequence=k, total=due.total, send_at=due.send_at,
                          structure=structure, previous=previous)
    request = EmailRequest(brief, k, due.total, due.send_at, structure, prompt)
    # The model writes while this unit of work's transaction is open: it holds one pooled
    # connection and this event's inbox mark (so a redelivery waits instead of paying for a
    # second call) for up to the provider's time budget, but no row lock, so campaign events
    # and other emails go on meanwhile. The cost is long transactions, which hold back vacuum;
    # writing first and storing in a short transaction afterwards would avoid them.
    try:
        completion = await provider.write(request)
    except ProviderError as exc:
        metrics.observe(exc.calls)
        if exc.retryable:
            # The event is redelivered with backoff; keep what the attempts cost.
            await call_log.record(campaign_id, k, exc.calls)
            raise
        await db.insert_calls(uow.conn, campaign_id, k, exc.calls)
        await db.record_failure(uow.conn, campaign_id, k, exc.reason, exc.message)
        log.warning("content.failed", campaign_id=str(campaign_id), sequence=k,
                    reason=exc.reason, error=exc.message)
        uow.publish(ContentFailed.create(
            ContentFailedPayload(campaign_id=campaign_id, sequence=k, reason=exc.reason,
                                 message=exc.message[:2000]),
            workspace_id=event.workspace_id,
            correlation_id=event.correlation_id,
            event_id=deterministic_id("content.failed", campaign_id, k),
        ))
        return

    metrics.observe(completion.calls)
    await db.insert_calls(uow.conn, campaign_id, k, completion.calls)
    email, usage = completion.email, completion.usage
    values: dict[str, Any] = {
        "model": completion.model[:200],
        "provider": completion.provider,
        "structure": structure,
        "prompt_version": prompt.version,
        "prompt_tokens": usage.prompt_tokens,
        "completion_tokens": usage.completion_tokens,
        "cost": usage.cost,
        "latency_ms": completion.latency_ms,
    }
    if not await db.insert_generated(uow.conn, campaign_id, k, email, **values):
        return  # written meanwhile by a handler of another email.due for the same email
    uow.publish(ContentGenerated.create(
        ContentGeneratedPayload(campaign_id=campaign_id, sequence=k, send_at=due.send_at,
                                subject=email.subject, preheader=email.preheader,
                                body_html=email.body_html, body_text=email.body_text, **values),
        workspace_id=event.workspace_id,
        correlation_id=event.correlation_id,
        event_id=deterministic_id("content.generated", campaign_id, k),
    ))
