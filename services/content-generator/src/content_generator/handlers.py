"""Use cases: campaign events keep the brief current; email.due writes one email."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from functools import partial
from typing import Any

import structlog
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from content_generator import db, metrics
from content_generator.domain import (
    NO_CONTENT,
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
from content_generator.learning import BanditPolicy, Choice
from content_generator.providers.base import EmailProvider, LlmCall, ProviderError
from content_generator.providers.offline import OfflineProvider
from content_generator.variants import write_variants
from content_generator.writer import Draft, MemoryPolicy, write_draft
from contracts import (
    AbTest,
    CampaignCancelled,
    CampaignCompleted,
    CampaignCreated,
    CampaignPaused,
    CampaignResumed,
    CampaignUpdated,
    ContactErased,
    ContentFailed,
    ContentGenerated,
    EmailDue,
    EmailPerformance,
    EmailVariant,
    WorkspaceUpdated,
    deterministic_id,
)
from contracts.events import ContentFailedPayload, ContentGeneratedPayload
from contracts.learning import ArmBelief, StructureChoice
from servicekit.consumer import Commit, RetryLater
from servicekit.db import UnitOfWork
from servicekit.erasure import erase_address

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
    # Reads and claims, outside any unit of work (see `db.create_reader`).
    database: AsyncEngine
    memory: MemoryPolicy = field(default_factory=MemoryPolicy)
    bandit: BanditPolicy = field(default_factory=BanditPolicy)
    degradation: DegradationPolicy = "delay"
    # Outages an email may go through before the degradation policy decides, whatever the time.
    max_outages: int = 7
    # Waits between tries during an outage; the last one repeats.
    outage_backoff: tuple[float, ...] = (5, 15, 60, 300)
    # Writes the email when the policy is `offline_template`.
    fallback: EmailProvider = field(default_factory=OfflineProvider)
    clock: Callable[[], datetime] = lambda: datetime.now(UTC)
    # How long a claim on an email lasts if its holder never gives it up (the process died):
    # the email.due's ack wait, after which JetStream redelivers it anyway.
    claim_lease: timedelta = timedelta(seconds=120)

    def backoff(self, outages: int) -> float:
        return self.outage_backoff[min(outages, len(self.outage_backoff)) - 1]


async def on_contact_erased(event: ContactErased, uow: UnitOfWork) -> None:
    """Forget an erased person. The content generator's own tables hold no contact's address
    (campaigns: the marketer's brief; generated_emails: one email for every recipient, merge
    tags unfilled; llm_calls, content_failures, workspaces, generation_outages and
    generation_claims: accounting; email_performance: counts; see its migrations): only the
    messaging tables may."""
    await erase_address(uow.conn, event.payload.email)


async def on_email_performance(event: EmailPerformance, uow: UnitOfWork, *,
                               window: timedelta) -> None:
    """Keep the email's newest counts within its reward window (`window` after its send),
    whatever order its summaries arrive in (the inbox makes a replay of the same one a no-op):
    what the structure bandit and the prompt's examples learn from."""
    stored = await db.keep_newest_performance(uow.conn, event.workspace_id, event.payload,
                                              window=window)
    if not stored:
        log.info("content.performance_older", campaign_id=str(event.payload.campaign_id),
                 sequence=event.payload.sequence, as_of=event.payload.as_of.isoformat())


async def on_workspace_updated(event: WorkspaceUpdated, uow: UnitOfWork) -> None:
    await db.save_workspace(uow.conn, event.workspace_id, event.payload.monthly_llm_budget)


def _refusal(spent: Decimal, budget: Decimal | None) -> str | None:
    """None while the workspace may spend; else why it may not."""
    if not over_budget(spent, budget):
        return None
    assert budget is not None
    return f"this month's LLM spend ({spent.normalize()}) reached the workspace budget " \
           f"({budget.normalize()})"


async def budget_left(conn: AsyncConnection, workspace_id: uuid.UUID, now: datetime) -> str | None:
    """None while the workspace may spend; else why it may not."""
    budget = await db.workspace_budget(conn, workspace_id)
    if budget is None:
        return None
    spent = await db.workspace_spend(conn, workspace_id, since=month_start(now))
    return _refusal(spent.cost, budget)


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


async def _nothing(uow: UnitOfWork) -> None:
    """Nothing to store: the event's inbox mark alone."""


async def _store_failure(
    event: EmailDue, reason: FailureReason, message: str, uow: UnitOfWork, *,
    calls: tuple[db.CallScope, tuple[LlmCall, ...]] | None = None,
) -> None:
    due = event.payload
    if calls is not None:
        await db.insert_calls(uow.conn, *calls)
    await db.record_failure(uow.conn, due.campaign_id, due.sequence, reason, message)
    uow.publish(_failed(event, reason, message))


def structure_choice(choice: Choice) -> StructureChoice:
    """The bandit's choice as the contracts carry it (and the email's row keeps it)."""
    return StructureChoice(rule=choice.rule, arm=choice.arm, seed=choice.seed, arms=[
        ArmBelief(arm=p.arm, alpha=p.alpha, beta=p.beta, mean=p.mean, sample=sample)
        for p, sample in zip(choice.posteriors, choice.samples, strict=True)
    ])


async def _store(
    event: EmailDue, scope: db.CallScope, draft: Draft, uow: UnitOfWork, *,
    test: AbTest | None = None, variants: tuple[EmailVariant, ...] = (),
) -> None:
    due = event.payload
    campaign_id, k = due.campaign_id, due.sequence
    await db.insert_calls(uow.conn, scope, draft.calls)
    values: dict[str, Any] = {
        "model": draft.model[:200],
        "provider": draft.provider,
        "structure": draft.structure,
        "prompt_version": draft.prompt_version,
        "latency_ms": draft.latency_ms,
    }
    choice = structure_choice(draft.choice)
    stored = await db.store_generated(
        uow.conn, campaign_id, k, draft.email, embedding=draft.embedding,
        embedding_model=draft.embedding_model, max_similarity=draft.max_similarity,
        send_at=due.send_at, structure_choice=choice.model_dump(mode="json"), **values,
    )
    if stored is None:
        return  # written meanwhile by a handler of another email.due for the same email
    email = draft.email
    uow.publish(ContentGenerated.create(
        ContentGeneratedPayload(campaign_id=campaign_id, sequence=k, send_at=due.send_at,
                                subject=email.subject, preheader=email.preheader,
                                body_html=email.body_html, body_text=email.body_text,
                                # Every billed call for this email, earlier deliveries' failed
                                # attempts included.
                                prompt_tokens=stored.prompt_tokens,
                                completion_tokens=stored.completion_tokens, cost=stored.cost,
                                ab_test=test if variants else None, variants=list(variants),
                                structure_choice=choice, **values),
        workspace_id=event.workspace_id,
        correlation_id=event.correlation_id,
        event_id=deterministic_id("content.generated", campaign_id, k),
    ))


async def prepare_email_due(event: EmailDue, *, ports: Ports) -> Commit:
    """Claims the email and has it written, outside any transaction; returns the step that
    stores the email (or its failure) with the event's inbox mark and ends the claim.

    No connection is held while the model writes. The claim keeps a second delivery of the
    email (a redelivery, or another email.due for it) from paying for a second call while this
    one writes; an email already written is not written again; and nothing is stored before
    the outcome, so a crash in between loses nothing: the redelivery writes the email."""
    due = event.payload
    campaign_id, k = due.campaign_id, due.sequence
    token = uuid.uuid4()
    async with ports.database.connect() as conn:
        claim = await db.claim_email(
            conn, campaign_id, k, workspace_id=event.workspace_id, token=token,
            lease=ports.claim_lease, since=month_start(ports.clock()), no_content=NO_CONTENT,
        )
    if claim.brief is None:
        # campaign.created travels on another stream and may not have been handled yet.
        raise RetryLater(f"campaign {campaign_id} is not known yet", delay=5.0)
    if claim.written or not wants_content(claim.brief.state):
        return _nothing
    if not claim.claimed:
        raise RetryLater(f"email {k} of campaign {campaign_id} is being written already",
                         delay=max(1.0, claim.held_for))
    try:
        return await _write(event, claim.brief, ports,
                            refusal=_refusal(claim.spent or Decimal(0), claim.budget))
    except BaseException:
        await _release(ports, campaign_id, k, token)
        raise


async def _release(ports: Ports, campaign_id: uuid.UUID, sequence: int, token: uuid.UUID) -> None:
    try:
        async with ports.database.connect() as conn:
            await db.release_claim(conn, campaign_id, sequence, token)
    except Exception as exc:  # the claim lapses by itself at the end of its lease
        log.warning("content.claim_not_released", campaign_id=str(campaign_id),
                    sequence=sequence, error=repr(exc))


async def _write(
    event: EmailDue, brief: CampaignBrief, ports: Ports, *, refusal: str | None
) -> Commit:
    due = event.payload
    campaign_id, k = due.campaign_id, due.sequence
    if refusal is not None:
        return partial(_store_failure, event, "budget_exceeded", refusal)
    scope = db.CallScope(event.workspace_id, campaign_id, k)
    write = partial(write_draft, ports.database, brief, sequence=k, total=due.total,
                    send_at=due.send_at, embedder=ports.embedder, memory=ports.memory,
                    bandit=ports.bandit)
    try:
        draft = await write(provider=ports.provider)
    except ProviderError as exc:
        metrics.observe(exc.calls)
        if not exc.retryable:
            return partial(_store_failure, event, exc.reason, exc.message,
                           calls=(scope, exc.calls))
        # Kept whatever becomes of this delivery: the attempts were paid for.
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
            return partial(_store_failure, event, "unavailable", exc.message)
        draft = await write(provider=ports.fallback)
        provider = ports.fallback
    else:
        provider = ports.provider
    metrics.observe(draft.calls)
    test = brief.ab_test
    if test is None or not test.tests(k):
        return partial(_store, event, scope, draft)
    draft, variants = await _variants_of(event, brief, draft, test, provider, ports, scope)
    return partial(_store, event, scope, draft, test=test, variants=variants)


async def _variants_of(
    event: EmailDue, brief: CampaignBrief, draft: Draft, test: AbTest, provider: EmailProvider,
    ports: Ports, scope: db.CallScope,
) -> tuple[Draft, tuple[EmailVariant, ...]]:
    """The draft with the calls its variants took, and the variants; none if the provider
    fails them: the email then goes to everyone untested rather than late."""
    due = event.payload
    try:
        written = await write_variants(
            brief, draft, test, sequence=due.sequence, total=due.total, send_at=due.send_at,
            provider=provider, embedder=ports.embedder, memory=ports.memory)
    except ProviderError as exc:
        metrics.observe(exc.calls)
        log.warning("content.variants_failed", campaign_id=str(due.campaign_id),
                    sequence=due.sequence, error=exc.message)
        return replace(draft, calls=(*draft.calls, *exc.calls)), ()
    metrics.observe(written.calls)
    return replace(draft, calls=(*draft.calls, *written.calls)), written.variants
