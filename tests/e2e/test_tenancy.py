"""Workspaces on the whole running system: neither reaches the other's campaigns over the real
HTTP API; a recipient's one-click unsubscribe (a bare POST to the link in the mail's
List-Unsubscribe header) suppresses the address in the mailer for that workspace only; and a
workspace's 100,000-row CSV import reaches the mailer's copy of its audience."""

from __future__ import annotations

import asyncio
import os
import re
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from email.message import EmailMessage
from pathlib import Path

import asyncpg
import httpx
import pytest

from devstack.stack import Stack
from servicekit.settings import asyncpg_dsn
from testkit.fake_openrouter import FakeOpenRouter
from testkit.system import api_client, maildir_messages, running_system, wait_for

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

ADA, BOB = "ada@example.com", "bob@example.org"


@pytest.fixture(scope="module")
def stack(fake_llm: FakeOpenRouter) -> Iterator[Stack]:
    with running_system("cb-e2e-", fake_llm,
                        extra_env={"SCHEDULER_LEAD_TIME_SECONDS": "0"}) as running:
        yield running


def _key_of_new_workspace(stack: Stack, name: str) -> str:
    """What an operator does: `python -m campaign_api create-key --workspace <name>`."""
    env = {**os.environ, "CAMPAIGN_API_DATABASE_URL": stack.database_url("campaign_api")}
    result = subprocess.run(
        [sys.executable, "-m", "campaign_api", "create-key", "--workspace", name],
        env=env, capture_output=True, text=True, check=True, timeout=60)
    return result.stdout.strip().splitlines()[-1]


def _to(maildir: Path, address: str) -> list[EmailMessage]:
    return [m for m in maildir_messages(maildir) if str(m["To"]).endswith(address)]


def _campaign(api: httpx.Client, name: str, recipients: list[str]) -> str:
    response = api.post("/api/campaigns/", json={
        "name": name, "description": "Release notes", "schedule_type": "daily",
        "total_emails": 1, "start_at": datetime.now(UTC).isoformat(),
        "ai_agent_id": "openai/gpt-4o-mini", "recipient_emails": recipients})
    assert response.status_code == 201, response.text
    cid: str = response.json()["id"]
    return cid


def test_workspaces_are_apart_down_to_the_mailers_suppression(stack: Stack) -> None:
    maildir = stack.maildir
    assert maildir is not None
    with api_client(stack, stack.api_key) as acme, \
            api_client(stack, _key_of_new_workspace(stack, "globex")) as globex:
        first = _campaign(acme, "Acme 1", [ADA])
        for path in (f"/api/campaigns/{first}/", f"/api/campaigns/{first}/stats",
                     f"/api/campaigns/{first}/recipients"):
            assert globex.get(path).status_code == 404
        assert globex.post(f"/api/campaigns/{first}/pause").status_code == 404
        assert first not in globex.get("/api/campaigns/").text

        [mail] = wait_for("Acme's first mail", lambda: _to(maildir, ADA))
        assert mail["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
        link = re.search(r"<(https?://[^>]+/u/[^>]+)>", str(mail["List-Unsubscribe"]))
        assert link is not None
        # RFC 8058: a bare POST, no cookie, no key, no redirect followed.
        response = httpx.post(link.group(1), content=b"List-Unsubscribe=One-Click",
                              headers={"Content-Type": "application/x-www-form-urlencoded"},
                              follow_redirects=False)
        assert response.status_code == 200
        wait_for("the unsubscribe in the stats", lambda: acme.get(
            f"/api/campaigns/{first}/stats").json()["totals"]["unsubscribes"] == 1, timeout=10)
        time.sleep(2)  # the mailer reads recipient.unsubscribed from its own consumer

        _campaign(acme, "Acme 2", [ADA, BOB])
        wait_for("Acme's second mail to Bob", lambda: _to(maildir, BOB))
        theirs = _campaign(globex, "Globex 1", [ADA])
        wait_for("Globex's mail to Ada", lambda: len(_to(maildir, ADA)) == 2)
        time.sleep(2)  # anything sent to Ada by Acme again would be here by now
        assert len(_to(maildir, ADA)) == 2
        assert acme.get(f"/api/campaigns/{theirs}/").status_code == 404


IMPORT_ROWS = 100_000


def _csv() -> Iterator[bytes]:
    yield b"email,name,plan\n"
    for start in range(1, IMPORT_ROWS + 1, 5_000):
        yield b"".join(
            b"not-an-address-%d,Broken\n" % i if i % 100 == 0
            else b"reader%d@example.com,Reader %d,Plan %d\n" % (i, i, i % 3)
            for i in range(start, min(start + 5_000, IMPORT_ROWS + 1)))


def _api_peak_memory(stack: Stack) -> int:
    """VmHWM (peak resident set) of this stack's campaign-api process, in bytes."""
    port = f"PORT={stack.endpoints.api_port}".encode()
    for proc in Path("/proc").iterdir():
        try:
            cmdline = (proc / "cmdline").read_bytes().split(b"\0")
            environ = (proc / "environ").read_bytes().split(b"\0")
        except OSError:
            continue
        if b"campaign_api" in cmdline and b"run" in cmdline and port in environ:
            status = (proc / "status").read_text()
            kib = re.search(r"^VmHWM:\s+(\d+) kB", status, re.MULTILINE)
            assert kib is not None
            return int(kib.group(1)) * 1024
    raise AssertionError("campaign-api process not found")


def _mailer_readers(stack: Stack) -> int:
    async def count() -> int:
        conn = await asyncpg.connect(asyncpg_dsn(stack.database_url("mailer")))
        try:
            found: int = await conn.fetchval(
                "SELECT count(*) FROM memberships WHERE email LIKE 'reader%@example.com'")
            return found
        finally:
            await conn.close()

    return asyncio.run(count())


def test_a_100k_row_import_reaches_the_mailers_audience(stack: Stack) -> None:
    """Issue point 4 on the real system: the upload streams over HTTP, the report names exactly
    the invalid rows, the mailer's copy of the audience gets every valid one, and the
    campaign-api process's peak resident memory (VmHWM) stays under 300 MB."""
    with api_client(stack, stack.api_key) as api:
        start = datetime(2030, 1, 1, tzinfo=UTC).isoformat()  # nothing gets sent
        cid = api.post("/api/campaigns/", json={
            "name": "Big list", "schedule_type": "daily", "total_emails": 1, "start_at": start,
            "ai_agent_id": "openai/gpt-4o-mini", "recipient_emails": [ADA]}).json()["id"]
        response = api.post(f"/api/campaigns/{cid}/recipients/import", content=_csv(),
                            headers={"Content-Type": "text/csv"}, timeout=300)
    assert response.status_code == 200, response.text
    report = response.json()
    invalid = [i + 1 for i in range(1, IMPORT_ROWS + 1) if i % 100 == 0]  # +1: the header
    assert [r["line"] for r in report["rejected_rows"]] == invalid
    assert report["added"] == IMPORT_ROWS - len(invalid)
    wait_for("the mailer's copy", lambda: _mailer_readers(stack) == report["added"], 120)
    peak = _api_peak_memory(stack)
    print(f"\ncampaign-api VmHWM after a 100k-row import: {peak / 2**20:.0f} MiB")
    assert peak < 300 * 1024 * 1024
