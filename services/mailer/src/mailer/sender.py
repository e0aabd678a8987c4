"""Sending: claim due deliveries, render and send each one, record how it went.

One step (`send_due_batch`) is three phases:
1. claim: in one transaction, lock due deliveries, settle those that must not be sent
   (cancelled campaign, removed member, suppressed address, message that cannot be built
   safely) and mark the rest `sending`; commit before any byte goes to the SMTP server, so a
   crash from here on leaves a visible `sending` row that is reclaimed after the lease.
2. send: over the transport's sessions; no new send starts after half the lease, so a live
   send is never reclaimed (a whole send is bounded well inside the other half).
3. record: per delivery, one transaction marks the outcome and writes email.sent or
   email.failed to the outbox. A crash between the server's 250 and this commit is the one
   case in which the recipient gets the message twice, with the same Message-ID.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Protocol

import structlog
from prometheus_client import Counter
from sqlalchemy.ext.asyncio import AsyncEngine

from contracts import EmailFailed, EmailSent, deterministic_id
from contracts.events import EmailFailedPayload, EmailSentPayload
from mailer import db
from mailer.domain import (
    Accepted,
    Content,
    Deferred,
    InvalidMessage,
    Recipient,
    Rejected,
    RetryPolicy,
    Sender,
    SmtpReply,
    classify,
    precheck,
    unsubscribe_token,
)
from mailer.render import MessageMeta, list_id, render_message, smtp_address
from servicekit.db import UnitOfWork

log = structlog.get_logger(__name__)

DELIVERIES = Counter("mailer_deliveries_total", "Delivery attempts by outcome", ["outcome"])

_MAX_REASON = 2_000  # what the event contracts accept


class MailTransport(Protocol):
    """Sends one message to one recipient; every outcome, failures included, is a reply."""

    concurrency: int

    async def send(self, sender: str, recipient: str, message: bytes) -> SmtpReply: ...


@dataclass(frozen=True)
class SendOptions:
    batch_size: int = 100
    lease: timedelta = timedelta(minutes=5)
    retry: RetryPolicy = field(default_factory=RetryPolicy)
    default_sender: Sender = field(
        default_factory=lambda: Sender("Campaign Builder", "campaigns@localhost")
    )
    public_base_url: str = "http://127.0.0.1:8000"


@dataclass(frozen=True)
class _Job:
    delivery: db.ClaimedRow
    correlation_id: uuid.UUID
    attempts: int  # this attempt's number: the fencing token for recording its outcome
    first_attempt_at: datetime
    envelope_from: str
    envelope_to: str
    message: bytes


async def send_due_batch(
    engine: AsyncEngine, transport: MailTransport, *, options: SendOptions, now: datetime
) -> int:
    """Claim, send and record one batch; returns how many deliveries were claimed."""
    claimed, jobs = await _claim(engine, options, now)
    started = time.monotonic()
    gate = asyncio.Semaphore(transport.concurrency)
    cutoff = options.lease.total_seconds() / 2

    async def run(job: _Job) -> None:
        async with gate:
            if time.monotonic() - started > cutoff:
                await _release(engine, job)
                return
            reply = await transport.send(job.envelope_from, job.envelope_to, job.message)
            at = now + timedelta(seconds=time.monotonic() - started)
            await _record(engine, job, reply, at=at, retry=options.retry)

    # Every send runs to its end and gets recorded even if recording another one failed.
    results = await asyncio.gather(*(run(j) for j in jobs), return_exceptions=True)
    errors = [r for r in results if isinstance(r, BaseException)]
    if errors:
        raise errors[0]
    return claimed


async def _claim(
    engine: AsyncEngine, options: SendOptions, now: datetime
) -> tuple[int, list[_Job]]:
    async with UnitOfWork(engine) as uow:
        rows = await db.claim_due(uow.conn, now=now, lease=options.lease,
                                  limit=options.batch_size)
        if not rows:
            return 0, []
        contents = await db.contents_for(uow.conn, ((r.campaign_id, r.sequence) for r in rows))
        jobs: list[_Job] = []
        for row in rows:
            content = contents[(row.campaign_id, row.sequence)]
            skip = precheck(campaign_state=row.campaign.state, member_active=row.member_active,
                            suppressed=row.suppressed)
            if skip is not None:
                await db.settle(uow.conn, row.id, state=skip.state, last_reply=skip.reason)
                if skip.state == "suppressed":
                    uow.publish(_failed(row, content.correlation_id, permanent=True,
                                        reason=skip.reason))
                DELIVERIES.labels(skip.state).inc()
                continue
            try:
                jobs.append(_prepare(row, content, options, now))
            except InvalidMessage as exc:
                await db.settle(uow.conn, row.id, state="failed", last_reply=str(exc))
                uow.publish(_failed(row, content.correlation_id, permanent=True,
                                    reason=str(exc)))
                log.warning("mailer.invalid_message", delivery_id=str(row.id), reason=str(exc))
                DELIVERIES.labels("invalid").inc()
        await db.mark_sending(uow.conn, [j.delivery.id for j in jobs], now)
        await uow.commit()
    return len(rows), jobs


def _prepare(row: db.ClaimedRow, content: db.ContentRow, options: SendOptions,
             now: datetime) -> _Job:
    campaign = row.campaign
    default = options.default_sender
    sender = Sender(
        name=campaign.from_name or default.name,
        address=campaign.from_email or default.address,
        reply_to=campaign.reply_to,
    )
    recipient = Recipient(row.email, row.member_name or "", row.member_fields or {})
    meta = MessageMeta(
        message_id=row.message_id,
        date=now,
        list_id=list_id(campaign.campaign_id, campaign.name, sender.domain),
        unsubscribe_url=f"{options.public_base_url}/u/{unsubscribe_token(row.id)}",
    )
    message = render_message(
        sender, recipient,
        Content(content.subject, content.preheader, content.body_html, content.body_text),
        meta,
    )
    return _Job(
        delivery=row,
        correlation_id=content.correlation_id,
        attempts=row.attempts + 1,
        first_attempt_at=row.first_attempt_at or now,
        envelope_from=smtp_address(sender.address, "from"),
        envelope_to=smtp_address(row.email),
        message=message,
    )


async def _record(
    engine: AsyncEngine, job: _Job, reply: SmtpReply, *, at: datetime, retry: RetryPolicy
) -> None:
    row = job.delivery
    outcome = classify(reply)
    async with UnitOfWork(engine) as uow:
        match outcome:
            case Accepted(reply=text):
                if await db.record_outcome(
                    uow.conn, row.id, attempts=job.attempts, state="sent", sent_at=at,
                    smtp_code=reply.code, enhanced_code=None, last_reply=text,
                ):
                    uow.publish(_sent(row, job.correlation_id, smtp_reply=text))
                label = "sent"
            case Rejected(code=code, enhanced_code=enhanced, reason=reason, suppress=suppress):
                if await db.record_outcome(
                    uow.conn, row.id, attempts=job.attempts, state="failed", smtp_code=code,
                    enhanced_code=enhanced, last_reply=reason,
                ):
                    if suppress:
                        await db.suppress(uow.conn, row.campaign.workspace_id, row.email,
                                          "bounced", at)
                    uow.publish(_failed(row, job.correlation_id, permanent=True, reason=reason,
                                        code=code, enhanced=enhanced))
                label = "rejected"
            case Deferred(code=code, enhanced_code=enhanced, reason=reason):
                retry_at = retry.next_attempt(attempts=job.attempts,
                                              first_attempt_at=job.first_attempt_at, now=at)
                if retry_at is not None:
                    await db.record_outcome(
                        uow.conn, row.id, attempts=job.attempts, state="pending",
                        due_at=retry_at, smtp_code=code, enhanced_code=enhanced,
                        last_reply=reason,
                    )
                    label = "deferred"
                else:
                    gave_up = f"gave up after {job.attempts} attempts: {reason}"
                    if await db.record_outcome(
                        uow.conn, row.id, attempts=job.attempts, state="failed",
                        smtp_code=code, enhanced_code=enhanced, last_reply=gave_up,
                    ):
                        uow.publish(_failed(row, job.correlation_id, permanent=False,
                                            reason=gave_up, code=code, enhanced=enhanced))
                    label = "expired"
        await uow.commit()
    DELIVERIES.labels(label).inc()
    log.info("mailer.delivery_attempted", delivery_id=str(row.id), outcome=label,
             attempts=job.attempts, smtp_code=reply.code, reply=reply.text[:200])


async def _release(engine: AsyncEngine, job: _Job) -> None:
    async with UnitOfWork(engine) as uow:
        await db.release(uow.conn, job.delivery.id, attempts=job.attempts)
        await uow.commit()


def _sent(row: db.ClaimedRow, correlation_id: uuid.UUID, *, smtp_reply: str) -> EmailSent:
    return EmailSent.create(
        EmailSentPayload(campaign_id=row.campaign_id, sequence=row.sequence, recipient=row.email,
                         message_id=row.message_id, smtp_reply=smtp_reply[:_MAX_REASON]),
        workspace_id=row.campaign.workspace_id,
        correlation_id=correlation_id,
        event_id=deterministic_id("email.sent", row.campaign_id, row.sequence, row.email),
    )


def _failed(
    row: db.ClaimedRow,
    correlation_id: uuid.UUID,
    *,
    permanent: bool,
    reason: str,
    code: int | None = None,
    enhanced: str | None = None,
) -> EmailFailed:
    """email.failed is final for the delivery; `permanent` tells a refusal (5xx, suppressed,
    invalid message) from giving up on a fault that stayed transient for too long."""
    return EmailFailed.create(
        EmailFailedPayload(campaign_id=row.campaign_id, sequence=row.sequence,
                           recipient=row.email, permanent=permanent, smtp_code=code,
                           enhanced_code=enhanced, reason=reason[:_MAX_REASON]),
        workspace_id=row.campaign.workspace_id,
        correlation_id=correlation_id,
        event_id=deterministic_id("email.failed", row.campaign_id, row.sequence, row.email),
    )
