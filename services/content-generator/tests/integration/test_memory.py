"""Semantic memory: every email is embedded and stored in pgvector; the prompt recalls the most
similar earlier emails; a near-duplicate draft is caught and written again."""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal

import httpx

from content_generator import db
from content_generator.embeddings import HashingEmbedder, OpenRouterEmbedder
from content_generator.writer import MemoryPolicy
from contracts import CampaignCreated, ContentGenerated, EmailDue
from testkit.fake_openrouter import FakeOpenRouter, Reply

MakeCampaign = Callable[..., CampaignCreated]
MakeDue = Callable[..., EmailDue]
THRESHOLD = 0.9


def _user_prompt(request) -> str:
    return request.body["messages"][1]["content"]


async def test_a_near_duplicate_in_a_12_email_campaign_is_caught_and_written_again(
    service, openrouter: FakeOpenRouter, make_campaign: MakeCampaign, make_due: MakeDue
) -> None:
    service = service.using(memory=MemoryPolicy(threshold=THRESHOLD))
    campaign = make_campaign()
    await service.handle(campaign)
    for k in range(1, 7):
        await service.handle(make_due(campaign, k))
    third = (await service.rows(db.generated_emails))[2]
    # Email 7's first draft: email 3 again, barely reworded.
    openrouter.script(Reply({
        "subject": f"Re: {third.subject}", "preheader": third.preheader,
        "body_html": third.body_html, "body_text": third.body_text,
    }))
    for k in range(7, 13):
        await service.handle(make_due(campaign, k))

    requests = openrouter.chat_requests()
    assert len(requests) == 13  # one email written twice
    redraft = _user_prompt(requests[7])
    assert "too close" in redraft
    assert "email 3" in redraft
    assert third.subject in redraft  # recalled in <similar_emails>, so the note can point at it

    rows = await service.rows(db.generated_emails)
    assert [r.sequence for r in rows] == list(range(1, 13))
    assert rows[6].subject != f"Re: {third.subject}"
    assert rows[0].max_similarity is None  # nothing earlier to compare with
    similarities = [r.max_similarity for r in rows[1:]]
    assert all(s is not None and 0 <= s < THRESHOLD for s in similarities), similarities
    assert {r.embedding_model for r in rows} == {HashingEmbedder().name}
    assert all(len(r.embedding) == 256 for r in rows)

    # Email 7 bills both drafts.
    seventh = [e for e in await service.published()
               if isinstance(e, ContentGenerated) and e.payload.sequence == 7]
    both = [requests[6].usage, requests[7].usage]
    assert seventh[0].payload.cost == sum(
        Decimal(str(u["cost"])).quantize(Decimal("1e-10")) for u in both)


async def test_the_prompt_recalls_the_most_similar_earlier_emails(
    service, openrouter: FakeOpenRouter, make_campaign: MakeCampaign, make_due: MakeDue
) -> None:
    service = service.using(memory=MemoryPolicy(recent=1, similar=3))
    campaign = make_campaign()
    await service.handle(campaign, *(make_due(campaign, k) for k in range(1, 5)))

    rows = await service.rows(db.generated_emails)
    prompt = _user_prompt(openrouter.chat_requests()[3])
    assert "<similar_emails>" in prompt
    recalled = prompt.split("<similar_emails>")[1].split("</similar_emails>")[0]
    # Email 3 is the one recent email listed; the similar block recalls the two before it.
    assert rows[2].subject not in recalled
    assert rows[0].subject in recalled
    assert rows[1].subject in recalled


async def test_a_draft_that_stays_too_similar_is_kept_once_the_drafts_run_out(
    service, openrouter: FakeOpenRouter, make_campaign: MakeCampaign, make_due: MakeDue
) -> None:
    service = service.using(memory=MemoryPolicy(threshold=THRESHOLD, drafts=2))
    campaign = make_campaign()
    await service.handle(campaign, make_due(campaign, 1))
    [first] = await service.rows(db.generated_emails)
    same = {"subject": first.subject, "preheader": first.preheader,
            "body_html": first.body_html, "body_text": first.body_text}
    openrouter.script(Reply(same), Reply(same))
    await service.handle(make_due(campaign, 2))

    assert len(openrouter.chat_requests()) == 3  # two drafts, no third
    [_, second] = await service.rows(db.generated_emails)
    assert second.max_similarity >= THRESHOLD  # stored as it is, for anyone to see


async def test_openrouter_embeddings_are_used_and_billed_with_the_email(
    service, openrouter: FakeOpenRouter, make_campaign: MakeCampaign, make_due: MakeDue
) -> None:
    async with httpx.AsyncClient() as client:
        embedder = OpenRouterEmbedder(client, api_key=openrouter.api_key,
                                      base_url=openrouter.base_url,
                                      model="openai/text-embedding-3-small")
        service = service.using(embedder=embedder)
        campaign = make_campaign()
        await service.handle(campaign, make_due(campaign, 1), make_due(campaign, 2))

    embedding_requests = [r for r in openrouter.requests if r.path.endswith("/embeddings")]
    # Per email: the memory query, then the draft.
    assert len(embedding_requests) == 4
    assert embedding_requests[1].headers["authorization"] == f"Bearer {openrouter.api_key}"
    rows = await service.rows(db.generated_emails)
    assert {r.embedding_model for r in rows} == {"openrouter/openai/text-embedding-3-small"}
    assert len(rows[0].embedding) == 64  # the fake's dimension, not the offline one's
    calls = await service.rows(db.llm_calls)
    assert sorted(c.kind for c in calls) == ["chat", "chat", *["embedding"] * 4]
    # The event bills everything the email needed, embeddings included.
    events = await service.published()
    usages = [r.usage for r in openrouter.requests if r.usage]
    assert sum(e.payload.cost for e in events) == sum(
        Decimal(str(u["cost"])).quantize(Decimal("1e-10")) for u in usages)
