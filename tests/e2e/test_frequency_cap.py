"""The workspace's frequency cap on the whole system: with a cap of one email a day, two
campaigns due to one contact in the same minute send one message; the other delivery waits for
the next day, and the mailer records why."""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest

from devstack.stack import Stack
from testkit.fake_openrouter import FakeOpenRouter, Reply
from testkit.system import api_client, maildir_messages, query, running_system, wait_for

pytestmark = pytest.mark.e2e

CONTACT = "busy.reader@example.com"
GENERATED = {
    "subject": "News you can use",
    "preheader": "",
    "body_html": "<p>Hello {{first_name}},</p><p>This week's news.</p>",
    "body_text": "Hello {{first_name}},\n\nThis week's news.",
}


@pytest.fixture(scope="module")
def stack(fake_llm: FakeOpenRouter) -> Iterator[Stack]:
    with running_system("cb-e2e-", fake_llm) as running:
        yield running


def test_a_second_email_over_a_daily_cap_of_one_waits_a_day_with_its_reason(
    stack: Stack, fake_llm: FakeOpenRouter
) -> None:
    fake_llm.script(Reply(GENERATED), Reply(GENERATED))
    assert stack.maildir is not None
    maildir = stack.maildir
    with api_client(stack) as api:
        settings = api.put("/api/workspace/settings", json={"frequency_cap_day": 1})
        assert settings.status_code == 200, settings.text
        assert settings.json()["frequency_cap_day"] == 1
        wait_for("the mailer to know the cap", lambda: query(
            stack, "mailer", "SELECT 1 FROM workspaces WHERE frequency_cap_day = 1"),
            timeout=30)

        due = (datetime.now(UTC) + timedelta(seconds=20)).replace(microsecond=0)
        for name in ("Weekly news", "Product tips"):
            created = api.post("/api/campaigns/", json={
                "name": name, "description": "News for customers", "schedule_type": "daily",
                "total_emails": 1, "start_at": due.isoformat(),
                "send_time": due.time().isoformat(), "timezone": "UTC",
                "ai_agent_id": "openai/gpt-4o-mini", "recipient_emails": [CONTACT]})
            assert created.status_code == 201, created.text

    wait_for("one message", lambda: maildir_messages(maildir), timeout=90)
    # Both deliveries are due by now, and the second would have gone with the first.
    time.sleep(max(0.0, (due - datetime.now(UTC)).total_seconds()) + 3)
    assert len(maildir_messages(maildir)) == 1

    deliveries = query(stack, "mailer", "SELECT state, due_at, sent_at, deferred_reason "
                       "FROM deliveries WHERE email = $1 ORDER BY state DESC", CONTACT)
    assert [d["state"] for d in deliveries] == ["sent", "pending"]
    sent, deferred = deliveries
    # The earliest instant one more fits: a day after the first was sent (or claimed).
    next_day = sent["sent_at"] + timedelta(days=1)
    assert next_day - timedelta(minutes=1) <= deferred["due_at"] <= next_day
    assert deferred["deferred_reason"], "no reason recorded for the deferral"
    assert "cap" in deferred["deferred_reason"].lower()
