"""email.failed into the read models: each failed delivery kept with its reason and SMTP codes,
counted by kind, so that `bounced` is only what the receiving server refused."""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
from sqlalchemy.ext.asyncio import AsyncEngine

from campaign_api import handlers
from contracts import EmailFailed, EmailSent
from contracts.events import SUPPRESSED_REASON, EmailFailedPayload, EmailSentPayload
from servicekit.db import UnitOfWork

MakeClient = Callable[..., Awaitable[httpx.AsyncClient]]
T0 = datetime(2026, 5, 4, 9, tzinfo=UTC)

# One of each kind, as the mailer reports them.
FAILURES: list[dict[str, Any]] = [
    {"recipient": "gone@example.com", "permanent": True, "smtp_code": 550,
     "enhanced_code": "5.1.1", "reason": "550 5.1.1 <gone@example.com>: no such user"},
    {"recipient": "odd@example.com", "permanent": True,
     "reason": "to name: line breaks are not allowed in a header value"},
    {"recipient": "left@example.com", "permanent": True, "reason": SUPPRESSED_REASON},
    {"recipient": "slow@example.com", "permanent": False, "smtp_code": 451,
     "enhanced_code": "4.7.1", "reason": "gave up after 6 attempts: 451 4.7.1 try later"},
    {"recipient": "busy@example.com", "permanent": True, "reason": "frequency cap: 1 a day",
     "kind": "capped"},
]


async def _campaign(client: httpx.AsyncClient, payload: dict[str, Any]) -> tuple[uuid.UUID,
                                                                                 uuid.UUID]:
    created = (await client.post("/api/campaigns/", json=payload)).json()
    workspace = (await client.get("/api/workspace")).json()["id"]
    return uuid.UUID(created["id"]), uuid.UUID(workspace)


async def _apply(engine: AsyncEngine, events: list[EmailFailed | EmailSent]) -> None:
    async with UnitOfWork(engine) as uow:
        for event in events:
            if isinstance(event, EmailFailed):
                await handlers.on_email_failed(event, uow)
            else:
                await handlers.on_email_sent(event, uow)
        await uow.commit()


def _failed(cid: uuid.UUID, ws: uuid.UUID, sequence: int, at: datetime,
            **fields: Any) -> EmailFailed:
    return EmailFailed.create(EmailFailedPayload(campaign_id=cid, sequence=sequence, **fields),
                              workspace_id=ws, occurred_at=at)


async def test_each_failure_is_shown_with_its_kind_reason_and_codes(
    api_client: MakeClient, api_engine: AsyncEngine, original_payload: dict[str, Any]
) -> None:
    client = await api_client()
    cid, ws = await _campaign(client, original_payload)
    sent = EmailSent.create(EmailSentPayload(campaign_id=cid, sequence=1,
                                             recipient="ann@example.com", message_id="<m@x>"),
                            workspace_id=ws)
    await _apply(api_engine, [sent, *(
        _failed(cid, ws, 1, T0 + timedelta(minutes=i), **f) for i, f in enumerate(FAILURES))])

    [email] = (await client.get(f"/api/campaigns/{cid}/")).json()["emails"]
    assert {k: email[k] for k in ("sent", "failed", "bounced", "invalid", "suppressed",
                                  "expired", "capped")} == {
        "sent": 1, "failed": 5, "bounced": 1, "invalid": 1, "suppressed": 1, "expired": 1,
        "capped": 1}
    assert email["failure"] is None  # the email itself was written
    assert email["last_failure"] == {
        "sequence": 1, "recipient": "busy@example.com", "kind": "capped",
        "reason": "frequency cap: 1 a day", "smtp_code": None,
        "enhanced_code": None, "failed_at": "2026-05-04T09:04:00Z"}

    listed = (await client.get(f"/api/campaigns/{cid}/failures")).json()["items"]
    assert [(f["recipient"], f["kind"]) for f in listed] == [
        ("busy@example.com", "capped"), ("slow@example.com", "expired"),
        ("left@example.com", "suppressed"), ("odd@example.com", "invalid"),
        ("gone@example.com", "bounced")]
    assert (listed[4]["smtp_code"], listed[4]["enhanced_code"]) == (550, "5.1.1")
    assert "no such user" in listed[4]["reason"]
    assert (await client.get(f"/api/campaigns/{cid}/emails")).json()[0]["last_failure"] == (
        email["last_failure"])

    totals = (await client.get(f"/api/campaigns/{cid}/stats")).json()["totals"]
    assert {k: totals[k] for k in ("sent", "failed", "bounced", "invalid", "suppressed",
                                   "expired", "capped")} == {
        "sent": 1, "failed": 5, "bounced": 1, "invalid": 1, "suppressed": 1, "expired": 1,
        "capped": 1}
    assert totals["bounce_rate"] == round(1 / 6, 4)


async def test_only_an_smtp_refusal_counts_as_bounced(
    api_client: MakeClient, api_engine: AsyncEngine, original_payload: dict[str, Any]
) -> None:
    client = await api_client()
    cid, ws = await _campaign(client, original_payload)
    # Not bounces: an invalid message, a suppressed address, retries given up after 4xx, a
    # send skipped over the frequency cap.
    await _apply(api_engine, [_failed(cid, ws, 1, T0, **f) for f in FAILURES[1:]])
    [email] = (await client.get(f"/api/campaigns/{cid}/")).json()["emails"]
    assert (email["failed"], email["bounced"]) == (4, 0)
    assert (await client.get(f"/api/campaigns/{cid}/")).json()["progress"][
        "deliveries_failed"] == 4


async def test_failures_are_listed_per_email_and_counted_once(
    api_client: MakeClient, api_engine: AsyncEngine, original_payload: dict[str, Any]
) -> None:
    client = await api_client()
    cid, ws = await _campaign(client, original_payload)
    first = _failed(cid, ws, 1, T0, **FAILURES[0])
    # The same delivery reported twice (another event id), and one of another email.
    again = _failed(cid, ws, 1, T0 + timedelta(hours=1), **FAILURES[0])
    other = _failed(cid, ws, 2, T0, **FAILURES[2])
    await _apply(api_engine, [first, again, other])
    emails = (await client.get(f"/api/campaigns/{cid}/")).json()["emails"]
    assert [(e["sequence"], e["failed"], e["bounced"]) for e in emails] == [(1, 1, 1), (2, 1, 0)]
    only_two = (await client.get(f"/api/campaigns/{cid}/failures",
                                 params={"sequence": 2})).json()["items"]
    assert [f["recipient"] for f in only_two] == ["left@example.com"]
    assert (await client.get(f"/api/campaigns/{uuid.uuid4()}/failures")).status_code == 404
    stranger = await api_client("globex")
    assert (await stranger.get(f"/api/campaigns/{cid}/failures")).status_code == 404
