"""The whole system the way `make up` runs it: four service processes, real NATS, real
PostgreSQL, the SMTP sink, and the fake OpenRouter standing in for the LLM."""

from __future__ import annotations

import asyncio
import re
import time
from collections.abc import Iterator
from typing import Any

import asyncpg
import httpx
import pytest

from devstack.stack import Stack
from servicekit.settings import asyncpg_dsn
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
    # Summaries of an email's counts every second rather than every minute.
    with running_system("cb-e2e-", fake_llm,
                        extra_env={"CAMPAIGN_API_SUMMARY_INTERVAL_SECONDS": "1"}) as running:
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


SAFARI = ("Mozilla/5.0 (iPhone; CPU iPhone OS 17_4 like Mac OS X) AppleWebKit/605.1.15 "
          "(KHTML, like Gecko) Version/17.4 Mobile/15E148 Safari/604.1")


def _performance(stack: Stack, campaign_id: str) -> dict[str, Any] | None:
    """The content generator's stored summary of the campaign's email 1."""
    async def read() -> dict[str, Any] | None:
        conn = await asyncpg.connect(asyncpg_dsn(stack.database_url("content_generator")))
        try:
            row = await conn.fetchrow("SELECT * FROM email_performance WHERE campaign_id = "
                                      "$1::uuid AND sequence = 1", campaign_id)
            return None if row is None else dict(row)
        finally:
            await conn.close()

    return asyncio.run(read())


def test_an_emails_counts_reach_the_content_generator_after_it_is_read(
        stack: Stack, fake_llm: FakeOpenRouter) -> None:
    fake_llm.script(Reply(GENERATED))
    readers = ["reader.one@example.com", "reader.two@example.org"]
    with api_client(stack) as api:
        created = api.post("/api/campaigns/", json={
            "name": "Counted", "description": "Emails whose counts reach the learners",
            "schedule_type": "weekly", "weekly_emails": 1, "weekly_days": [1],
            "total_months": 1, "ai_agent_id": "openai/gpt-4", "recipient_emails": readers})
        assert created.status_code == 201, created.text
        campaign_id = created.json()["id"]
    assert stack.maildir is not None
    maildir = stack.maildir

    def received() -> list[Any] | None:
        found = [m for m in maildir_messages(maildir) if str(m["To"]) in readers]
        return found if len(found) == len(readers) else None

    delivered = wait_for("a message to each reader", received)
    wait_for("both deliveries summarised", lambda: (
        (_performance(stack, campaign_id) or {}).get("delivered") == 2))

    # One reader opens the message in a browser, through its real tracking pixel.
    html = next(m for m in delivered if str(m["To"]) == readers[0]).get_body(
        preferencelist=("html",))
    assert html is not None
    [pixel] = re.findall(r'src="([^"]*/o/[^"]+\.gif)"', html.get_content())
    assert httpx.get(pixel, headers={"user-agent": SAFARI}).status_code == 200

    summary = wait_for("the open summarised", lambda: (
        found if (found := _performance(stack, campaign_id)) and found["opens"] == 1
        else None))
    assert {k: summary[k] for k in ("delivered", "opens", "unique_opens", "human_opens",
                                    "unique_human_opens", "clicks", "unsubscribes")} == {
        "delivered": 2, "opens": 1, "unique_opens": 1, "human_opens": 1,
        "unique_human_opens": 1, "clicks": 0, "unsubscribes": 0}
