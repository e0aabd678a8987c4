"""Writes one email with the campaign's memory and what it learnt: the structure bandit picks
the structure from the earlier emails' engagement, the prompt recalls the last emails and the
most similar earlier ones (not to repeat them) and the best and weakest by click rate (to build
on what worked); the provider is asked, and a draft that comes too close to an earlier email is
redrafted (a bounded number of times). Shared by email.due and preview, so a preview gets the
structure the email would get; stores nothing itself."""

from __future__ import annotations

import time
from dataclasses import dataclass, replace
from datetime import datetime

import structlog
from sqlalchemy.ext.asyncio import AsyncEngine

from content_generator import db
from content_generator.domain import (
    CampaignBrief,
    EmailContent,
    SimilarEmail,
    Structure,
    too_similar,
)
from content_generator.embeddings import Embedder, email_text
from content_generator.learning import BanditPolicy, Choice, choose_structure, what_worked
from content_generator.prompts import build_prompt, memory_query
from content_generator.providers.base import (
    EmailProvider,
    EmailRequest,
    LlmCall,
    ProviderError,
    Usage,
)

log = structlog.get_logger(__name__)


@dataclass(frozen=True)
class MemoryPolicy:
    recent: int = 10  # last emails summarised in the prompt
    similar: int = 3  # most similar earlier emails recalled in the prompt
    # Cosine similarity from which a draft counts as a near-duplicate of an earlier email.
    threshold: float = 0.9
    drafts: int = 3  # drafts per email at most, the first included
    # No redraft starts later than this after the first draft began (keeps the whole email
    # within the event's ack wait); the least similar draft so far is kept instead.
    redraft_deadline: float = float("inf")
    # Best and weakest earlier emails shown as what worked and what did not, at most, each;
    # only emails delivered to at least `min_delivered` people count, fewer say too little.
    examples: int = 2
    min_delivered: int = 50


@dataclass(frozen=True)
class Draft:
    email: EmailContent
    provider: str
    model: str
    structure: Structure
    prompt_version: str
    calls: tuple[LlmCall, ...]  # every billed call: drafts, rejected ones, embeddings
    latency_ms: int
    embedding: str  # pgvector's text form
    embedding_model: str
    # Closest earlier email of the campaign; None for the first email.
    closest: SimilarEmail | None
    choice: Choice

    @property
    def usage(self) -> Usage:
        return sum((c.usage for c in self.calls), Usage())

    @property
    def max_similarity(self) -> float | None:
        return self.closest.similarity if self.closest else None


def _closeness(draft: Draft) -> float:
    return draft.max_similarity if draft.max_similarity is not None else -1.0


async def write_draft(
    database: AsyncEngine,
    brief: CampaignBrief,
    *,
    sequence: int,
    total: int | None,
    send_at: datetime,
    provider: EmailProvider,
    embedder: Embedder,
    memory: MemoryPolicy,
    bandit: BanditPolicy,
) -> Draft:
    """The least repetitive of at most `memory.drafts` drafts (the first one under the
    threshold). A ProviderError carries every call made so far, billed ones included.
    A connection is taken from `database` only for each query, never while a model or an
    embedder is called."""
    started = time.monotonic()
    cid = brief.campaign_id
    calls: list[LlmCall] = []
    async with database.connect() as conn:
        past = await db.past_performance(conn, cid, before=sequence)
    choice = choose_structure(cid, sequence, past.evidence, past.workspace, bandit)
    structure = choice.arm
    results = what_worked(past.emails, examples=memory.examples,
                          min_delivered=memory.min_delivered)
    try:
        query = await embedder.embed(memory_query(brief, structure, sequence))
        calls += query.calls
        async with database.connect() as conn:
            recalled = await db.recall(conn, cid, before=sequence, recent=memory.recent,
                                       vector=db.vector_literal(query.vector),
                                       embedding_model=embedder.name, similar=memory.similar)
        best: Draft | None = None
        rejected: SimilarEmail | None = None
        for attempt in range(1, memory.drafts + 1):
            prompt = build_prompt(brief, sequence=sequence, total=total, send_at=send_at,
                                  structure=structure, previous=recalled.previous,
                                  similar=recalled.similar, rejected=rejected,
                                  results=results)
            completion = await provider.write(
                EmailRequest(brief, sequence, total, send_at, structure, prompt))
            calls += completion.calls
            embedded = await embedder.embed(email_text(completion.email))
            calls += embedded.calls
            vector = db.vector_literal(embedded.vector)
            async with database.connect() as conn:
                closest = await db.closest(conn, cid, vector, embedding_model=embedder.name,
                                           before=sequence)
            draft = Draft(completion.email, completion.provider, completion.model, structure,
                          prompt.version, (), 0, vector, embedder.name, closest, choice)
            if best is None or _closeness(draft) < _closeness(best):
                best = draft
            if not too_similar(closest, memory.threshold):
                break
            if time.monotonic() - started > memory.redraft_deadline:
                break
            assert closest is not None
            log.info("content.near_duplicate", campaign_id=str(cid), sequence=sequence,
                     draft=attempt, similar_to=closest.sequence,
                     similarity=round(closest.similarity, 3))
            rejected = closest
    except ProviderError as exc:
        exc.calls = (*calls, *exc.calls)
        raise
    assert best is not None
    if too_similar(best.closest, memory.threshold):
        log.warning("content.near_duplicate_kept", campaign_id=str(cid), sequence=sequence,
                    similarity=best.max_similarity, drafts=memory.drafts)
    latency = round((time.monotonic() - started) * 1000)
    return replace(best, calls=tuple(calls), latency_ms=latency)
