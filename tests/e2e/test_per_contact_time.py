"""Per-contact local time and send windows, on the whole system.

A per-contact-time campaign in Asia/Tokyo whose send time is a minute ahead in Tokyo: the
contact in Tokyo (and the one with no zone, who takes the campaign's) receives it at that
instant, while the contacts in Europe/Berlin and America/New_York, whose local date is the same
email's, are due hours later at the same wall-clock time in their own zones. Those two are read
from the mailer's dispatches (when it will decide and create their deliveries), since waiting
eight and fourteen hours is no test; the Tokyo delivery proves that what is read there is what is
sent.

A campaign whose send time falls 30 s before its send window opens is delivered at the opening;
it is created with the first, so that both wait together.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from email.message import EmailMessage
from zoneinfo import ZoneInfo

import httpx
import pytest

from devstack.stack import Stack
from testkit.fake_openrouter import FakeOpenRouter, Reply
from testkit.system import api_client, maildir_headers, query, running_system, wait_for

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

TOKYO = ZoneInfo("Asia/Tokyo")
ZONED = {
    "tokyo@example.com": "Asia/Tokyo",
    "berlin@example.com": "Europe/Berlin",
    "newyork@example.com": "America/New_York",
}
ZONELESS = "nozone@example.com"
IN_WINDOW = "window@example.com"
GENERATED = {
    "subject": "Good morning",
    "preheader": "",
    "body_html": "<p>Hello {{first_name}},</p><p>Your morning note.</p>",
    "body_text": "Hello {{first_name}},\n\nYour morning note.",
}


@dataclass(frozen=True)
class Campaigns:
    per_contact: str
    # The Tokyo date and time of day every contact of the per-contact campaign is due at.
    local_date: date
    send_time: time
    tokyo_due: datetime
    windowed: str
    window_opens: datetime


@pytest.fixture(scope="module")
def stack(fake_llm: FakeOpenRouter) -> Iterator[Stack]:
    with running_system("cb-e2e-", fake_llm) as running:
        yield running


def _create(api: httpx.Client, payload: dict[str, object]) -> str:
    base = {"description": "A note every morning", "schedule_type": "daily", "total_emails": 1,
            "ai_agent_id": "openai/gpt-4o-mini"}
    created = api.post("/api/campaigns/", json=base | payload)
    assert created.status_code == 201, created.text
    return str(created.json()["id"])


@pytest.fixture(scope="module")
def campaigns(stack: Stack, fake_llm: FakeOpenRouter) -> Campaigns:
    fake_llm.script(Reply(GENERATED), Reply(GENERATED))
    now = datetime.now(UTC).replace(microsecond=0)
    tokyo_due = now + timedelta(seconds=60)
    local = tokyo_due.astimezone(TOKYO)
    window_opens = now + timedelta(seconds=50)
    # In the future, or email 1 would go out at once.
    start_at = (now + timedelta(seconds=10)).isoformat()
    with api_client(stack) as api:
        zoned = api.post("/api/lists/", json={"name": "Morning readers"})
        assert zoned.status_code == 201, zoned.text
        list_id = zoned.json()["id"]
        contacts = [{"email": email, "timezone": zone} for email, zone in ZONED.items()]
        upserted = api.post("/api/contacts/bulk", json={
            "contacts": [*contacts, {"email": ZONELESS}], "consent_basis": "consent",
            "list_id": list_id})
        assert upserted.status_code == 200, upserted.text

        per_contact = _create(api, {
            "name": "Morning in every zone", "start_at": start_at,
            "send_time": local.time().isoformat(), "timezone": "Asia/Tokyo",
            "per_contact_time": True, "audience": {"lists": [list_id]}})
        # Due 20 s from now, outside its window, which opens 30 s later and stays open an hour.
        send_at = now + timedelta(seconds=20)
        windowed = _create(api, {
            "name": "Within office hours", "start_at": start_at,
            "send_time": send_at.time().isoformat(), "timezone": "UTC",
            "send_window": {"start": window_opens.time().isoformat(),
                            "end": (window_opens + timedelta(hours=1)).time().isoformat()},
            "recipient_emails": [IN_WINDOW]})
    return Campaigns(per_contact=per_contact, local_date=local.date(),
                     send_time=local.time(), tokyo_due=tokyo_due, windowed=windowed,
                     window_opens=window_opens)


def _received(stack: Stack) -> dict[str, tuple[float, EmailMessage]]:
    """Each recipient's message and when the sink stored it; a second one to anyone fails."""
    assert stack.maildir is not None
    found: dict[str, tuple[float, EmailMessage]] = {}
    for stored, headers in maildir_headers(stack.maildir):
        address = headers["To"].addresses[0].addr_spec
        assert address not in found, f"{address} received two messages"
        found[address] = (stored, headers)
    return found


def _dispatch_due(stack: Stack, campaign_id: str, zone: str) -> datetime:
    """When the mailer will decide the recipients in `zone` of the campaign's email."""
    rows = query(stack, "mailer", "SELECT due_at FROM dispatches "
                 "WHERE campaign_id = $1::uuid AND $2 = ANY(zones)", campaign_id, zone)
    assert len(rows) == 1, rows
    due: datetime = rows[0]["due_at"]
    return due


def test_each_contact_is_due_at_the_send_time_in_their_own_zone(
    stack: Stack, campaigns: Campaigns
) -> None:
    tokyo_due = campaigns.tokyo_due
    wait_for("the Tokyo contact's message",
             lambda: {"tokyo@example.com", ZONELESS} <= set(_received(stack)),
             timeout=(tokyo_due - datetime.now(UTC)).total_seconds() + 60)
    received = _received(stack)
    for address in ("tokyo@example.com", ZONELESS):
        stored, headers = received[address]
        assert tokyo_due.timestamp() <= stored < tokyo_due.timestamp() + 30
        assert headers["Subject"] == GENERATED["subject"]
    # Nobody else received it now.
    assert "berlin@example.com" not in received
    assert "newyork@example.com" not in received

    for address in ("berlin@example.com", "newyork@example.com"):
        zone = ZONED[address]
        due = _dispatch_due(stack, campaigns.per_contact, zone).astimezone(ZoneInfo(zone))
        # The same email's local date, at the same wall-clock time, in their zone.
        assert (due.date(), due.time()) == (campaigns.local_date, campaigns.send_time)
        assert due > datetime.now(UTC) + timedelta(hours=6)


def test_a_delivery_due_outside_its_send_window_goes_at_the_windows_opening(
    stack: Stack, campaigns: Campaigns
) -> None:
    opens = campaigns.window_opens
    wait_for("the message at the window's opening", lambda: IN_WINDOW in _received(stack),
             timeout=(opens - datetime.now(UTC)).total_seconds() + 60)
    stored, _ = _received(stack)[IN_WINDOW]
    # Not at its send time, 30 s before the opening.
    assert opens.timestamp() <= stored < opens.timestamp() + 20
    (delivery,) = query(stack, "mailer", "SELECT due_at FROM deliveries WHERE email = $1",
                        IN_WINDOW)
    assert delivery["due_at"] == opens
