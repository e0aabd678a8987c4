"""Erasure on the whole system: once a contact who received and opened an email is erased
through the API, no column of any table of any of the four services' databases holds the
address, and an import of it afterwards mails it nothing."""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from devstack.stack import Stack
from testkit.fake_openrouter import FakeOpenRouter, Reply
from testkit.system import (
    api_client,
    databases_holding,
    maildir_messages,
    running_system,
    wait_for,
)

pytestmark = pytest.mark.e2e

ERASED = "forget.me@example.com"
KEPT = "stay@example.com"
NEWCOMER = "newcomer@example.com"
GENERATED = {
    "subject": "Your weekly digest",
    "preheader": "",
    "body_html": "<p>Hello {{first_name}},</p><p>The week in review.</p>",
    "body_text": "Hello {{first_name}},\n\nThe week in review.",
}
_PIXEL = re.compile(r'src="(http[^"]+/o/[^"]+\.gif)"')


@pytest.fixture(scope="module")
def stack(fake_llm: FakeOpenRouter) -> Iterator[Stack]:
    with running_system("cb-e2e-", fake_llm) as running:
        yield running


@pytest.fixture
def api(stack: Stack) -> Iterator[httpx.Client]:
    with api_client(stack) as client:
        yield client


def _start_now(api: httpx.Client, name: str, **audience: Any) -> str:
    """A one-email campaign whose email goes out at once (no start given)."""
    created = api.post("/api/campaigns/", json={
        "name": name, "description": "A weekly digest", "schedule_type": "daily",
        "total_emails": 1, "ai_agent_id": "openai/gpt-4o-mini", **audience})
    assert created.status_code == 201, created.text
    return str(created.json()["id"])


def _messages_to(stack: Stack, address: str) -> list[Any]:
    assert stack.maildir is not None
    return [m for m in maildir_messages(stack.maildir)
            if m["To"].addresses[0].addr_spec == address]


def _contact_id(api: httpx.Client, address: str) -> str:
    found = api.get("/api/contacts/", params={"q": address})
    assert found.status_code == 200, found.text
    (contact,) = [c for c in found.json()["items"] if c["email"] == address]
    return str(contact["id"])


def test_an_erased_contact_is_in_no_database_and_an_import_of_it_mails_it_nothing(
    stack: Stack, api: httpx.Client, fake_llm: FakeOpenRouter
) -> None:
    fake_llm.script(Reply(GENERATED), Reply(GENERATED))
    first = _start_now(api, "Digest", recipient_emails=[ERASED, KEPT])
    wait_for("both messages",
             lambda: _messages_to(stack, ERASED) and _messages_to(stack, KEPT), timeout=60)

    # The contact opens it: the pixel in the message is fetched as a mail client would.
    (message,) = _messages_to(stack, ERASED)
    html = message.get_body(preferencelist=("html",))
    assert html is not None
    pixel = _PIXEL.search(html.get_content())
    assert pixel is not None, "no open pixel in the message"
    assert httpx.get(pixel.group(1)).status_code == 200
    wait_for("the open recorded", lambda: api.get(f"/api/campaigns/{first}/stats")
             .json()["totals"]["unique_opens"] == 1, timeout=30)

    # The search finds the address where it is before the erasure: it can see it.
    assert {"campaign_api", "mailer"} <= set(databases_holding(stack, ERASED))

    erased = api.post(f"/api/contacts/{_contact_id(api, ERASED)}/erase")
    assert erased.status_code == 200, erased.text

    holders = databases_holding(stack, ERASED)
    deadline = time.monotonic() + 90
    while holders and time.monotonic() < deadline:
        time.sleep(1)
        holders = databases_holding(stack, ERASED)
    assert holders == {}, f"still holding {ERASED}: {holders}"
    # Only that person is forgotten.
    assert {"campaign_api", "mailer"} <= set(databases_holding(stack, KEPT))

    # Imported again, with someone new, and mailed by a campaign to that list: only the new
    # contact receives it.
    target = api.post("/api/lists/", json={"name": "Digest readers"})
    assert target.status_code == 201, target.text
    list_id = target.json()["id"]
    imported = api.post("/api/contacts/import",
                        params={"list_id": list_id, "consent_basis": "consent"},
                        content=f"email\n{ERASED}\n{NEWCOMER}\n".encode(),
                        headers={"Content-Type": "text/csv"})
    assert imported.status_code == 200, imported.text
    _start_now(api, "Digest again", audience={"lists": [list_id]})
    wait_for("the newcomer's message", lambda: _messages_to(stack, NEWCOMER), timeout=60)
    time.sleep(2)  # a message to the erased address would arrive with it
    assert len(_messages_to(stack, ERASED)) == 1
