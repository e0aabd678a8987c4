"""A welcome journey on the whole system, through the API: email 1, a wait of 2 minutes, then
"clicked email 1 within 30 seconds?" to email 2a or email 2b, and the exit. Three contacts
enter at different moments through POST /api/events: Ann clicks email 1 through its real
tracking link (a browser's user agent) before her wait is up, Cy only once hers is and she has
reached the branch, Bob never. Each receives email 1 on entering and exactly one email 2, the
right one, at the journey's time after their own entry: Ann's 2 minutes after her email 1,
Cy's when she clicked, within the branch's 30 seconds, Bob's once those 30 seconds are up."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import timedelta
from email.message import EmailMessage
from typing import Any

import httpx
import pytest

from devstack.stack import Stack
from testkit.engagement import BROWSER
from testkit.engagement_live import tracked
from testkit.fake_openrouter import FakeOpenRouter
from testkit.system import api_client, maildir_messages, query, running_system, wait_for

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

ANN, BOB, CY = "ann@welcome.example", "bob@welcome.example", "cy@welcome.example"
WAIT = timedelta(minutes=2)
WITHIN = timedelta(seconds=30)
STEP = timedelta(seconds=1)
GRAPH: dict[str, Any] = {
    "trigger": {"type": "event_received", "name": "signed_up"},
    "start": "email-1",
    "steps": [
        {"type": "email", "id": "email-1", "goal": "Welcome them to the tulip club",
         "subject_hint": "Welcome", "next": "wait-1"},
        {"type": "wait", "id": "wait-1", "until": {"kind": "duration",
                                                   "seconds": int(WAIT.total_seconds())},
         "next": "clicked-1"},
        {"type": "branch", "id": "clicked-1",
         "condition": {"kind": "clicked", "step": "email-1",
                       "within_seconds": int(WITHIN.total_seconds())},
         "then": "email-2a", "else": "email-2b"},
        {"type": "email", "id": "email-2a", "goal": "Thank them for looking: book a visit",
         "next": "done"},
        {"type": "email", "id": "email-2b", "goal": "Tell them what the club brings",
         "next": "done"},
        {"type": "exit", "id": "done"},
    ],
}


@pytest.fixture(scope="module")
def stack(fake_llm: FakeOpenRouter) -> Iterator[Stack]:
    with running_system("cb-e2e-", fake_llm) as running:
        yield running


def _messages(stack: Stack, person: str) -> list[EmailMessage]:
    assert stack.maildir is not None
    return [m for m in maildir_messages(stack.maildir) if str(m["To"]) == person]


def _deliveries(stack: Stack, campaign_id: uuid.UUID) -> dict[tuple[str, int], dict[str, Any]]:
    rows = query(stack, "mailer", "SELECT email, sequence, state, due_at, message_id "
                 "FROM deliveries WHERE campaign_id = $1", campaign_id)
    return {(r["email"], r["sequence"]): r for r in rows}


def _sent(stack: Stack, campaign_id: uuid.UUID, person: str, sequence: int,
          timeout: float) -> dict[str, Any]:
    return wait_for(f"{person}'s email {sequence} sent", lambda: (
        row if (row := _deliveries(stack, campaign_id).get((person, sequence)))
        and row["state"] == "sent" else None), timeout=timeout)


def _enter(api: httpx.Client, person: str) -> None:
    response = api.post("/api/events", json={"contact": person, "name": "signed_up",
                                             "properties": {"source": "website"}})
    assert response.status_code == 202, response.text


def _click_first_link(message: EmailMessage) -> None:
    links = tracked(message)
    assert links is not None
    assert links.links, "email 1 has no tracked link"
    with httpx.Client(timeout=10, follow_redirects=False) as http:
        response = http.get(links.links[0], headers={"user-agent": BROWSER})
    assert response.status_code == 302


def _step_of(stack: Stack, campaign_id: uuid.UUID, person: str) -> str | None:
    rows = query(stack, "scheduler", "SELECT step_id FROM enrollments "
                 "WHERE campaign_id = $1 AND email = $2", campaign_id, person)
    return rows[0]["step_id"] if rows else None


def test_each_contact_gets_the_welcome_journeys_right_emails_at_their_own_times(
    stack: Stack,
) -> None:
    with api_client(stack) as api:
        created = api.post("/api/campaigns/", json={
            "name": "Tulip welcome", "description": "Welcome new members of the tulip club",
            "kind": "journey", "ai_agent_id": "openai/gpt-4o-mini", "timezone": "UTC",
            "journey": GRAPH})
        assert created.status_code == 201, created.text
        journey = created.json()
        campaign_id = uuid.UUID(journey["id"])
        numbers = {s["id"]: s["sequence"] for s in journey["journey"]["steps"]
                   if s["type"] == "email"}
        one, two_a, two_b = numbers["email-1"], numbers["email-2a"], numbers["email-2b"]

        # Every step's email is written ahead of the first contact, once.
        wait_for("the journey's three emails written", lambda: len(query(
            stack, "mailer", "SELECT 1 FROM contents WHERE campaign_id = $1",
            campaign_id)) == 3, timeout=90)

        _enter(api, ANN)
        ann_1 = _sent(stack, campaign_id, ANN, one, timeout=60)
        [ann_message] = wait_for("Ann's email 1 at the sink",
                                 lambda: _messages(stack, ANN), timeout=30)
        _click_first_link(ann_message)  # well within her 2 minutes
        _enter(api, BOB)
        bob_1 = _sent(stack, campaign_id, BOB, one, timeout=60)
        _enter(api, CY)
        cy_1 = _sent(stack, campaign_id, CY, one, timeout=60)
        [cy_message] = wait_for("Cy's email 1 at the sink",
                                lambda: _messages(stack, CY), timeout=30)
        assert ann_1["due_at"] < bob_1["due_at"] < cy_1["due_at"]

        # Cy clicks only once she waits at the branch, inside its 30 seconds.
        wait_for("Cy at the branch", lambda: _step_of(stack, campaign_id, CY) == "clicked-1",
                 timeout=WAIT.total_seconds() + 60)
        _click_first_link(cy_message)

        ann_2 = _sent(stack, campaign_id, ANN, two_a, timeout=WAIT.total_seconds() + 60)
        cy_2 = _sent(stack, campaign_id, CY, two_a, timeout=WITHIN.total_seconds() + 60)
        bob_2 = _sent(stack, campaign_id, BOB, two_b,
                      timeout=(WAIT + WITHIN).total_seconds() + 60)
        wait_for("every journey's message at the sink", lambda: all(
            len(_messages(stack, p)) == 2 for p in (ANN, BOB, CY)), timeout=30)

        # Ann reached the branch having clicked: at once. Bob never did: at its deadline. Cy
        # when her click arrived, after her wait and before the deadline. (The scheduler takes
        # the clock once per step it walks: email 1's time and the wait's start may differ by
        # the moment between them, never by a poll interval.)
        def after(first: dict[str, Any], second: dict[str, Any]) -> timedelta:
            return second["due_at"] - first["due_at"]

        assert WAIT <= after(ann_1, ann_2) < WAIT + STEP
        assert WAIT + WITHIN <= after(bob_1, bob_2) < WAIT + WITHIN + STEP
        assert WAIT < after(cy_1, cy_2) < WAIT + WITHIN

        deliveries = _deliveries(stack, campaign_id)
        report = api.get(f"/api/campaigns/{campaign_id}/report").json()

    assert set(deliveries) == {(ANN, one), (ANN, two_a), (BOB, one), (BOB, two_b),
                               (CY, one), (CY, two_a)}
    for person, second in ((ANN, two_a), (BOB, two_b), (CY, two_a)):
        messages = _messages(stack, person)
        assert len(messages) == 2, f"{person} received {len(messages)} messages"
        ids = {str(m["Message-ID"]) for m in messages}
        assert ids == {deliveries[(person, one)]["message_id"],
                       deliveries[(person, second)]["message_id"]}
        assert all(_tracked_sequence(m) in (one, second) for m in messages)
    ends = query(stack, "scheduler", "SELECT email, state FROM enrollments "
                 "WHERE campaign_id = $1", campaign_id)
    assert {r["email"]: r["state"] for r in ends} == dict.fromkeys((ANN, BOB, CY), "done")
    # campaign-api's report counts the steps' emails as any campaign's, by content number.
    emails = {e["sequence"]: e for e in report["emails"]}
    assert {k: emails[k]["sent"] for k in (one, two_a, two_b)} == {one: 3, two_a: 2, two_b: 1}
    assert emails[one]["unique_human_clicks"] == 2


def _tracked_sequence(message: EmailMessage) -> int:
    links = tracked(message)
    assert links is not None
    return links.sequence

