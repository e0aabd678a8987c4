"""An email under an A/B test is written in its variants, each asked of the model as a
distinct angle and checked against the others with the memory's similarity check."""

from __future__ import annotations

from collections.abc import Callable

from content_generator import db
from content_generator.embeddings import HashingEmbedder
from content_generator.variants import compared_text, cosine
from content_generator.writer import MemoryPolicy
from contracts import AbTest, CampaignCreated, ContentGenerated, EmailDue
from testkit.fake_openrouter import FakeOpenRouter, Reply

MakeCampaign = Callable[..., CampaignCreated]
MakeDue = Callable[..., EmailDue]


def _user_prompt(request) -> str:
    return request.body["messages"][1]["content"]


async def _generated(service) -> list[ContentGenerated]:
    return [e for e in await service.published() if isinstance(e, ContentGenerated)]


async def test_a_tested_email_is_published_with_distinct_subject_variants_and_bills_them(
    service, openrouter: FakeOpenRouter, make_campaign: MakeCampaign, make_due: MakeDue
) -> None:
    test = AbTest(sequences=[2], variants=3)
    campaign = make_campaign(ab_test=test)
    await service.handle(campaign, make_due(campaign, 1), make_due(campaign, 2))

    first, second = await _generated(service)
    assert first.payload.variants == []  # email 1 is not tested
    assert first.payload.ab_test is None
    assert second.payload.ab_test == test
    a, b, c = second.payload.variants
    assert [v.key for v in (a, b, c)] == ["A", "B", "C"]
    assert (a.subject, a.preheader) == (second.payload.subject, second.payload.preheader)
    assert len({a.subject, b.subject, c.subject}) == 3
    assert all(v.body_html == "" for v in (a, b, c))  # a subject test: one body for all

    requests = openrouter.chat_requests()
    assert len(requests) == 4  # email 1; email 2 and its two further variants
    assert "write variant B" in _user_prompt(requests[2])
    assert "write variant C" in _user_prompt(requests[3])
    assert a.subject in _user_prompt(requests[3])
    assert b.subject in _user_prompt(requests[3])
    [row] = [r for r in await service.rows(db.generated_emails) if r.sequence == 2]
    billed = sum(r.usage["cost"] for r in requests[1:])
    assert float(row.cost) == round(billed, 10)


async def test_a_variant_too_close_to_another_is_written_again(
    service, openrouter: FakeOpenRouter, make_campaign: MakeCampaign, make_due: MakeDue
) -> None:
    service = service.using(memory=MemoryPolicy(threshold=0.9))
    campaign = make_campaign(ab_test=AbTest(variants=2))
    original = {"subject": "Forty years of one starter", "preheader": "Our oldest friend",
                "body_html": "<p>Bread.</p>", "body_text": "Bread."}
    # Variant B's first draft repeats A's subject word for word.
    openrouter.script(Reply(original), Reply(original))
    await service.handle(campaign, make_due(campaign, 1))

    [event] = await _generated(service)
    a, b = event.payload.variants
    requests = openrouter.chat_requests()
    assert len(requests) == 3
    assert "came too close to another variant" in _user_prompt(requests[2])
    assert b.subject != a.subject
    embedder = HashingEmbedder()
    vectors = [(await embedder.embed(compared_text(v, event.payload.ab_test))).vector  # type: ignore[arg-type]
               for v in (a, b)]
    assert cosine(*vectors) < 0.9


async def test_a_content_test_carries_a_body_for_every_variant(
    service, openrouter: FakeOpenRouter, make_campaign: MakeCampaign, make_due: MakeDue
) -> None:
    campaign = make_campaign(ab_test=AbTest(kind="content"))
    await service.handle(campaign, make_due(campaign, 1))

    [event] = await _generated(service)
    a, b = event.payload.variants
    assert a.body_html == event.payload.body_html
    assert b.body_html
    assert b.body_html != a.body_html
    assert "whole email again" in _user_prompt(openrouter.chat_requests()[1])
