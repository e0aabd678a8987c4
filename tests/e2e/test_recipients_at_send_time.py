"""Who receives an email is decided at its send time, on the whole system: contacts imported into
a campaign's list after its email was written receive that email, each once."""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from devstack.stack import Stack
from testkit.fake_openrouter import FakeOpenRouter, Reply
from testkit.system import (
    api_client,
    maildir_count,
    maildir_headers,
    running_system,
    wait_for,
)

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

TYPED = "first@example.com"
IMPORTED = 10_000
GENERATED = {
    "subject": "Welcome aboard",
    "preheader": "What happens next",
    "body_html": "<p>Hello {{first_name}},</p><p>Glad you are here.</p>",
    "body_text": "Hello {{first_name}},\n\nGlad you are here.",
}


@pytest.fixture(scope="module")
def stack(fake_llm: FakeOpenRouter) -> Iterator[Stack]:
    # The scheduler's own lead time (30 minutes): the content of an email due in 3 minutes is
    # written at once, before anyone is imported, as when the issue was found.
    with running_system("cb-e2e-", fake_llm) as running:
        yield running


def _campaign_list(api: httpx.Client, campaign_id: str) -> str:
    """The id of the campaign's own list, where its typed recipients are."""
    lists = api.get("/api/lists/", params={"kind": "campaign", "limit": 1_000})
    assert lists.status_code == 200, lists.text
    (found,) = [item["id"] for item in lists.json()["items"]
                if item["campaign_id"] == campaign_id]
    return str(found)


def _csv(count: int) -> bytes:
    rows = [f"reader{i:05d}@example.com,Reader {i}" for i in range(count)]
    return ("email,name\n" + "\n".join(rows) + "\n").encode()


# Three minutes to the send time, then 10,001 messages through SMTP.
@pytest.mark.timeout(600)
def test_contacts_imported_after_the_email_was_written_receive_it_at_its_send_time(
    stack: Stack, fake_llm: FakeOpenRouter
) -> None:
    """The issue's case: a campaign due in 3 minutes with one typed recipient, 10,000 contacts
    imported into its list by CSV a minute later, after its content was written: at the send
    time 10,001 messages, exactly one per address, and none before it."""
    fake_llm.script(Reply(GENERATED))
    assert stack.maildir is not None
    maildir = stack.maildir
    created_at = datetime.now(UTC)
    send_at = (created_at + timedelta(minutes=3)).replace(microsecond=0)
    with api_client(stack) as api:
        created = api.post("/api/campaigns/", json={
            "name": "Onboarding", "description": "Welcome new customers",
            "schedule_type": "daily", "total_emails": 1, "start_at": send_at.isoformat(),
            "send_time": send_at.time().isoformat(), "timezone": "UTC",
            "ai_agent_id": "openai/gpt-4o-mini", "recipient_emails": [TYPED],
        })
        assert created.status_code == 201, created.text
        campaign_id = created.json()["id"]
        list_id = _campaign_list(api, campaign_id)

        def written() -> dict[str, Any] | None:
            detail: dict[str, Any] = api.get(f"/api/campaigns/{campaign_id}/").json()
            emails = detail["emails"]
            return detail if emails and emails[0]["subject"] == GENERATED["subject"] else None

        # The content is written before the import: its recipients cannot have come with it.
        wait_for("the email's content", written, timeout=90)

        time.sleep(max(0.0, (created_at + timedelta(minutes=1) - datetime.now(UTC))
                       .total_seconds()))
        imported = api.post("/api/contacts/import",
                            params={"list_id": list_id, "consent_basis": "consent"},
                            content=_csv(IMPORTED), headers={"Content-Type": "text/csv"},
                            timeout=120)
        assert imported.status_code == 200, imported.text

        # Nothing goes before the send time.
        time.sleep(max(0.0, (send_at - datetime.now(UTC)).total_seconds() - 3))
        assert maildir_count(maildir) == 0

        wait_for("10,001 messages", lambda: maildir_count(maildir) >= IMPORTED + 1, timeout=300)
        time.sleep(2)  # anything sent twice would arrive now

    messages = maildir_headers(maildir)
    expected = {TYPED} | {f"reader{i:05d}@example.com" for i in range(IMPORTED)}
    recipients = Counter(headers["To"].addresses[0].addr_spec for _, headers in messages)
    assert set(recipients) == expected
    assert max(recipients.values()) == 1
    assert len({str(headers["Message-ID"]) for _, headers in messages}) == IMPORTED + 1
    assert min(stored for stored, _ in messages) >= send_at.timestamp()
