"""An A/B test on the whole system: email 1 of a campaign is written in two subject variants,
each sent to its slice of the recipients while the rest are held; people click variant B's
messages through their real tracking links with a browser's user agent; after the (short)
window campaign-api decides B the winner, and is SIGKILLed the moment the decision commits,
before or while its outbox publishes it; started again, it publishes it once, and the mailer
sends B to everyone held. Counted at the sink: every recipient exactly one message, of their
variant."""

from __future__ import annotations

import time
import uuid
from collections import Counter
from collections.abc import Iterator
from email.message import EmailMessage
from typing import Any

import httpx
import pytest

from devstack.stack import Stack
from testkit.engagement import BROWSER
from testkit.engagement_live import tracked
from testkit.fake_openrouter import FakeOpenRouter
from testkit.system import api_client, maildir_messages, query, running_system, wait_for

pytestmark = pytest.mark.e2e

PEOPLE = [f"tester{n:02d}@ab.example" for n in range(60)]
WINDOW_MINUTES = 1.0


@pytest.fixture(scope="module")
def stack(fake_llm: FakeOpenRouter) -> Iterator[Stack]:
    with running_system("cb-e2e-", fake_llm, extra_env={
        # Tests whose window is over are looked for five times a second.
        "CAMPAIGN_API_AB_TEST_POLL_SECONDS": "0.2",
    }) as running:
        yield running


def _ours(stack: Stack) -> list[EmailMessage]:
    assert stack.maildir is not None
    return [m for m in maildir_messages(stack.maildir) if str(m["To"]) in PEOPLE]


def _deliveries(stack: Stack, campaign_id: uuid.UUID) -> list[dict[str, Any]]:
    return query(stack, "mailer", "SELECT email, state, variant FROM deliveries "
                 "WHERE campaign_id = $1", campaign_id)


def test_variants_go_to_slices_and_the_winner_to_the_rest_once_through_a_crash(
    stack: Stack,
) -> None:
    with api_client(stack) as api:
        created = api.post("/api/campaigns/", json={
            "name": "Tulip test", "description": "Our tulips, and why they last",
            "schedule_type": "daily", "total_emails": 2, "timezone": "UTC",
            "ai_agent_id": "openai/gpt-4o-mini", "recipient_emails": PEOPLE,
            "ab_test": {"sequences": [1], "variants": 2, "kind": "subject",
                        "metric": "clicks", "slice_percent": 20,
                        "window_minutes": WINDOW_MINUTES}})
        assert created.status_code == 201, created.text
        campaign_id = uuid.UUID(created.json()["id"])

        # Each variant to its slice; the rest held, sent nothing.
        rows = wait_for("every recipient's delivery", lambda: (
            found if len(found := _deliveries(stack, campaign_id)) == len(PEOPLE) else None),
            timeout=60)
        slice_of = {r["email"]: r["variant"] for r in rows if r["state"] != "held"}
        held = {r["email"] for r in rows if r["state"] == "held"}
        assert set(slice_of.values()) == {"A", "B"}
        assert held
        assert {r["variant"] for r in rows if r["state"] == "held"} == {None}
        tested = wait_for("the slices' messages", lambda: (
            found if len(found := _ours(stack)) == len(slice_of) else None), timeout=60)
        [test] = api.get(f"/api/campaigns/{campaign_id}/ab-tests").json()
        subjects = {v["key"]: v["subject"] for v in test["variants"]}
        assert subjects["A"] != subjects["B"]
        assert {str(m["To"]): str(m["Subject"]) for m in tested} == {
            person: subjects[variant] for person, variant in slice_of.items()}

        # People click variant B's link, as a browser does; nobody clicks A's.
        clicked = 0
        with httpx.Client(timeout=10, follow_redirects=False) as http:
            for message in tested:
                if str(message["Subject"]) != subjects["B"]:
                    continue
                links = tracked(message)
                assert links is not None
                assert links.links
                response = http.get(links.links[0], headers={"user-agent": BROWSER})
                assert response.status_code == 302
                clicked += 1
        [test] = api.get(f"/api/campaigns/{campaign_id}/ab-tests").json()
        assert test["status"] == "testing"
        assert [v["unique_human_clicks"] for v in test["variants"]] == [0, clicked]

        # The decider's decision commits after the window: the process dies at once.
        def decided() -> dict[str, Any] | None:
            found = query(stack, "campaign_api", "SELECT winner FROM ab_tests WHERE "
                          "campaign_id = $1 AND winner IS NOT NULL", campaign_id)
            return found[0] if found else None

        decision = wait_for("the winner decided", decided, timeout=WINDOW_MINUTES * 60 + 60)
        stack.kill_service("campaign_api")
        assert decision["winner"] == "B"
        time.sleep(1)  # nothing may go out while the deciding process is down but the queue
        stack.restart_service("campaign_api")

        everyone = wait_for("the winner sent to everyone held", lambda: (
            found if len(found := _ours(stack)) >= len(PEOPLE) else None), timeout=60)
        time.sleep(2)  # a second copy of anything would arrive by now
        everyone = _ours(stack)
        report = api.get(f"/api/campaigns/{campaign_id}/report").json()

    recipients = Counter(str(m["To"]) for m in everyone)
    assert set(recipients) == set(PEOPLE)
    assert set(recipients.values()) == {1}, "a recipient received two messages"
    got = {str(m["To"]): str(m["Subject"]) for m in everyone}
    assert {p: got[p] for p in held} == dict.fromkeys(held, subjects["B"])
    assert {p: got[p] for p in slice_of} == {p: subjects[v] for p, v in slice_of.items()}
    published = query(stack, "campaign_api", "SELECT count(*) AS n FROM outbox WHERE "
                      "subject = 'ab_test.decided'")
    assert published[0]["n"] == 1
    assert {r["state"] for r in _deliveries(stack, campaign_id)} == {"sent"}
    [test] = report["ab_tests"]
    assert (test["status"], test["winner"]) == ("decided", "B")
    assert test["rule"] in ("probability", "best_rate")
    a, b = test["variants"]
    assert a["delivered"] == sum(1 for v in slice_of.values() if v == "A")
    assert b["delivered"] == sum(1 for v in slice_of.values() if v == "B") + len(held)
    assert b["unique_human_clicks"] == clicked
