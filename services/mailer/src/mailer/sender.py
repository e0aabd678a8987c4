"""Sending: claim due deliveries, render and send each one, record how it went.

One step (`send_due_batch`) is three phases:
1. claim: in one transaction, lock due deliveries and mark them `sending`, then settle those
   that must not be sent (cancelled campaign, removed member, suppressed address); commit
   before any byte goes to the SMTP server, so a crash from here on leaves a visible `sending`
   row that is reclaimed after the lease.
2. render and send: each email is prepared once per batch (`EmailTemplate`) and personalised
   per recipient; sends run over the transport's sessions; no new send starts after half the
   lease, so a live send is never reclaimed (a whole send is bounded well inside the other half).
3. record: outcomes are written in batches of `record_batch` (one UPDATE for the batch, the
   email.sent / email.failed events in the same transaction). A crash between the server's
   250 and that commit is the one case in which the recipient gets the message twice, with the
   same Message-ID; such a delivery is still `sending` at the crash, so the duplicates of one
   crash are at most the deliveries in `sending` then (batch size x the loops claiming at once).
"""

from __future__ import annotations

import asyncio
import collections
import time
import uuid
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from functools import cache
from typing import Literal, Protocol

import structlog
from opentelemetry.context import Context
from opentelemetry.trace import INVALID_SPAN, Span, SpanKind
from prometheus_client import Counter, Histogram
from sqlalchemy.ext.asyncio import AsyncEngine

from contracts import EmailFailed, EmailSent, deterministic_id
from contracts.events import EmailFailedPayload, EmailSentPayload
from contracts.links import LinkSigner
from mailer import db
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
from mailer.links import EmailLinks
from mailer.render import EmailTemplate, MessageMeta, list_id, smtp_address
from servicekit.db import UnitOfWork
from servicekit.tracing import context_from_headers, recorded, tracer

log = structlog.get_logger(__name__)

DELIVERIES = Counter("mailer_deliveries_total", "Delivery attempts by outcome", ["outcome"])
SMTP_SECONDS = Histogram(
    "smtp_send_seconds", "Duration of one SMTP send, by outcome", ["outcome"],
    buckets=(0.01, 0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 30, 60),
)

_MAX_REASON = 2_000  # what the event contracts accept


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


# _Job and _Outcome are made for every message: plain slotted records cost a fraction of
# frozen ones to build.
@dataclass(slots=True)
class _Job:
    delivery: db.ClaimedRow
    email: _Email
    attempts: int  # this attempt's number: the fencing token for recording its outcome
    first_attempt_at: datetime


@dataclass(frozen=True, slots=True)
class _Email:
    """What the recipients of one email in a batch share, made once for all of them."""

    correlation_id: uuid.UUID
    template: EmailTemplate | InvalidMessage
    links: EmailLinks
    trace_context: Context  # of the email's content.generated: its sends join that trace


@dataclass(slots=True)
class _Outcome:
    """What one attempt comes to, ready to be written."""

    job: _Job
    state: Literal["sent", "pending", "failed"]
    label: str
    code: int | None
    enhanced: str | None
    reply: str
    at: datetime
    due_at: datetime | None = None
    event: Literal["sent", "failed", "gave_up", None] = None
    suppress: bool = False


async def sender_loop(
    engine: AsyncEngine, transport: MailTransport, options: SendOptions, poll_interval: float
) -> None:
    while True:
        try:
            claimed = await send_due_batch(engine, transport, options=options,
                                           now=datetime.now(UTC))
        except Exception as exc:  # the database may be briefly away; keep sending
            log.warning("mailer.send_batch_failed", error=repr(exc))
            claimed = 0
        if claimed < options.batch_size:
            await asyncio.sleep(poll_interval)


async def send_due_batch(
    engine: AsyncEngine, transport: MailTransport, *, options: SendOptions, now: datetime
) -> int:
    """Claim, send and record one batch; returns how many deliveries were claimed."""
    claimed, jobs = await _claim(engine, options, now)
    if not jobs:
        return claimed
    started = time.monotonic()
    cutoff = options.lease.total_seconds() / 2
    recorder = _Recorder(engine, options.record_batch)

    async def run(job: _Job) -> None:
        at = now + timedelta(seconds=time.monotonic() - started)
        try:
            sender, recipient, message = _render(job, options, at)
        except InvalidMessage as exc:
            await recorder.add(_invalid(job, exc, at))
            return
        except Exception as exc:
            # A fault of ours, not of the message: deferred like a 4xx, so that a fixed
            # release can still send it and otherwise the delivery gives up in time, rather
            # than staying `sending` to be claimed again after every lease.
            log.exception("mailer.render_failed", delivery_id=str(job.delivery.id))
            await recorder.add(_deferred(job, None, None, f"rendering failed: {exc!r}", at,
                                         options.retry))
            return
        if time.monotonic() - started > cutoff:
            await recorder.release(job)
            return
        outcome = await _send(transport, job, sender, recipient, message, options.retry,
                              started_at=now + timedelta(seconds=time.monotonic() - started))
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

    await asyncio.gather(*(worker() for _ in range(min(len(jobs), transport.concurrency * 2))))
    try:
        await recorder.flush()
    except Exception as exc:  # raised below, after the earlier ones
        errors.append(exc)
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
        emails: dict[tuple[uuid.UUID, int], _Email] = {}
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
            key = (row.campaign_id, row.sequence)
            email = emails.get(key)
            if email is None:
                email = emails[key] = _Email(
                    content.correlation_id, _template(row, content, options),
                    EmailLinks(options.link_signer, options.public_base_url,
                               row.campaign.workspace_id, row.campaign_id, row.sequence),
                    context_from_headers(content.trace_headers))
            jobs.append(_Job(row, email, row.attempts + 1, row.first_attempt_at or now))
        await uow.commit()
    return len(rows), jobs


async def _send(
    transport: MailTransport, job: _Job, sender: str, recipient: str, message: bytes,
    retry: RetryPolicy, *, started_at: datetime,
) -> _Outcome:
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


def _span(job: _Job, recipient: str) -> AbstractContextManager[Span]:
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


def _render(job: _Job, options: SendOptions, at: datetime) -> tuple[str, str, bytes]:
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


def _invalid(job: _Job, exc: InvalidMessage, at: datetime) -> _Outcome:
    log.warning("mailer.invalid_message", delivery_id=str(job.delivery.id), reason=str(exc))
    return _Outcome(job, "failed", "invalid", None, None, str(exc), at, event="failed")


def _decide(job: _Job, reply: SmtpReply, at: datetime, retry: RetryPolicy) -> _Outcome:
    match classify(reply):
        case Accepted(reply=text):
            return _Outcome(job, "sent", "sent", reply.code, None, text, at, event="sent")
        case Rejected(code=code, enhanced_code=enhanced, reason=reason, suppress=suppress):
            return _Outcome(job, "failed", "rejected", code, enhanced, reason, at,
                            event="failed", suppress=suppress)
        case Deferred(code=code, enhanced_code=enhanced, reason=reason):
            return _deferred(job, code, enhanced, reason, at, retry)


def _deferred(
    job: _Job, code: int | None, enhanced: str | None, reason: str, at: datetime,
    retry: RetryPolicy,
) -> _Outcome:
    """Tried again later by the retry policy, or given up when it says so."""
    retry_at = retry.next_attempt(attempts=job.attempts, first_attempt_at=job.first_attempt_at,
                                  now=at)
    if retry_at is not None:
        return _Outcome(job, "pending", "deferred", code, enhanced, reason, at, due_at=retry_at)
    gave_up = f"gave up after {job.attempts} attempts: {reason}"
    return _Outcome(job, "failed", "expired", code, enhanced, gave_up, at, event="gave_up")


class _Recorder:
    """Collects outcomes and writes them `size` at a time, one transaction per write."""

    def __init__(self, engine: AsyncEngine, size: int) -> None:
        self._engine = engine
        self._size = size
        self._pending: list[_Outcome] = []
        self._lock = asyncio.Lock()

    async def add(self, outcome: _Outcome) -> None:
        self._pending.append(outcome)
        if len(self._pending) >= self._size:
            await self.flush()

    async def flush(self) -> None:
        async with self._lock:
            outcomes, self._pending = self._pending, []
            if outcomes:
                await _write(self._engine, outcomes)

    async def release(self, job: _Job) -> None:
        async with UnitOfWork(self._engine) as uow:
            await db.release(uow.conn, job.delivery.id, attempts=job.attempts)
            await uow.commit()


async def _write(engine: AsyncEngine, outcomes: list[_Outcome]) -> None:
    async with UnitOfWork(engine) as uow:
        recorded = await db.record_outcomes(uow.conn, [
            db.OutcomeRow(
                id=o.job.delivery.id, attempts=o.job.attempts, state=o.state, due_at=o.due_at,
                sent_at=o.at if o.state == "sent" else None, smtp_code=o.code,
                enhanced_code=o.enhanced, last_reply=o.reply,
            )
            for o in outcomes
        ])
        # An outcome not recorded lost its delivery to a newer claim, which reports itself.
        current = [o for o in outcomes if o.job.delivery.id in recorded]
        bounced = [o.job.delivery for o in current if o.suppress]
        if bounced:
            await db.suppress_many(
                uow.conn, [(r.campaign.workspace_id, r.email) for r in bounced], "bounced",
                current[0].at,
            )
        events: list[EmailSent | EmailFailed] = []
        for o in current:
            row, correlation_id = o.job.delivery, o.job.email.correlation_id
            if o.event == "sent":
                events.append(_sent(row, correlation_id, smtp_reply=o.reply))
            elif o.event is not None:
                events.append(_failed(row, correlation_id, permanent=o.event == "failed",
                                      reason=o.reply, code=o.code, enhanced=o.enhanced))
        uow.publish(*events)  # in one call: the trace context is read once
        await uow.commit()
    for label, count in collections.Counter(o.label for o in outcomes).items():
        DELIVERIES.labels(label).inc(count)
    log.info("mailer.outcomes_recorded", count=len(outcomes), current=len(current),
             sent=sum(o.state == "sent" for o in current))


def _sent(row: db.ClaimedRow, correlation_id: uuid.UUID, *, smtp_reply: str) -> EmailSent:
    # Built without validation, one for every message sent: the recipient passed the
    # contract's EmailStr in the audience event that put it in `audience_members` (deliveries
    # take their addresses from there only), and checking it again cost more than rendering
    # the message; the other fields are the mailer's own and bounded here.
    payload = EmailSentPayload.model_construct(
        campaign_id=row.campaign_id, sequence=row.sequence, recipient=row.email,
        message_id=row.message_id, smtp_reply=smtp_reply[:_MAX_REASON])
    return EmailSent.create(
        payload,
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
