"""The whole system the way `make up` runs it: four service processes, real NATS, real
PostgreSQL, the SMTP sink, and the fake OpenRouter standing in for the LLM."""

from __future__ import annotations

import mailbox
import time
from collections.abc import Iterator
from email import message_from_bytes, policy
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import httpx
import pytest

from devstack.ports import free_port
from devstack.stack import Stack, StackConfig
from testkit.fake_openrouter import FakeOpenRouter, Reply
from testkit.fixtures import scratch_dir

pytestmark = pytest.mark.e2e

RECIPIENTS = ["ada@example.com", "grace@example.org", "linus@example.net"]
GENERATED = {
    "subject": "Three features you asked for",
    "preheader": "Shipping this week",
    "body_html": "<p>Hello {{first_name}},</p><p>Here is what shipped this week.</p>",
    "body_text": "Hello {{first_name}},\n\nHere is what shipped this week.",
}


@pytest.fixture(scope="module")
def fake_llm() -> Iterator[FakeOpenRouter]:
    with FakeOpenRouter() as fake:
        yield fake


@pytest.fixture(scope="module")
def stack(fake_llm: FakeOpenRouter) -> Iterator[Stack]:
    with scratch_dir("cb-e2e-") as data:
        yield from _run_stack(data, fake_llm)


def _run_stack(data: Path, fake_llm: FakeOpenRouter) -> Iterator[Stack]:
    config = StackConfig(
        data_dir=data,
        api_port=free_port(),
        environ={"PATH": "/usr/bin:/bin"},
        extra_env={
            "OPENROUTER_API_KEY": fake_llm.api_key,
            "OPENROUTER_BASE_URL": fake_llm.base_url,
            "SCHEDULER_TICK_SECONDS": "0.2",
            "MAILER_POLL_INTERVAL": "0.2",
            "LOG_LEVEL": "INFO",
        },
    )
    with Stack(config) as running:
        yield running


def _api(stack: Stack) -> httpx.Client:
    return httpx.Client(base_url=stack.base_url,
                        headers={"Authorization": f"Bearer {stack.api_key}"}, timeout=10)


def _messages(maildir: Path) -> list[EmailMessage]:
    box = mailbox.Maildir(maildir, create=False)
    found: list[EmailMessage] = []
    for key in box.iterkeys():
        raw = box.get_bytes(key)
        msg = message_from_bytes(raw, policy=policy.default)
        assert isinstance(msg, EmailMessage)
        found.append(msg)
    return found


def _wait_for(predicate: Any, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.25)


def test_a_campaign_reaches_every_inbox_once(stack: Stack, fake_llm: FakeOpenRouter) -> None:
    fake_llm.script(Reply(GENERATED))
    payload = {
        "name": "Product Launch Series",
        "description": "Weekly emails about our new product features",
        "schedule_type": "weekly", "weekly_emails": 2, "weekly_days": [1, 3, 5],
        "total_months": 3, "ai_agent_id": "openai/gpt-4",
        "recipient_emails": RECIPIENTS,
    }
    with _api(stack) as api:
        created = api.post("/api/campaigns/", json=payload)
        assert created.status_code == 201, created.text
        campaign_id = created.json()["id"]

        assert stack.maildir is not None
        maildir = stack.maildir
        _wait_for(lambda: len(_messages(maildir)) >= len(RECIPIENTS), timeout=60)
        time.sleep(1)  # anything sent twice would arrive now
        messages = _messages(maildir)
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

        _wait_for(lambda: detail()["progress"]["deliveries_sent"] == len(RECIPIENTS), timeout=20)
        progress = detail()["progress"]
        assert progress["deliveries_sent"] == len(RECIPIENTS)
        assert progress["emails_generated"] == 1
        assert detail()["emails"][0]["subject"] == GENERATED["subject"]
