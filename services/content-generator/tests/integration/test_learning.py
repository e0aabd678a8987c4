"""The learning loop in the content generator: the structure bandit reads the stored engagement
summaries (within each email's reward window) to choose the next email's structure, keeps why
with the email and publishes it; the prompt shows the emails that worked and those that did
not, as the fake OpenRouter receives it."""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import timedelta
from typing import Any

from content_generator import db
from content_generator.domain import first_line
from content_generator.handlers import structure_choice
from content_generator.learning import BanditPolicy, Evidence, choose_structure
from content_generator.preview import preview
from contracts import CampaignCreated, ContentGenerated, EmailDue, EmailPerformance
from contracts.learning import EmailPerformancePayload
from contracts.preview import PreviewRequest
from testkit.fake_openrouter import FakeOpenRouter

MakeCampaign = Callable[..., CampaignCreated]
MakeDue = Callable[..., EmailDue]
FAVOURED = "personal_story"  # email 3's structure in the first round's rotation


def summary(campaign: CampaignCreated, row: Any, *, delivered: int, clicks: int, opens: int,
            after: timedelta = timedelta(hours=2)) -> EmailPerformance:
    """Email `row`'s counts, `after` its send."""
    return EmailPerformance.create(EmailPerformancePayload(
        campaign_id=row.campaign_id, sequence=row.sequence, structure=row.structure,
        delivered=delivered, bounced=0, opens=opens * 2, unique_opens=opens, human_opens=opens,
        unique_human_opens=opens, clicks=clicks, unique_clicks=clicks, human_clicks=clicks,
        unique_human_clicks=clicks, unsubscribes=0, as_of=row.send_at + after,
    ), workspace_id=campaign.workspace_id)


def _block(text: str, name: str) -> str:
    match = re.search(rf"<{name}>\n(.*?)\n</{name}>", text, re.DOTALL)
    assert match is not None, f"no <{name}> block"
    return match.group(1)


async def _first_round_clicked_in_favour_of(
    service: Any, campaign: CampaignCreated, make_due: MakeDue,
) -> list[Evidence]:
    """Emails 1-4 written and engaged with, the favoured structure clicked most; the evidence."""
    await service.handle(campaign, *(make_due(campaign, k) for k in range(1, 5)))
    evidence = []
    for row in await service.rows(db.generated_emails):
        clicks = 90 if row.structure == FAVOURED else 4 + row.sequence
        await service.handle(summary(campaign, row, delivered=1000, clicks=clicks, opens=300))
        evidence.append(Evidence(row.structure, 1000, clicks, 300))
    return evidence


async def test_the_next_structure_is_the_seeded_draw_from_the_posteriors_of_the_clicks(
    service: Any, openrouter: FakeOpenRouter, make_campaign: MakeCampaign, make_due: MakeDue,
) -> None:
    campaign = make_campaign()
    evidence = await _first_round_clicked_in_favour_of(service, campaign, make_due)
    await service.handle(make_due(campaign, 5))

    rows = await service.rows(db.generated_emails)
    assert [r.structure_choice["rule"] for r in rows[:4]] == ["rotation"] * 4
    expected = choose_structure(campaign.payload.campaign_id, 5, evidence, [], BanditPolicy())
    fifth = rows[4]
    assert fifth.structure == expected.arm
    assert fifth.structure_choice == structure_choice(expected).model_dump(mode="json")
    assert fifth.send_at == make_due(campaign, 5).payload.send_at
    arms = {a["arm"]: a for a in fifth.structure_choice["arms"]}
    # Beta(1, 1) plus 90 clicks and a tenth of the 210 people who only opened.
    assert arms[FAVOURED]["alpha"] == 1 + 90 + 21
    assert arms[FAVOURED]["mean"] > max(a["mean"] for n, a in arms.items() if n != FAVOURED)

    [published] = [e for e in await service.published()
                   if isinstance(e, ContentGenerated) and e.payload.sequence == 5]
    assert published.payload.structure == expected.arm
    assert published.payload.structure_choice == structure_choice(expected)


async def test_the_prompt_shows_what_resonated_and_what_did_not_apart_from_the_memory(
    service: Any, openrouter: FakeOpenRouter, make_campaign: MakeCampaign, make_due: MakeDue,
) -> None:
    campaign = make_campaign()
    await _first_round_clicked_in_favour_of(service, campaign, make_due)
    await service.handle(make_due(campaign, 5))

    rows = await service.rows(db.generated_emails)
    prompt = openrouter.chat_requests()[4].body["messages"][1]["content"]
    resonated = _block(prompt, "resonated_emails")
    weak = _block(prompt, "weak_emails")
    # Best first: email 3 (9.0%), then email 4 (0.8%); weakest first: email 1, then email 2.
    assert resonated.splitlines() == [
        f'Email 3 (9.0% of 1000 readers clicked): subject "{rows[2].subject}"; opens with '
        f'"{first_line(rows[2].body_text)}"',
        f'Email 4 (0.8% of 1000 readers clicked): subject "{rows[3].subject}"; opens with '
        f'"{first_line(rows[3].body_text)}"',
    ]
    assert [line.split(" (")[0] for line in weak.splitlines()] == ["Email 1", "Email 2"]
    assert "0.5% of 1000 readers clicked" in weak
    # The no-repeat memory still lists them all, in its own block.
    previous = _block(prompt, "previous_emails")
    assert all(r.subject in previous for r in rows[:4])
    assert "<resonated_emails>" not in openrouter.chat_requests()[0].body["messages"][1]["content"]


async def test_emails_delivered_to_too_few_people_are_not_shown_as_examples(
    service: Any, openrouter: FakeOpenRouter, make_campaign: MakeCampaign, make_due: MakeDue,
) -> None:
    campaign = make_campaign()
    await service.handle(campaign, make_due(campaign, 1), make_due(campaign, 2))
    for row in await service.rows(db.generated_emails):
        await service.handle(summary(campaign, row, delivered=49, clicks=10 * row.sequence,
                                     opens=20))
    await service.handle(make_due(campaign, 3))

    prompt = openrouter.chat_requests()[2].body["messages"][1]["content"]
    assert "<resonated_emails>" not in prompt
    assert "<weak_emails>" not in prompt


async def test_engagement_after_an_emails_reward_window_does_not_count(
    service: Any, make_campaign: MakeCampaign, make_due: MakeDue,
) -> None:
    campaign = make_campaign()
    window = BanditPolicy().reward_window
    await service.handle(campaign, make_due(campaign, 1))
    [row] = await service.rows(db.generated_emails)
    inside = summary(campaign, row, delivered=500, clicks=20, opens=100, after=window)
    late = summary(campaign, row, delivered=500, clicks=60, opens=150,
                   after=window + timedelta(minutes=1))
    assert await service.handle(inside, late) == ["handled", "handled"]

    [stored] = await service.rows(db.email_performance)
    assert (stored.unique_human_clicks, stored.as_of) == (20, row.send_at + window)


async def test_a_new_campaign_starts_from_what_the_workspace_learnt(
    service: Any, make_campaign: MakeCampaign, make_due: MakeDue,
) -> None:
    earlier = make_campaign()
    await _first_round_clicked_in_favour_of(service, earlier, make_due)
    later = CampaignCreated.create(make_campaign().payload, workspace_id=earlier.workspace_id)
    stranger = make_campaign()  # another workspace: learns nothing from `earlier`
    await service.handle(later, make_due(later, 1), stranger, make_due(stranger, 1))

    choices = {r.campaign_id: r.structure_choice for r in await service.rows(db.generated_emails)
               if r.sequence == 1}
    learnt = choices[later.payload.campaign_id]
    assert learnt["rule"] in ("thompson", "exploration")  # no rotation: the workspace knows
    arms = {a["arm"]: a for a in learnt["arms"]}
    assert arms[FAVOURED]["alpha"] > max(a["alpha"] for n, a in arms.items() if n != FAVOURED)
    fresh = choices[stranger.payload.campaign_id]
    assert fresh["rule"] == "rotation"
    assert {(a["alpha"], a["beta"]) for a in fresh["arms"]} == {(1.0, 1.0)}


async def test_a_preview_gets_the_structure_the_email_then_gets(
    service: Any, make_campaign: MakeCampaign, make_due: MakeDue,
) -> None:
    campaign = make_campaign()
    await _first_round_clicked_in_favour_of(service, campaign, make_due)
    request = PreviewRequest(workspace_id=campaign.workspace_id,
                             campaign_id=campaign.payload.campaign_id)
    reply = await preview(service.engine, request, service.ports)
    await service.handle(make_due(campaign, 5))

    assert reply.draft is not None
    fifth = (await service.rows(db.generated_emails))[4]
    assert (reply.draft.sequence, reply.draft.structure) == (5, fifth.structure)
