"""Double opt-in on the whole running system: a list's hosted form posted, the confirmation
mail (sent by the mailer at once, untracked) in the SMTP sink's Maildir, its link followed,
and the contact subscribed, on the list, with its consent record; the mailer learns of it."""

from __future__ import annotations

import asyncio
import re
from collections.abc import Iterator
from typing import Any

import asyncpg
import pytest

from devstack.stack import Stack
from servicekit.settings import asyncpg_dsn
from testkit.fake_openrouter import FakeOpenRouter
from testkit.system import api_client, maildir_messages, running_system, wait_for

pytestmark = pytest.mark.e2e

CONSENT = "Yes, send me the garden newsletter; I can leave at any time."
ADDRESS = "gardener@example.com"


@pytest.fixture(scope="module")
def stack(fake_llm: FakeOpenRouter) -> Iterator[Stack]:
    with running_system("cb-e2e-signup-", fake_llm) as running:
        yield running


def _query(stack: Stack, service: str, sql: str, *args: Any) -> list[asyncpg.Record]:
    async def read() -> list[asyncpg.Record]:
        conn = await asyncpg.connect(asyncpg_dsn(stack.database_url(service)))
        try:
            return list(await conn.fetch(sql, *args))
        finally:
            await conn.close()

    return asyncio.run(read())


def _confirmations(stack: Stack) -> list[Any]:
    assert stack.maildir is not None
    return [m for m in maildir_messages(stack.maildir)
            if [a.addr_spec for a in m["To"].addresses] == [ADDRESS]]


def test_a_sign_up_is_confirmed_from_the_mail_in_the_maildir(stack: Stack) -> None:
    with api_client(stack) as api:
        created = api.post("/api/lists/", json={"name": "Garden news", "consent_text": CONSENT})
        assert created.status_code == 201, created.text
        list_id = created.json()["id"]
        embed = api.get(f"/api/lists/{list_id}/signup-form").json()
        assert embed["url"] == f"{stack.base_url}/f/{list_id}"

        form = api.get(f"/f/{list_id}")
        assert form.status_code == 200
        assert CONSENT in form.text
        posted = api.post(f"/f/{list_id}", data={"email": ADDRESS, "name": "Gertrude Jekyll"},
                          headers={"User-Agent": "e2e browser"})
        assert posted.status_code == 200, posted.text

        outbox = _query(stack, "campaign_api", "SELECT subject, published_at FROM outbox "
                        "WHERE subject LIKE '%transactional%'")
        assert len(outbox) == 1, outbox
        wait_for("the mailer to hold the confirmation", lambda: _query(
            stack, "mailer", "SELECT state FROM transactional_messages WHERE email = $1",
            ADDRESS), timeout=30)
        [mail] = wait_for("the confirmation mail in the Maildir",
                          lambda: _confirmations(stack), timeout=60)
        assert "Garden news" in str(mail["Subject"])
        assert mail["List-Unsubscribe"] is None  # transactional: not campaign mail
        text = mail.get_body(("plain",))
        assert text is not None
        [link] = re.findall(rf"{re.escape(stack.base_url)}(/f/confirm/\S+)", text.get_content())
        [contact] = _query(stack, "campaign_api", "SELECT id, status FROM contacts "
                           "WHERE email = $1", ADDRESS)
        assert contact["status"] == "pending"

        assert api.get(link).status_code == 200  # asks first
        confirmed = api.post(link)
        assert confirmed.status_code == 200
        assert "You are subscribed" in confirmed.text

    [contact] = _query(stack, "campaign_api", "SELECT id, status FROM contacts WHERE email = $1",
                       ADDRESS)
    assert contact["status"] == "subscribed"
    [consent] = _query(stack, "campaign_api", "SELECT * FROM consents WHERE contact_id = $1",
                       contact["id"])
    assert (consent["source"], consent["consent_text"], consent["user_agent"]) == (
        "form", CONSENT, "e2e browser")
    assert consent["ip"] == "127.0.0.1"
    assert consent["confirmed_at"] is not None
    # The mailer holds the contact, subscribed, on the list.
    wait_for("the mailer to hold the subscribed member", lambda: _query(
        stack, "mailer", "SELECT 1 FROM memberships WHERE list_id = $1::uuid AND email = $2",
        list_id, ADDRESS), timeout=30)
    assert len(_confirmations(stack)) == 1
