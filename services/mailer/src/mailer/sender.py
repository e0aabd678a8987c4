"""Sending: claim due deliveries, render and send each one, record how it went.

One step (`send_due_batch`) is three phases:
1. claim: in one transaction, lock due deliveries and mark them `sending`, then settle those
   that must not be sent (cancelled campaign, removed member, suppressed address) and defer or
   skip those over the workspace's frequency cap (mailer.policy); commit
   before any byte goes to the SMTP server, so a crash from here on leaves a visible `sending`
   row that is reclaimed after the lease. While the process lives, its heartbeat renews the
   lease (mailer.leases).
2. render and send: each email is prepared once per batch (`EmailTemplate`) and personalised
   per recipient; sends run over the transport's sessions; a send starts only while its claim
   was confirmed less than half a lease ago (mailer.leases), none while the database is away
   (mailer.outage), and none once a stop is requested: those claims are released, uncounted.
3. record: outcomes are written in batches (mailer.outcomes: one UPDATE for the batch, the
   email.sent / email.failed events in the same transaction), at the latest `record_max_delay`
   after the first of a batch came in; a write that cannot reach the database is tried again
   until it can, within the claims' lease. A crash of the mailer between the server's 250 and
   that commit, or a database away for longer than the lease, is the one case in which the
   recipient gets the message twice, with the same Message-ID.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from functools import cache
from typing import Protocol

import structlog
from opentelemetry.trace import INVALID_SPAN, Span, SpanKind
from prometheus_client import Histogram
from sqlalchemy.ext.asyncio import AsyncEngine

from contracts.links import LinkSigner
from mailer import db
from mailer.db.deliveries import defer
from mailer.dkim_signing import DkimSigner
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
)
from mailer.leases import Leases
from mailer.links import EmailLinks
from mailer.mime import smtp_address
from mailer.outcomes import DELIVERIES, Email, Job, Outcome, Recorder, failed_event, release
from mailer.policy import OverCap, at_claim
from mailer.render import EmailTemplate, MessageMeta, list_id
from servicekit.db import UnitOfWork
from servicekit.shutdown import Shutdown
from servicekit.tracing import context_from_headers, recorded, tracer

log = structlog.get_logger(__name__)

SMTP_SECONDS = Histogram(
    "smtp_send_seconds", "Duration of one SMTP send, by outcome", ["outcome"],
    buckets=(0.01, 0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 30, 60),
)

_CUT_OFF = "outcome unknown: the mailer stopped before the server replied"


class MailTransport(Protocol):
    """Sends one message to one recipient; every outcome, failures included, is a reply."""

    concurrency: int

    async def send(self, sender: str, recipient: str, message: bytes) -> SmtpReply: ...


@dataclass(frozen=True)
class SendOptions:
    link_signer: LinkSigner
    batch_size: int = 100
    lease: timedelta = timedelta(minutes=5)
    retry: RetryPolicy = field(default_factory=RetryPolicy)
    default_sender: Sender = field(
        default_factory=lambda: Sender("Campaign Builder", "campaigns@localhost")
    )
    public_base_url: str = "http://127.0.0.1:8000"
    unsubscribe_mailto: str | None = None
    dkim: DkimSigner | None = None
    # Outcomes written per transaction: larger is faster, smaller keeps less in doubt.
    record_batch: int = 100
    # Seconds an outcome waits at most to be written with others: what a crash can leave
    # in doubt is bounded in time too, not only in count.
    record_max_delay: float = 0.2


async def sender_loop(
    engine: AsyncEngine, transport: MailTransport, options: SendOptions, poll_interval: float,
    *, shutdown: Shutdown, leases: Leases,
) -> None:
    """Claims and sends batch after batch until `shutdown` is requested; then returns once
    the batch in hand is sent, recorded and its unsent claims released."""
    while not shutdown.requested:
        try:
            claimed = await send_due_batch(engine, transport, options=options,
                                           now=datetime.now(UTC), shutdown=shutdown,
                                           leases=leases)
        except Exception as exc:  # the database may be briefly away; keep sending
            log.warning("mailer.send_batch_failed", error=repr(exc))
            claimed = 0
        if claimed < options.batch_size:
            await shutdown.sleep(poll_interval)


async def send_due_batch(
    engine: AsyncEngine, transport: MailTransport, *, options: SendOptions, now: datetime,
    shutdown: Shutdown | None = None, leases: Leases | None = None,
) -> int:
    """Claim, send and record one batch; returns how many deliveries were claimed.

    Once `shutdown` is requested no new send starts: the sends under way finish and are
    recorded, the rest of the batch is released at once. Cancelled (the stop's grace is over),
    a send still waiting for its reply is recorded as deferred, its outcome unknown."""
    stopping = shutdown or Shutdown(0)  # without one, never requested
    leases = leases or Leases(engine, options.lease)  # without one, no heartbeat
    if stopping.requested:
        return 0
    began = time.monotonic()
    claimed, jobs = await _claim(engine, options, now)
    if not jobs:
        return claimed
    leases.outage.answered()  # the claim committed: the database answers
    held = leases.hold(((job.delivery.id, job.attempts) for job in jobs), claimed_at=began)

    def expired() -> bool:
        return leases.expired(held)

    recorder = Recorder(engine, options.record_batch, options.record_max_delay,
                        outage=leases.outage, expired=expired)
    unsent: list[Job] = []
    cut_off: list[Job] = []

    def at() -> datetime:
        return now + timedelta(seconds=time.monotonic() - began)

    async def run(job: Job) -> None:
        try:
            sender, recipient, message = _render(job, options, at())
        except InvalidMessage as exc:
            await recorder.add(_invalid(job, exc, at()))
            return
        except Exception as exc:
            # A fault of ours, not of the message: deferred like a 4xx, so that a fixed
            # release can still send it and otherwise the delivery gives up in time, rather
            # than staying `sending` to be claimed again after every lease.
            log.exception("mailer.render_failed", delivery_id=str(job.delivery.id))
            await recorder.add(_deferred(job, None, None, f"rendering failed: {exc!r}", at(),
                                         options.retry))
            return
        if stopping.requested or not leases.may_start(held):
            unsent.append(job)
            return
        try:
            outcome = await _send(transport, job, sender, recipient, message, options.retry,
                                  started_at=at())
        except asyncio.CancelledError:
            cut_off.append(job)
            raise
        await recorder.add(outcome)

    # Every send runs to its end and gets recorded even if recording another one failed.
    # Messages are rendered just before they need a session: a few workers, each taking the
    # next job when its last one is done, keep at most `concurrency` waiting for one.
    remaining = iter(jobs)
    errors: list[Exception] = []

    async def worker() -> None:
        for job in remaining:  # shared: each job is taken by one worker
            try:
                await run(job)
            except Exception as exc:  # raised below, once every job has run
                errors.append(exc)
            if stopping.requested:
                return

    try:
        await asyncio.gather(*(worker() for _ in range(min(len(jobs), transport.concurrency * 2))))
    finally:
        # Also when cancelled: what came back is recorded, what was never sent goes back.
        unsent.extend(remaining)
        try:
            for job in cut_off:
                await recorder.add(_deferred(job, None, None, _CUT_OFF, at(), options.retry))
            await recorder.close()
        except Exception as exc:  # raised below, after the earlier ones
            errors.append(exc)
        try:
            await release(engine, unsent, outage=leases.outage, expired=expired)
        except Exception as exc:  # their lease runs out instead
            errors.append(exc)
        leases.drop(held)
    if errors:
        raise errors[0]
    return claimed


async def _claim(
    engine: AsyncEngine, options: SendOptions, now: datetime
) -> tuple[int, list[Job]]:
    async with UnitOfWork(engine) as uow:
        rows = await db.claim_due(uow.conn, now=now, lease=options.lease,
                                  limit=options.batch_size)
        if not rows:
            return 0, []
        contents = await db.contents_for(uow.conn, ((r.campaign_id, r.sequence) for r in rows))
        variants = await db.variants_for(
            uow.conn, ((r.campaign_id, r.sequence, r.variant) for r in rows if r.variant),
            contents)
        skips = {r.id: precheck(campaign_state=r.campaign.state, member_active=r.member_active,
                                suppressed=r.suppressed) for r in rows}
        policy = await at_claim(uow.conn, rows, [r for r in rows if skips[r.id] is None], now)
        emails: dict[tuple[uuid.UUID, int, str | None], Email] = {}
        jobs: list[Job] = []
        for row in rows:
            content = contents[(row.campaign_id, row.sequence)]
            skip = skips[row.id]
            if skip is not None:
                await db.settle(uow.conn, row.id, state=skip.state, last_reply=skip.reason)
                if skip.state == "suppressed":
                    uow.publish(failed_event(row, content.correlation_id, kind="suppressed",
                                             reason=skip.reason))
                DELIVERIES.labels(skip.state).inc()
                continue
            over = policy.over_cap.get(row.id)
            if over is not None:
                await _over_cap(uow, row, over, content.correlation_id)
                continue
            key = (row.campaign_id, row.sequence, row.variant)
            if row.variant is not None:
                content = variants[(row.campaign_id, row.sequence, row.variant)]
            email = emails.get(key)
            if email is None:
                email = emails[key] = Email(
                    content.correlation_id, _template(row, content, options),
                    EmailLinks(options.link_signer, options.public_base_url,
                               row.campaign.workspace_id, row.campaign_id, row.sequence),
                    context_from_headers(content.trace_headers))
            jobs.append(Job(row, email, row.attempts + 1, row.first_attempt_at or now,
                            policy.windows.get(row.id)))
        await uow.commit()
    return len(rows), jobs


async def _over_cap(
    uow: UnitOfWork, row: db.ClaimedRow, over: OverCap, correlation_id: uuid.UUID
) -> None:
    """A delivery over the frequency cap is not attempted: deferred to when it fits, or
    ended with an email.failed of kind `capped`; either way the reason is on the row."""
    if over.due_at is not None:
        await defer(uow.conn, row.id, due_at=over.due_at, reason=over.reason)
        DELIVERIES.labels("capped_deferred").inc()
        return
    await db.settle(uow.conn, row.id, state="failed", last_reply=over.reason,
                    deferred_reason=over.reason)
    uow.publish(failed_event(row, correlation_id, kind="capped", reason=over.reason))
    DELIVERIES.labels("capped").inc()


async def _send(
    transport: MailTransport, job: Job, sender: str, recipient: str, message: bytes,
    retry: RetryPolicy, *, started_at: datetime,
) -> Outcome:
    """One SMTP send, timed and traced as part of its email's trace."""
    with _span(job, recipient) as span:
        begun = time.monotonic()
        reply = await transport.send(sender, recipient, message)
        took = time.monotonic() - begun
        outcome = _decide(job, reply, started_at + timedelta(seconds=took), retry)
        if reply.code is not None:
            span.set_attribute("smtp.code", reply.code)
        span.set_attribute("email.outcome", outcome.label)
    _smtp_seconds(outcome.label).observe(took)
    return outcome


def _span(job: Job, recipient: str) -> AbstractContextManager[Span]:
    """The send's span in its email's trace; none where spans are not recorded, as an
    unrecorded one would cost more than the rest of a send's bookkeeping."""
    if not recorded():
        return nullcontext(INVALID_SPAN)
    attributes = {
        # The domain tells which server was slow or refused; the address stays out of traces.
        "messaging.recipient_domain": recipient.rpartition("@")[2],
        "email.message_id": job.delivery.message_id,
    }
    # Not made the current span: nothing runs inside it that would look for one.
    return tracer.start_span("smtp send", context=job.email.trace_context, kind=SpanKind.CLIENT,
                             attributes=attributes)


@cache
def _smtp_seconds(outcome: str) -> Histogram:
    """The histogram's child for `outcome`, looked up once rather than for every send."""
    return SMTP_SECONDS.labels(outcome)


def _sender(row: db.ClaimedRow, options: SendOptions) -> Sender:
    campaign, default = row.campaign, options.default_sender
    return Sender(name=campaign.from_name or default.name,
                  address=campaign.from_email or default.address, reply_to=campaign.reply_to)


def _template(
    row: db.ClaimedRow, content: db.ContentRow, options: SendOptions
) -> EmailTemplate | InvalidMessage:
    sender = _sender(row, options)
    try:
        return EmailTemplate.prepare(
            sender,
            Content(content.subject, content.preheader, content.body_html, content.body_text),
            list_id=list_id(row.campaign_id, row.campaign.name, sender.domain),
            unsubscribe_mailto=options.unsubscribe_mailto,
        )
    except InvalidMessage as exc:
        return exc


def _render(job: Job, options: SendOptions, at: datetime) -> tuple[str, str, bytes]:
    """Envelope sender, envelope recipient and the message; InvalidMessage when unsafe."""
    template = job.email.template
    if isinstance(template, InvalidMessage):
        raise template
    row = job.delivery
    message: bytes = template.render(
        Recipient(row.email, row.member_name or "", row.member_fields or {}),
        MessageMeta(message_id=row.message_id, date=at, links=job.email.links.recipient(row.email)),
    )
    if options.dkim is not None:
        message = options.dkim.sign(message)
    return template.envelope_sender, smtp_address(row.email), message


def _invalid(job: Job, exc: InvalidMessage, at: datetime) -> Outcome:
    log.warning("mailer.invalid_message", delivery_id=str(job.delivery.id), reason=str(exc))
    return Outcome(job, "failed", "invalid", None, None, str(exc), at, event="invalid")


def _decide(job: Job, reply: SmtpReply, at: datetime, retry: RetryPolicy) -> Outcome:
    match classify(reply):
        case Accepted(reply=text):
            return Outcome(job, "sent", "sent", reply.code, None, text, at, event="sent")
        case Rejected(code=code, enhanced_code=enhanced, reason=reason, suppress=suppress):
            return Outcome(job, "failed", "rejected", code, enhanced, reason, at,
                           event="bounced", suppress=suppress)
        case Deferred(code=code, enhanced_code=enhanced, reason=reason):
            return _deferred(job, code, enhanced, reason, at, retry)


def _deferred(
    job: Job, code: int | None, enhanced: str | None, reason: str, at: datetime,
    retry: RetryPolicy,
) -> Outcome:
    """Tried again later by the retry policy, or given up when it says so."""
    retry_at = retry.next_attempt(attempts=job.attempts, first_attempt_at=job.first_attempt_at,
                                  now=at)
    if retry_at is not None:
        if job.window is not None:  # a retry outside the send window waits for its opening
            retry_at = job.window.opening(retry_at)
        return Outcome(job, "pending", "deferred", code, enhanced, reason, at, due_at=retry_at)
    gave_up = f"gave up after {job.attempts} attempts: {reason}"
    return Outcome(job, "failed", "expired", code, enhanced, gave_up, at, event="expired")


