"""After a campaign has run end to end, every service's /metrics shows the work it did."""

from __future__ import annotations

import mailbox
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from devstack.stack import SERVICES, Stack
from testkit.fake_openrouter import FakeOpenRouter, Reply
from testkit.system import api_client, running_system

pytestmark = pytest.mark.e2e

RECIPIENTS = ["ada@example.com", "grace@example.org"]
GENERATED = {
    "subject": "Metrics",
    "preheader": "Counted",
    "body_html": "<p>Hello,</p><p>Counted.</p>",
    "body_text": "Hello,\n\nCounted.",
}
# What servicekit gives every service: events in and out, outbox health, consumer lag.
EVERY_SERVICE = {
    "events_consumed_total", "event_handle_seconds", "outbox_published_total",
    "outbox_backlog", "outbox_oldest_age_seconds", "consumer_pending_messages",
    "consumer_ack_pending_messages",
}
# What only one service can count. Names as docs/operations.md lists them.
SERVICE_SPECIFIC = {
    "content_generator": {"llm_calls_total", "llm_call_seconds", "llm_cost_total"},
    "mailer": {"mailer_deliveries_total", "smtp_send_seconds"},
    "scheduler": {"scheduler_due_lag_seconds"},
}
# The labels every sample of these carries: LLM calls by model and outcome, and so on.
LABELLED = {
    "content_generator": {"llm_calls_total": {"model", "outcome"},
                          "llm_call_seconds": {"model", "outcome"},
                          "llm_cost_total": {"model"}},
    "mailer": {"smtp_send_seconds": {"outcome"}},
}


@pytest.fixture(scope="module")
def ran_a_campaign() -> Iterator[Stack]:
    with FakeOpenRouter() as fake_llm:
        fake_llm.script(Reply(GENERATED))
        with running_system("cb-metrics-", fake_llm) as stack:
            with api_client(stack) as api:
                created = api.post("/api/campaigns/", json={
                    "name": "Counted", "description": "Metrics after a run",
                    "schedule_type": "weekly", "weekly_emails": 1, "weekly_days": [1],
                    "total_months": 1, "ai_agent_id": "openai/gpt-4",
                    "recipient_emails": RECIPIENTS,
                })
            assert created.status_code == 201, created.text
            assert stack.maildir is not None
            wait_for_messages(stack.maildir, len(RECIPIENTS), timeout=60)
            yield stack


def wait_for_messages(maildir: Path, count: int, *, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while len(mailbox.Maildir(maildir, create=False)) < count:
        if time.monotonic() > deadline:
            pytest.fail(f"{count} messages not delivered within {timeout} s")
        time.sleep(0.25)


def scrape(stack: Stack, module: str) -> dict[str, list[tuple[dict[str, str], float]]]:
    """Metric family name → (labels, value) of each sample."""
    response = httpx.get(f"http://127.0.0.1:{stack.http_port(module)}/metrics", timeout=5)
    assert response.status_code == 200
    families: dict[str, list[tuple[dict[str, str], float]]] = {}
    for family in text_string_to_metric_families(response.text):
        samples = [(s.labels, s.value) for s in family.samples]
        families.setdefault(family.name, []).extend(samples)
        if family.type == "counter":  # exposed as <name>_total
            families.setdefault(f"{family.name}_total", []).extend(samples)
    return families


@pytest.mark.parametrize("module", SERVICES)
def test_every_service_exposes_its_metrics(ran_a_campaign: Stack, module: str) -> None:
    families = scrape(ran_a_campaign, module)
    expected = EVERY_SERVICE | SERVICE_SPECIFIC.get(module, set())
    assert expected - set(families) == set()
    # Lag is sampled per durable consumer of the service.
    assert {labels["consumer"] for labels, _ in families["consumer_pending_messages"]}


def test_the_run_was_counted(ran_a_campaign: Stack) -> None:
    mailer = scrape(ran_a_campaign, "mailer")
    handled = sum(v for labels, v in mailer["events_consumed_total"]
                  if labels["outcome"] == "handled" and labels["type"] == "content.generated")
    assert handled >= 1
    published = sum(v for labels, v in mailer["outbox_published_total"]
                    if labels["subject"] == "email.sent")
    assert published == len(RECIPIENTS)
    generator = scrape(ran_a_campaign, "content_generator")
    assert sum(v for _, v in generator["llm_calls_total"]) >= 1


@pytest.mark.parametrize("module", sorted(LABELLED))
def test_service_specific_metrics_carry_their_labels(ran_a_campaign: Stack, module: str) -> None:
    families = scrape(ran_a_campaign, module)
    for name, labels in LABELLED[module].items():
        assert families[name]
        assert all(labels <= set(sample_labels) for sample_labels, _ in families[name])


def histogram_counts(
    stack: Stack, module: str, name: str
) -> list[tuple[dict[str, str], float]]:
    """The `<name>_count` samples of a histogram: how many observations, per label set."""
    response = httpx.get(f"http://127.0.0.1:{stack.http_port(module)}/metrics", timeout=5)
    assert response.status_code == 200
    return [(s.labels, s.value) for family in text_string_to_metric_families(response.text)
            if family.name == name for s in family.samples if s.name == f"{name}_count"]


def test_the_timings_were_observed(ran_a_campaign: Stack) -> None:
    sends = histogram_counts(ran_a_campaign, "mailer", "smtp_send_seconds")
    assert sum(v for labels, v in sends if labels["outcome"] == "sent") == len(RECIPIENTS)
    lags = histogram_counts(ran_a_campaign, "scheduler", "scheduler_due_lag_seconds")
    assert sum(v for _, v in lags) >= 1
