"""Use cases: campaign events keep the brief current; email.due writes one email."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import partial
from typing import Any

import structlog
from sqlalchemy.ext.asyncio import AsyncConnection

from content_generator import db, metrics
from content_generator.domain import (
    CampaignBrief,
    CampaignState,
    DegradationPolicy,
    FailureReason,
    after_outage,
    month_start,
    over_budget,
    transition,
    wants_content,
)
from content_generator.embeddings import Embedder
from content_generator.providers.base import EmailProvider, ProviderError
from content_generator.providers.offline import OfflineProvider
from content_generator.writer import MemoryPolicy, write_draft
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
    WorkspaceUpdated,
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


@dataclass(frozen=True)
class Ports:
    """What writing an email needs besides its unit of work."""

    provider: EmailProvider
    embedder: Embedder
    call_log: db.CallLog
    memory: MemoryPolicy = field(default_factory=MemoryPolicy)
    degradation: DegradationPolicy = "delay"
    # Outages an email may go through before the degradation policy decides, whatever the time.
    max_outages: int = 7
    # Waits between tries during an outage; the last one repeats.
    outage_backoff: tuple[float, ...] = (5, 15, 60, 300)
    # Writes the email when the policy is `offline_template`.
    fallback: EmailProvider = field(default_factory=OfflineProvider)
    clock: Callable[[], datetime] = lambda: datetime.now(UTC)

    def backoff(self, outages: int) -> float:
        return self.outage_backoff[min(outages, len(self.outage_backoff)) - 1]


async def on_workspace_updated(event: WorkspaceUpdated, uow: UnitOfWork) -> None:
    await db.save_workspace(uow.conn, event.workspace_id, event.payload.monthly_llm_budget)


async def budget_left(conn: AsyncConnection, workspace_id: uuid.UUID, now: datetime) -> str | None:
    """None while the workspace may spend; else why it may not."""
    budget = await db.workspace_budget(conn, workspace_id)
    if budget is None:
        return None
    spent = await db.workspace_spend(conn, workspace_id, since=month_start(now))
    if not over_budget(spent.cost, budget):
        return None
    return f"this month's LLM spend ({spent.cost.normalize()}) reached the workspace budget " \
           f"({budget.normalize()})"


def _failed(event: EmailDue, reason: FailureReason, message: str) -> ContentFailed:
    due = event.payload
    log.warning("content.failed", campaign_id=str(due.campaign_id), sequence=due.sequence,
                reason=reason, error=message)
    return ContentFailed.create(
        ContentFailedPayload(campaign_id=due.campaign_id, sequence=due.sequence, reason=reason,
                             message=message[:2000]),
        workspace_id=event.workspace_id,
        correlation_id=event.correlation_id,
        event_id=deterministic_id("content.failed", due.campaign_id, due.sequence),
    )


async def _publish_failure(
    uow: UnitOfWork, event: EmailDue, reason: FailureReason, message: str
) -> None:
    due = event.payload
    await db.record_failure(uow.conn, due.campaign_id, due.sequence, reason, message)
    uow.publish(_failed(event, reason, message))


async def on_email_due(event: EmailDue, uow: UnitOfWork, *, ports: Ports) -> None:
    due = event.payload
    campaign_id, k = due.campaign_id, due.sequence
    brief = await db.get_campaign(uow.conn, campaign_id)
    if brief is None:
        # campaign.created travels on another stream and may not have been handled yet.
        raise RetryLater(f"campaign {campaign_id} is not known yet", delay=5.0)
    if not wants_content(brief.state) or await db.has_content(uow.conn, campaign_id, k):
        return
    if (refusal := await budget_left(uow.conn, event.workspace_id, ports.clock())) is not None:
        await _publish_failure(uow, event, "budget_exceeded", refusal)
        return

    scope = db.CallScope(event.workspace_id, campaign_id, k)
    write = partial(write_draft, uow.conn, brief, sequence=k, total=due.total,
                    send_at=due.send_at, embedder=ports.embedder, memory=ports.memory)
    # The model writes while this unit of work's transaction is open: it holds one pooled
    # connection and this event's inbox mark (so a redelivery waits instead of paying for a
    # second call), but no row lock, so campaign events and other emails go on meanwhile.
    try:
        draft = await write(provider=ports.provider)
    except ProviderError as exc:
        metrics.observe(exc.calls)
        if not exc.retryable:
            await db.insert_calls(uow.conn, scope, exc.calls)
            await _publish_failure(uow, event, exc.reason, exc.message)
            return
        # Kept whatever happens to this unit of work: the attempts were paid for.
        await ports.call_log.record(scope, exc.calls)
        outages = await ports.call_log.count_outage(campaign_id, k)
        decision = after_outage(
            now=ports.clock(), send_at=due.send_at, failures=outages,
            max_failures=ports.max_outages, policy=ports.degradation,
            backoff=ports.backoff(outages), retry_after=exc.retry_after,
        )
        log.warning("content.outage", campaign_id=str(campaign_id), sequence=k,
                    outages=outages, action=decision.action, delay=decision.delay,
                    error=exc.message)
        if decision.action == "retry":
            raise RetryLater(f"no model could write the email: {exc.message}",
                             delay=decision.delay) from exc
        if decision.action == "fail":
            await _publish_failure(uow, event, "unavailable", exc.message)
            return
        draft = await write(provider=ports.fallback)

    metrics.observe(draft.calls)
    await db.insert_calls(uow.conn, scope, draft.calls)
    # Every billed call for this email, earlier deliveries' failed attempts included.
    spend = await db.email_spend(uow.conn, campaign_id, k)
    values: dict[str, Any] = {
        "model": draft.model[:200],
        "provider": draft.provider,
        "structure": draft.structure,
        "prompt_version": draft.prompt_version,
        "prompt_tokens": spend.prompt_tokens,
        "completion_tokens": spend.completion_tokens,
        "cost": spend.cost,
        "latency_ms": draft.latency_ms,
    }
    stored = await db.insert_generated(
        uow.conn, campaign_id, k, draft.email, embedding=list(draft.embedding),
        embedding_model=draft.embedding_model, max_similarity=draft.max_similarity, **values,
    )
    if not stored:
        return  # written meanwhile by a handler of another email.due for the same email
    email = draft.email
    uow.publish(ContentGenerated.create(
        ContentGeneratedPayload(campaign_id=campaign_id, sequence=k, send_at=due.send_at,
                                subject=email.subject, preheader=email.preheader,
                                body_html=email.body_html, body_text=email.body_text, **values),
        workspace_id=event.workspace_id,
        correlation_id=event.correlation_id,
        event_id=deterministic_id("content.generated", campaign_id, k),
    ))
