"""A journey's email steps are written once each, on their email.due, from the journey's brief
and the step's own goal and subject hint: real database, fake OpenRouter over HTTP, the
request it receives read back."""

from __future__ import annotations

import re
from collections.abc import Callable

from content_generator import db
from contracts import CampaignCreated, CampaignUpdated, ContentGenerated, EmailDue
from contracts.journeys import JourneyGraph
from testkit.fake_openrouter import FakeOpenRouter, RecordedRequest

MakeJourney = Callable[..., CampaignCreated]
MakeGraph = Callable[..., JourneyGraph]
MakeDue = Callable[..., EmailDue]


def _user(request: RecordedRequest) -> str:
    return str(request.body["messages"][1]["content"])


def _step(prompt: str) -> str:
    match = re.search(r"<journey_step>\n(.*?)\n</journey_step>", prompt, re.DOTALL)
    assert match is not None, "no <journey_step> block"
    return match.group(1)


async def test_a_steps_email_is_written_from_the_journeys_brief_and_the_steps_goal(
    service, openrouter: FakeOpenRouter, make_journey: MakeJourney, make_due: MakeDue
) -> None:
    journey = make_journey()
    cid = journey.payload.campaign_id
    # As the scheduler asks, once per step ahead of any contact: now, with no total.
    await service.handle(journey, make_due(journey, 3, total=None))

    [request] = openrouter.chat_requests()
    prompt = _user(request)
    assert "Lyon Sourdough Club" in prompt
    assert "Goal: Remind them what membership brings" in _step(prompt)
    assert "Subject hint: Still thinking it over?" in _step(prompt)
    assert "they did not: clicked email 1 within 1 day" in _step(prompt)
    assert "follow-up in the journey" in prompt
    assert "<journey_step>" in request.body["messages"][0]["content"]
    [event] = await service.published()
    assert isinstance(event, ContentGenerated)
    assert (event.payload.campaign_id, event.payload.sequence) == (cid, 3)
    [row] = await service.rows(db.generated_emails)
    assert (row.sequence, row.prompt_version) == (3, "v4")


async def test_later_steps_recall_the_journeys_earlier_emails_not_to_repeat_them(
    service, openrouter: FakeOpenRouter, make_journey: MakeJourney, make_due: MakeDue
) -> None:
    journey = make_journey()
    await service.handle(journey, make_due(journey, 1, total=None),
                         make_due(journey, 2, total=None))

    first, second = openrouter.chat_requests()
    [welcome, _] = await service.rows(db.generated_emails)
    assert "journey's first email" in _user(first)
    assert "<previous_emails>" not in _user(first)
    assert f'Email 1: subject "{welcome.subject}"' in _user(second)
    assert "Invite those who looked to book a tasting" in _step(_user(second))


async def test_a_step_of_an_earlier_version_is_still_written_from_its_own_goal(
    service, openrouter: FakeOpenRouter, make_journey: MakeJourney, make_graph: MakeGraph,
    make_due: MakeDue,
) -> None:
    journey = make_journey()
    # The second version rewrites the nudge: a new step number, 4; number 3 is the old one's.
    graph = make_graph(nudge={"goal": "Offer a free first loaf", "sequence": 4})
    update = CampaignUpdated.create(
        journey.payload.model_copy(update={"journey": graph.model_copy(update={"version": 2})}),
        workspace_id=journey.workspace_id)
    await service.handle(journey, update, make_due(journey, 3, total=None),
                         make_due(journey, 4, total=None))

    old, new = openrouter.chat_requests()
    assert "Goal: Remind them what membership brings" in _step(_user(old))
    assert "Goal: Offer a free first loaf" in _step(_user(new))
    assert [e.payload.sequence for e in await service.published()] == [3, 4]
