"""What one attempt came to, and writing it down: outcomes are recorded in batches, each in
one transaction with its email.sent / email.failed events.

A batch is written once `record_batch` outcomes wait, or once the oldest has waited
`record_max_delay` seconds, whichever comes first: what a crash can leave in doubt (sent, but
not yet recorded) is bounded in count and in time. A write that cannot reach the database is
tried again until it can, for as long as the claims' lease lasts (mailer.outage).
"""

from __future__ import annotations

import asyncio
import collections
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Literal

import structlog
from opentelemetry.context import Context
from prometheus_client import Counter
from sqlalchemy.ext.asyncio import AsyncEngine

from contracts import EmailFailed, EmailSent, deterministic_id
from contracts.events import EmailFailedPayload, EmailSentPayload, FailureKind
from mailer import db
from mailer.domain import InvalidMessage
from mailer.links import EmailLinks
from mailer.outage import Outage, persist
from mailer.policy import Window
from mailer.render import EmailTemplate
from servicekit.db import UnitOfWork

log = structlog.get_logger(__name__)

DELIVERIES = Counter("mailer_deliveries_total", "Delivery attempts by outcome", ["outcome"])

_MAX_REASON = 2_000  # what the event contracts accept


# Job and Outcome are made for every message: plain slotted records cost a fraction of
# frozen ones to build.
@dataclass(slots=True)
class Job:
    delivery: db.ClaimedRow
    email: Email
    attempts: int  # this attempt's number: the fencing token for recording its outcome
    first_attempt_at: datetime
    window: Window | None = None  # the campaign's send window, in the recipient's zone


@dataclass(frozen=True, slots=True)
class Email:
    """What the recipients of one email in a batch share, made once for all of them."""

    correlation_id: uuid.UUID
    template: EmailTemplate | InvalidMessage
    links: EmailLinks
    trace_context: Context  # of the email's content.generated: its sends join that trace


@dataclass(slots=True)
class Outcome:
    """What one attempt comes to, ready to be written."""

    job: Job
    state: Literal["sent", "pending", "failed"]
    label: str
    code: int | None
    enhanced: str | None
    reply: str
    at: datetime
    due_at: datetime | None = None
    # The event it reports: email.sent, email.failed of that kind, or none (tried again later).
    event: Literal["sent"] | FailureKind | None = None
    suppress: bool = False


class Recorder:
    """Collects outcomes and writes them `size` at a time, or `max_delay` seconds after the
    first one of a write came in; one transaction per write, tried again while the database
    is away until `expired()` (the claims' lease has run out). `close` writes the rest and
    raises the first error a write met."""

    def __init__(self, engine: AsyncEngine, size: int, max_delay: float, *, outage: Outage,
                 expired: Callable[[], bool]) -> None:
        self._engine = engine
        self._outage, self._expired = outage, expired
        self._size = size
        self._max_delay = max_delay
        self._pending: list[Outcome] = []
        self._lock = asyncio.Lock()
        self._timer: asyncio.Task[None] | None = None
        self._errors: list[Exception] = []

    async def add(self, outcome: Outcome) -> None:
        self._pending.append(outcome)
        if len(self._pending) >= self._size:
            await self.flush()
        elif self._timer is None:
            self._timer = asyncio.create_task(self._flush_later())

    async def _flush_later(self) -> None:
        await asyncio.sleep(self._max_delay)
        self._timer = None
        try:
            await self.flush()
        except Exception as exc:  # raised by `close`
            self._errors.append(exc)

    async def flush(self) -> None:
        async with self._lock:
            outcomes, self._pending = self._pending, []
            if outcomes:
                await persist(self._outage, self._expired,
                              lambda: write(self._engine, outcomes))

    async def close(self) -> None:
        timer, self._timer = self._timer, None
        if timer is not None:
            timer.cancel()
            await asyncio.gather(timer, return_exceptions=True)
        await self.flush()
        if self._errors:
            raise self._errors[0]


async def release(
    engine: AsyncEngine, jobs: list[Job], *, outage: Outage, expired: Callable[[], bool]
) -> None:
    """Hand claimed deliveries that were never attempted back at once, uncounted; while the
    database is away, as soon as it answers again (or their lease runs out instead)."""

    async def hand_back() -> None:
        async with UnitOfWork(engine) as uow:
            await db.release(uow.conn, [(j.delivery.id, j.attempts) for j in jobs])
            await uow.commit()

    if jobs:
        await persist(outage, expired, hand_back)


async def write(engine: AsyncEngine, outcomes: list[Outcome]) -> None:
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
                events.append(sent_event(row, correlation_id, smtp_reply=o.reply))
            elif o.event is not None:
                events.append(failed_event(row, correlation_id, kind=o.event, reason=o.reply,
                                           code=o.code, enhanced=o.enhanced))
        uow.publish(*events)  # in one call: the trace context is read once
        await uow.commit()
    for label, count in collections.Counter(o.label for o in outcomes).items():
        DELIVERIES.labels(label).inc(count)
    log.info("mailer.outcomes_recorded", count=len(outcomes), current=len(current),
             sent=sum(o.state == "sent" for o in current))


def sent_event(row: db.ClaimedRow, correlation_id: uuid.UUID, *, smtp_reply: str) -> EmailSent:
    # Built without validation, one for every message sent: the recipient passed the
    # contract's EmailStr in the contact or audience event that put it in `contacts`
    # (deliveries take their addresses from there only), and checking it again cost more than
    # rendering the message; the other fields are the mailer's own and bounded here.
    payload = EmailSentPayload.model_construct(
        campaign_id=row.campaign_id, sequence=row.sequence, recipient=row.email,
        message_id=row.message_id, smtp_reply=smtp_reply[:_MAX_REASON], variant=row.variant)
    return EmailSent.create(
        payload,
        workspace_id=row.campaign.workspace_id,
        correlation_id=correlation_id,
        event_id=_outcome_id("email.sent", row),
    )


def failed_event(
    row: db.ClaimedRow,
    correlation_id: uuid.UUID,
    *,
    kind: FailureKind,
    reason: str,
    code: int | None = None,
    enhanced: str | None = None,
) -> EmailFailed:
    """email.failed is final for the delivery. Its kind is named here, never left to the
    contract to infer: bounced (the receiving server refused it), invalid (no safe message
    could be built), suppressed (the address was on the suppression list at send time),
    expired (transient faults went on past the retry policy), or capped (over the workspace's
    frequency cap, which says skip). Only expired is not permanent."""
    return EmailFailed.create(
        EmailFailedPayload(campaign_id=row.campaign_id, sequence=row.sequence,
                           recipient=row.email, permanent=kind != "expired", smtp_code=code,
                           enhanced_code=enhanced, reason=reason[:_MAX_REASON], kind=kind),
        workspace_id=row.campaign.workspace_id,
        correlation_id=correlation_id,
        event_id=_outcome_id("email.failed", row),
    )


def _outcome_id(kind: str, row: db.ClaimedRow) -> uuid.UUID:
    """One outcome event per delivery. A campaign's delivery is one per (campaign, sequence,
    address); a journey's contact who enters again gets a step's email again, a delivery of
    its own (`mailer.journeys`), whose outcome must not be taken for the first one's."""
    if row.campaign.kind == "journey":
        return deterministic_id(kind, row.id)
    return deterministic_id(kind, row.campaign_id, row.sequence, row.email)
