"""The engagement simulator against the whole system: it reads what the SMTP sink received,
fetches each message's real pixel, links and trap link as a person, an image proxy or a link
scanner would, and campaign-api counts a person's engagement apart from the machines'."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from devstack.stack import Stack
from testkit.engagement import Contact
from testkit.engagement_live import report_structures, simulate
from testkit.fake_openrouter import FakeOpenRouter, Reply
from testkit.system import api_client, maildir_messages, running_system, wait_for

pytestmark = pytest.mark.e2e

GENERATED = {
    "subject": "Two new routes",
    "preheader": "Out this week",
    "body_html": ('<p>Hello {{first_name}},</p><p><a href="https://shop.example/north">North'
                  '</a> or <a href="https://shop.example/south">south</a>?</p>'),
    "body_text": "Hello {{first_name}}, north or south?",
}
EVERY = {s: 1.0 for s in ("educational", "promotional", "personal_story",
                          "professional_direct")}


@pytest.fixture(scope="module")
def stack(fake_llm: FakeOpenRouter) -> Iterator[Stack]:
    with running_system("cb-e2e-sim-", fake_llm) as running:
        yield running


def people() -> dict[str, Contact]:
    found = {}
    for machine, count in ((None, 6), ("apple_proxy", 3), ("scanner", 3)):
        for n in range(count):
            address = f"{machine or 'person'}-{n}@example.com"
            found[address] = Contact(address, EVERY, open_rate=1.0, best_hour=n * 4,
                                     machine=machine)  # type: ignore[arg-type]
    return found


def test_the_simulators_people_are_counted_apart_from_its_machines(
        stack: Stack, fake_llm: FakeOpenRouter) -> None:
    fake_llm.script(Reply(GENERATED))
    contacts = people()
    with api_client(stack) as api:
        created = api.post("/api/campaigns/", json={
            "name": "Simulated readers", "description": "Read by the simulator",
            "schedule_type": "weekly", "weekly_emails": 1, "weekly_days": [1],
            "total_months": 1, "ai_agent_id": "openai/gpt-4",
            "recipient_emails": list(contacts)})
        assert created.status_code == 201, created.text
        campaign_id = created.json()["id"]
        assert stack.maildir is not None
        maildir = stack.maildir
        wait_for("a message to each contact",
                 lambda: len(maildir_messages(maildir)) >= len(contacts))

        def report() -> dict[str, Any]:
            response = api.get(f"/api/campaigns/{campaign_id}/report")
            assert response.status_code == 200, response.text
            body: dict[str, Any] = response.json()
            return body

        wait_for("every delivery in the report",
                 lambda: report()["emails"] and report()["emails"][0]["sent"] == len(contacts))
        fetched = simulate(maildir_messages(maildir), contacts, report_structures(api), seed=4)

        def by(kind: str, *, human: bool, machine: object = "any") -> set[str]:
            return {f.message.recipient for f in fetched
                    if f.event.kind == kind and f.event.human == human
                    and (machine == "any" or contacts[f.message.recipient].machine == machine)}

        # A person's open in a browser is a person's; Apple's proxy's is a machine's, and the
        # person behind it is never seen opening. A person's click right after their scanner
        # followed the trap link is taken for the scanner's (the simulator does not wait).
        assert by("open", human=False) == {a for a, c in contacts.items()
                                           if c.machine == "apple_proxy"}
        human_opens = len(by("open", human=True))
        human_clicks = len(by("click", human=True) - by("trap", human=False))
        assert human_opens
        assert human_clicks
        expected = {"unique_opens": human_opens + 3, "unique_human_opens": human_opens,
                    "unique_clicks": len(by("click", human=True) | by("click", human=False)),
                    "unique_human_clicks": human_clicks}
        wait_for("the engagement counted", lambda: {
            k: report()["emails"][0][k] for k in expected} == expected, timeout=20)
        scanned = len(by("click", human=False))
        assert scanned == 3
        assert report()["emails"][0]["clicks"] >= 3 * 2 + human_clicks
