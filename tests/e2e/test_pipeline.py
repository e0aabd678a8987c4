"""The whole system the way `make up` runs it: four service processes, real NATS, real
PostgreSQL, the SMTP sink, and the fake OpenRouter standing in for the LLM."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import pytest

from devstack.stack import Stack
from testkit.fake_openrouter import FakeOpenRouter, Reply
from testkit.system import api_client, maildir_messages, running_system, wait_for

pytestmark = pytest.mark.e2e

RECIPIENTS = ["ada@example.com", "grace@example.org", "linus@example.net"]
GENERATED = {
    "subject": "Three features you asked for",
    "preheader": "Shipping this week",
    "body_html": "<p>Hello {{first_name}},</p><p>Here is what shipped this week.</p>",
    "body_text": "Hello {{first_name}},\n\nHere is what shipped this week.",
}


@pytest.fixture(scope="module")
def stack(fake_llm: FakeOpenRouter) -> Iterator[Stack]:
    with running_system("cb-e2e-", fake_llm) as running:
        yield running


def test_a_campaign_reaches_every_inbox_once(stack: Stack, fake_llm: FakeOpenRouter) -> None:
    fake_llm.script(Reply(GENERATED))
    payload = {
        "name": "Product Launch Series",
        "description": "Weekly emails about our new product features",
        "schedule_type": "weekly", "weekly_emails": 2, "weekly_days": [1, 3, 5],
        "total_months": 3, "ai_agent_id": "openai/gpt-4",
        "recipient_emails": RECIPIENTS,
    }
    with api_client(stack) as api:
        created = api.post("/api/campaigns/", json=payload)
        assert created.status_code == 201, created.text
        campaign_id = created.json()["id"]

        assert stack.maildir is not None
        maildir = stack.maildir
        wait_for("a message per recipient",
                 lambda: len(maildir_messages(maildir)) >= len(RECIPIENTS))
        time.sleep(1)  # anything sent twice would arrive now
        messages = maildir_messages(maildir)
        assert sorted(str(m["To"]) for m in messages) == sorted(RECIPIENTS)
        for message in messages:
            assert message["Subject"] == GENERATED["subject"]
            text = message.get_body(preferencelist=("plain",))
            html = message.get_body(preferencelist=("html",))
            assert text is not None
            assert html is not None
            assert "Here is what shipped this week." in text.get_content()
            assert "Here is what shipped this week." in html.get_content()

        # The model the campaign named is the one that was asked.
        asked = {r.body["model"] for r in fake_llm.chat_requests() if r.body}
        assert asked == {"openai/gpt-4"}

        def detail() -> dict[str, Any]:
            response = api.get(f"/api/campaigns/{campaign_id}/")
            assert response.status_code == 200
            body: dict[str, Any] = response.json()
            return body

        wait_for("3 deliveries in the detail",
                 lambda: detail()["progress"]["deliveries_sent"] == len(RECIPIENTS), timeout=20)
        progress = detail()["progress"]
        assert progress["deliveries_sent"] == len(RECIPIENTS)
        assert progress["emails_generated"] == 1
        assert detail()["emails"][0]["subject"] == GENERATED["subject"]
