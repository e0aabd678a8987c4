from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict
from datetime import UTC, datetime, timedelta

from content_generator.domain import CampaignBrief, structure_for
from content_generator.output import validate_email
from content_generator.prompts import build_prompt
from content_generator.providers import Completion, EmailRequest, OfflineProvider

START = datetime(2026, 3, 2, 8, 0, tzinfo=UTC)


async def _write(brief: CampaignBrief, sequence: int, total: int | None = 12) -> Completion:
    send_at = START + timedelta(days=3 * sequence)
    structure = structure_for(sequence)
    prompt = build_prompt(brief, sequence=sequence, total=total, send_at=send_at,
                          structure=structure)
    request = EmailRequest(brief, sequence, total, send_at, structure, prompt)
    return await OfflineProvider().write(request)


async def test_twelve_emails_of_a_campaign_are_all_different(
    make_brief: Callable[..., CampaignBrief],
) -> None:
    brief = make_brief()
    emails = [(await _write(brief, k)).email for k in range(1, 13)]

    assert len({e.subject for e in emails}) == 12
    assert len({e.preheader for e in emails}) == 12
    openings = {e.body_text.split("\n\n")[1] for e in emails}  # after the greeting
    assert len(openings) == 12
    calls_to_action = {e.body_html.split("<strong>")[1].split("</strong>")[0] for e in emails}
    assert len(calls_to_action) == 12


async def test_later_rounds_are_told_apart_from_the_first(
    make_brief: Callable[..., CampaignBrief],
) -> None:
    brief = make_brief()
    subjects = [(await _write(brief, k, total=30)).email.subject for k in range(1, 31)]
    assert len(set(subjects)) == 30


async def test_offline_emails_say_so_and_cost_nothing(
    make_brief: Callable[..., CampaignBrief],
) -> None:
    completion = await _write(make_brief(), 5)

    assert completion.provider == "offline"
    assert completion.model == "offline/template"
    assert completion.usage.prompt_tokens == completion.usage.completion_tokens == 0
    assert completion.usage.cost == 0
    assert [c.status for c in completion.calls] == ["ok"]
    assert "Offline draft 5 of 12 (educational)" in completion.email.body_text
    assert "not by a language model" in completion.email.body_html


async def test_the_brief_shapes_the_email(make_brief: Callable[..., CampaignBrief]) -> None:
    brief = make_brief(name="Lyon Sourdough Club")
    email = (await _write(brief, 2)).email

    assert "Lyon Sourdough Club" in email.subject
    assert "Hi {{first_name}}," in email.body_text
    sentences = brief.description.split(". ")
    assert sum(s.rstrip(".") in email.body_text for s in sentences) >= 2


async def test_markup_in_the_brief_is_escaped_not_rendered(
    make_brief: Callable[..., CampaignBrief],
) -> None:
    brief = make_brief(name="Club <b>", description='<script>alert(1)</script> Great bread. '
                       '<a href="javascript:x()">Click</a> for more.')
    for k in range(1, 5):
        email = (await _write(brief, k)).email
        assert "&lt;script&gt;alert(1)&lt;/script&gt;" in email.body_html
        assert "<script" not in email.body_html
        assert "<a " not in email.body_html
        assert "<b>" not in email.body_html
        assert validate_email(asdict(email)) == email


async def test_an_empty_description_still_gives_a_readable_email(
    make_brief: Callable[..., CampaignBrief],
) -> None:
    for k in range(1, 5):
        email = (await _write(make_brief(description=""), k, total=None)).email
        assert "Lyon Sourdough Club is what this campaign is about." in email.body_text
        assert "Offline draft" in email.body_text


async def test_a_long_campaign_name_still_gives_valid_subjects(
    make_brief: Callable[..., CampaignBrief],
) -> None:
    brief = make_brief(name=" ".join(["Sourdough"] * 20))  # 199 characters
    for k in range(1, 13):
        subject = (await _write(brief, k)).email.subject
        assert len(subject) <= 150
        assert "Sourdough Sourdough" in subject
