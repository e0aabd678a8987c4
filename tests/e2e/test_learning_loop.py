"""The learning loop on the whole system: the engagement simulator reads the first four emails
of a campaign (the first round's rotation, one structure each) through their real tracking
links, clicking the personal story far more than the others; campaign-api counts them as
people's, summarises each email to the content generator, and email 5's structure is the
seeded Thompson draw from the posteriors those clicks give, its reasons in the report and its
prompt showing what resonated.

Emails 2 to 5 fall due a day apart in the campaign's plan; here each one's email.due is
published as the scheduler publishes it, brought forward to now, so that the loop runs in
seconds. Everything after it (writing, sending, tracking, summaries) is the running system's.
"""

from __future__ import annotations

import asyncio
import re
import uuid
from collections import defaultdict
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
import nats
import pytest

from content_generator.domain import STRUCTURES
from content_generator.learning import BanditPolicy, Evidence, choose_structure
from contracts import EmailDue
from contracts.events import EmailDuePayload
from devstack.stack import Stack
from servicekit.settings import asyncpg_dsn
from testkit.engagement import BROWSER, Contact
from testkit.engagement_live import Fetched, report_structures, simulate
from testkit.fake_openrouter import FakeOpenRouter
from testkit.system import api_client, maildir_messages, running_system, wait_for

pytestmark = pytest.mark.e2e

FAVOURED = "personal_story"  # email 3 of the rotation
READERS = 30
FIRST_ROUND = len(STRUCTURES)
SEED = 20261203


@pytest.fixture(scope="module")
def stack(fake_llm: FakeOpenRouter) -> Iterator[Stack]:
    with running_system("cb-e2e-", fake_llm, extra_env={
        # A summary of each email's counts every second rather than every minute.
        "CAMPAIGN_API_SUMMARY_INTERVAL_SECONDS": "1",
        # Emails fall due at their send time: the plan's email 2 stays a day away.
        "SCHEDULER_LEAD_TIME_SECONDS": "0",
        # Emails to 30 people are examples for the prompt.
        "CONTENT_GENERATOR_EXAMPLE_MIN_DELIVERED": str(READERS),
    }) as running:
        yield running


def _readers(now: datetime) -> dict[str, Contact]:
    """People who read their mail at this hour, click the personal story one time in two and
    the other structures one time in fifty; no machine in front of any of them."""
    rates = {s: 0.5 if s == FAVOURED else 0.02 for s in STRUCTURES}
    return {address: Contact(address, rates, open_rate=0.8, best_hour=now.hour)
            for address in (f"learner{n}@loop.example" for n in range(READERS))}


def _publish_due(stack: Stack, workspace_id: uuid.UUID, campaign_id: uuid.UUID,
                 sequence: int) -> None:
    """Email `sequence` falls due now, as the scheduler says it."""
    event = EmailDue.create(EmailDuePayload(
        campaign_id=campaign_id, sequence=sequence, total=5,
        send_at=datetime.now(UTC).replace(microsecond=0)), workspace_id=workspace_id)

    async def publish() -> None:
        nc = await nats.connect(stack.nats_url)
        try:
            await nc.jetstream(timeout=20).publish(
                event.subject, event.model_dump_json().encode(),
                headers={"Nats-Msg-Id": event.dedupe_key()})
        finally:
            await nc.close()

    asyncio.run(publish())


def _content_rows(stack: Stack, sql: str, *args: Any) -> list[dict[str, Any]]:
    async def read() -> list[dict[str, Any]]:
        conn = await asyncpg.connect(asyncpg_dsn(stack.database_url("content_generator")))
        try:
            return [dict(r) for r in await conn.fetch(sql, *args)]
        finally:
            await conn.close()

    return asyncio.run(read())


def _people(fetched: list[Fetched], kind: str) -> dict[int, int]:
    """Per email: the people who fetched its pixel (`open`) or a link (`click`)."""
    who: dict[int, set[str]] = defaultdict(set)
    for f in fetched:
        if f.event.kind == kind and f.event.agent == BROWSER:
            who[f.message.sequence].add(f.message.recipient)
    return {sequence: len(people) for sequence, people in who.items()}


def test_the_next_structure_is_drawn_from_posteriors_the_clicks_updated(
    stack: Stack, fake_llm: FakeOpenRouter,
) -> None:
    now = datetime.now(UTC)
    readers = _readers(now)
    assert stack.maildir is not None
    maildir = stack.maildir
    with api_client(stack) as api:
        created = api.post("/api/campaigns/", json={
            "name": "Learning", "description": "Notes from our bakery, one a day",
            "schedule_type": "daily", "total_emails": 5,
            # The plan's next send time is a day away, well after the test.
            "send_time": (now - timedelta(hours=1)).time().replace(microsecond=0).isoformat(),
            "timezone": "UTC",
            "ai_agent_id": "openai/gpt-4o-mini", "recipient_emails": list(readers)})
        assert created.status_code == 201, created.text
        campaign_id = uuid.UUID(created.json()["id"])
        workspace_id = uuid.UUID(api.get("/api/workspace").json()["id"])

        # Email 1 goes out now; 2 to 4 are brought forward.
        for sequence in range(2, FIRST_ROUND + 1):
            _publish_due(stack, workspace_id, campaign_id, sequence)

        def first_round() -> list[Any] | None:
            found = [m for m in maildir_messages(maildir) if str(m["To"]) in readers]
            return found if len(found) == READERS * FIRST_ROUND else None

        messages = wait_for("the first round in every inbox", first_round, timeout=120)
        fetched = simulate(messages, readers, report_structures(api), seed=SEED)
        clicks, opens = _people(fetched, "click"), _people(fetched, "open")
        assert clicks.get(3, 0) > max(clicks.get(k, 0) for k in (1, 2, 4))

        # Each email's summary, as the content generator keeps it, says what the people did.
        def summarised() -> list[dict[str, Any]] | None:
            rows = _content_rows(stack, "SELECT * FROM email_performance WHERE campaign_id = "
                                 "$1 ORDER BY sequence", campaign_id)
            done = [(r["sequence"], r["delivered"], r["unique_human_clicks"],
                     r["unique_human_opens"]) for r in rows]
            wanted = [(k, READERS, clicks.get(k, 0), opens.get(k, 0))
                      for k in range(1, FIRST_ROUND + 1)]
            return rows if done == wanted else None

        performance = wait_for("the first round's engagement summarised", summarised,
                               timeout=60)

        _publish_due(stack, workspace_id, campaign_id, 5)

        def fifth() -> dict[str, Any] | None:
            report = api.get(f"/api/campaigns/{campaign_id}/report").json()
            emails = {e["sequence"]: e for e in report["emails"]}
            return report if 5 in emails and emails[5]["structure_choice"] else None

        report = wait_for("email 5 written and reported", fifth, timeout=60)

    emails = {e["sequence"]: e for e in report["emails"]}
    assert [(emails[k]["structure"], emails[k]["structure_choice"]["rule"])
            for k in range(1, FIRST_ROUND + 1)] == [(s, "rotation") for s in STRUCTURES]

    # The draw the bandit makes from this evidence with email 5's seed.
    evidence = [Evidence(r["structure"], r["delivered"], r["unique_human_clicks"],
                         r["unique_human_opens"]) for r in performance]
    expected = choose_structure(campaign_id, 5, evidence, [], BanditPolicy())
    why = emails[5]["structure_choice"]
    assert emails[5]["structure"] == why["arm"] == expected.arm
    assert (why["rule"], why["seed"]) == (expected.rule, expected.seed)
    assert [(a["arm"], a["alpha"], a["beta"], a["sample"]) for a in why["arms"]] == [
        (p.arm, p.alpha, p.beta, s) for p, s in zip(expected.posteriors, expected.samples,
                                                    strict=True)]
    # The clicks moved the favoured arm's posterior: Beta(1, 1) plus its people's clicks and
    # a tenth of those who only opened.
    arms = {a["arm"]: a for a in why["arms"]}
    only_opened = opens.get(3, 0) - clicks[3]
    assert arms[FAVOURED]["alpha"] == pytest.approx(1 + clicks[3] + 0.1 * only_opened)
    assert arms[FAVOURED]["mean"] > max(a["mean"] for arm, a in arms.items()
                                        if arm != FAVOURED)

    # Email 5's prompt shows the personal story as what resonated most.
    [row] = _content_rows(stack, "SELECT structure_choice::text AS why FROM generated_emails "
                          "WHERE campaign_id = $1 AND sequence = 5", campaign_id)
    assert row["why"]
    third = emails[3]["subject"]
    prompts = [r.body["messages"][1]["content"] for r in fake_llm.chat_requests()
               if r.body and "<resonated_emails>" in r.body["messages"][1]["content"]]
    assert prompts, "no prompt showed what resonated"
    resonated = re.search(r"<resonated_emails>\n(.*?)\n</resonated_emails>", prompts[-1],
                          re.DOTALL)
    assert resonated is not None
    assert resonated.group(1).splitlines()[0].startswith(
        f"Email 3 ({clicks[3] / READERS:.1%} of {READERS} readers clicked): "
        f'subject "{third}"')
