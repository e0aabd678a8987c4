"""Send-time optimisation on the whole system.

A reader opens an email three times in a browser, through its real tracking pixel, at 19:xx in
their own zone (a fixed-offset zone chosen so that it is 19:xx there now). campaign-api learns
19:00 as their hour and ships it with the contact; the mailer then makes their delivery of an
optimised campaign's next email due at 19:00 their time on the email's local date, while a
contact without any opens is due at the campaign's send time. 19:00 today has passed, so the
reader's copy goes at once, and the other's at the send time a minute later: what is read from
the mailer's deliveries is what is sent.
"""

from __future__ import annotations

import re
import time as clock
from collections.abc import Iterator
from datetime import UTC, datetime, time, timedelta
from email.message import EmailMessage
from zoneinfo import ZoneInfo

import httpx
import pytest

from devstack.stack import Stack
from testkit.fake_openrouter import FakeOpenRouter, Reply
from testkit.system import api_client, maildir_messages, query, running_system, wait_for

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

READER, NEWCOMER = "reader@example.com", "newcomer@example.com"
SAFARI = ("Mozilla/5.0 (iPhone; CPU iPhone OS 17_4 like Mac OS X) AppleWebKit/605.1.15 "
          "(KHTML, like Gecko) Version/17.4 Mobile/15E148 Safari/604.1")
READ_AT = 19


def _email(subject: str) -> dict[str, str]:
    return {"subject": subject, "preheader": "",
            "body_html": "<p>Hello {{first_name}},</p><p>Tonight's note.</p>",
            "body_text": "Hello {{first_name}},\n\nTonight's note."}


WARM_UP, OPTIMISED = _email("Tonight's note"), _email("At your hour")


@pytest.fixture(scope="module")
def stack(fake_llm: FakeOpenRouter) -> Iterator[Stack]:
    # The learner looks for new engagement every second rather than every hour.
    with running_system("cb-e2e-", fake_llm,
                        extra_env={"CAMPAIGN_API_SEND_HOURS_INTERVAL_SECONDS": "1"}) as running:
        yield running


def _zone_at_hour(hour: int) -> str:
    """A fixed-offset zone whose local time is `hour`:xx now (IANA's Etc/GMT-5 is UTC+5)."""
    offset = (hour - datetime.now(UTC).hour) % 24
    if offset > 14:
        offset -= 24
    return "Etc/GMT" if offset == 0 else f"Etc/GMT{-offset:+d}"


def _messages(stack: Stack, subject: str) -> dict[str, EmailMessage]:
    assert stack.maildir is not None
    return {m["To"].addresses[0].addr_spec: m for m in maildir_messages(stack.maildir)
            if m["Subject"] == subject}


def _send_hours(stack: Stack, service: str) -> list[int] | None:
    rows = query(stack, service, "SELECT send_hours FROM contacts WHERE email = $1", READER)
    return list(rows[0]["send_hours"]) if rows and rows[0]["send_hours"] else None


def _create(api: httpx.Client, payload: dict[str, object]) -> str:
    base = {"description": "A note every evening", "schedule_type": "daily", "total_emails": 1,
            "ai_agent_id": "openai/gpt-4o-mini"}
    created = api.post("/api/campaigns/", json=base | payload)
    assert created.status_code == 201, created.text
    return str(created.json()["id"])


def _list_of(api: httpx.Client, name: str, contacts: list[dict[str, str]]) -> str:
    made = api.post("/api/lists/", json={"name": name})
    assert made.status_code == 201, made.text
    list_id = str(made.json()["id"])
    upserted = api.post("/api/contacts/bulk", json={
        "contacts": contacts, "consent_basis": "consent", "list_id": list_id})
    assert upserted.status_code == 200, upserted.text
    return list_id


def test_a_readers_delivery_is_due_at_the_hour_they_read_and_a_newcomers_at_the_send_time(
    stack: Stack, fake_llm: FakeOpenRouter
) -> None:
    fake_llm.script(Reply(WARM_UP), Reply(OPTIMISED))
    with api_client(stack) as api:
        warm = _list_of(api, "Readers", [{"email": READER}])
        # An email the reader gets now, sent at once.
        _create(api, {"name": "Tonight", "audience": {"lists": [warm]}})
        delivered = wait_for("the reader's first message",
                             lambda: _messages(stack, WARM_UP["subject"]).get(READER))

        # Opened three times at 19:xx the reader's time: their zone is one where it is 19:xx
        # now (with a minute to spare for the opens).
        if datetime.now(UTC).minute >= 58:
            clock.sleep(150 - datetime.now(UTC).second)
        zone = _zone_at_hour(READ_AT)
        everyone = _list_of(api, "Everyone", [{"email": READER, "timezone": zone},
                                              {"email": NEWCOMER, "timezone": zone}])
        html = delivered.get_body(preferencelist=("html",))
        assert html is not None
        [pixel] = re.findall(r'src="([^"]*/o/[^"]+\.gif)"', html.get_content())
        for _ in range(3):
            assert httpx.get(pixel, headers={"user-agent": SAFARI}).status_code == 200
        assert datetime.now(UTC).astimezone(ZoneInfo(zone)).hour == READ_AT

        learned = [READ_AT] * 7
        wait_for("the reader's hours learned", lambda: _send_hours(stack, "campaign_api"))
        assert _send_hours(stack, "campaign_api") == learned
        wait_for("the reader's hours at the mailer", lambda: _send_hours(stack, "mailer"))
        assert _send_hours(stack, "mailer") == learned

        # The optimised campaign: in the reader's zone, its send time a minute ahead there.
        now = datetime.now(UTC).replace(microsecond=0)
        send_at = now + timedelta(seconds=60)
        local = send_at.astimezone(ZoneInfo(zone))
        campaign = _create(api, {
            "name": "At your hour", "start_at": (now + timedelta(seconds=10)).isoformat(),
            "send_time": local.time().isoformat(), "timezone": zone,
            "send_time_optimization": True, "audience": {"lists": [everyone]}})

    def due_times() -> dict[str, datetime] | None:
        rows = query(stack, "mailer", "SELECT email, due_at FROM deliveries "
                     "WHERE campaign_id = $1::uuid", campaign)
        return {r["email"]: r["due_at"] for r in rows} if len(rows) == 2 else None

    due = wait_for("both deliveries of the optimised email", due_times)
    reader_due = due[READER].astimezone(ZoneInfo(zone))
    # 19:00 their time on the email's local date; the newcomer at the campaign's send time.
    assert (reader_due.date(), reader_due.time()) == (local.date(), time(READ_AT))
    assert due[NEWCOMER] == send_at

    # 19:00 today has passed: the reader's copy goes at once, the newcomer's at the send time.
    wait_for("the reader's optimised message",
             lambda: READER in _messages(stack, OPTIMISED["subject"]))
    assert NEWCOMER not in _messages(stack, OPTIMISED["subject"])
    wait_for("the newcomer's message at the send time",
             lambda: NEWCOMER in _messages(stack, OPTIMISED["subject"]),
             timeout=(send_at - datetime.now(UTC)).total_seconds() + 60)
    assert datetime.now(UTC) >= send_at
