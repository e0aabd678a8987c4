"""Transactional mail (transactional.requested): one message sent at once outside any
campaign, a sign-up's confirmation. Stored once by its message id, it goes out through the
campaigns' transport and retry policy, but it is not campaign mail: no tracked links or open
pixel, no List-Id or List-Unsubscribe, never counted by the frequency cap, no email.sent or
email.failed (those count a campaign's deliveries); its outcome is recorded on its row. Of the
suppression list only a bounce or a complaint stops it: the person has just asked for it.

Claims are leased as deliveries' are; a message takes seconds to send, so no heartbeat renews
them, and one left `sending` by a crash is sent again after the lease.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

import structlog
from prometheus_client import Counter
from sqlalchemy.ext.asyncio import AsyncEngine

from contracts.events import SUPPRESSED_REASON
from mailer.db import copies
from mailer.db import transactional as stored
from mailer.domain import (
    Accepted,
    Content,
    Deferred,
    InvalidMessage,
    Recipient,
    Rejected,
    Sender,
    classify,
)
from mailer.mime import smtp_address
from mailer.render import render_transactional
from mailer.sender import MailTransport, SendOptions
from servicekit.shutdown import Shutdown

log = structlog.get_logger(__name__)

TRANSACTIONAL = Counter("mailer_transactional_total", "Transactional messages by outcome",
                        ["outcome"])


async def send_transactional(
    engine: AsyncEngine, transport: MailTransport, *, options: SendOptions, now: datetime,
) -> int:
    """Claim the due messages, send each and record how it went; returns how many were
    claimed."""
    async with engine.begin() as conn:
        claimed = await stored.claim(conn, now=now, lease=options.lease,
                                     limit=options.batch_size)
        for message in claimed:
            if message.suppressed:
                await stored.record(conn, message.message_id, message.attempts,
                                    state="suppressed", last_reply=SUPPRESSED_REASON)
                TRANSACTIONAL.labels("suppressed").inc()
    sending = [m for m in claimed if not m.suppressed]
    limit = asyncio.Semaphore(max(1, transport.concurrency))

    async def one(message: stored.ClaimedMessage) -> None:
        async with limit:
            await _send(engine, transport, message, options)

    await asyncio.gather(*(one(m) for m in sending))
    return len(claimed)


async def _send(engine: AsyncEngine, transport: MailTransport,
                message: stored.ClaimedMessage, options: SendOptions) -> None:
    default = options.default_sender
    sender = Sender(message.from_name or default.name, message.from_email or default.address)
    started = datetime.now(UTC)
    try:
        data = render_transactional(
            sender, Recipient(message.email, message.name),
            Content(message.subject, "", message.body_html, message.body_text),
            message_id=f"<{message.message_id}@{sender.domain}>", date=started)
        reply = await transport.send(smtp_address(sender.address, "from"),
                                     smtp_address(message.email), data)
    except InvalidMessage as exc:
        await _record(engine, message, "failed", "invalid", last_reply=str(exc))
        return
    at = datetime.now(UTC)
    match classify(reply):
        case Accepted(reply=text):
            await _record(engine, message, "sent", "sent", sent_at=at, smtp_code=reply.code,
                          last_reply=text)
        case Rejected(code=code, reason=reason, suppress=suppress):
            await _record(engine, message, "failed", "rejected", smtp_code=code,
                          last_reply=reason, bounced=suppress, at=at)
        case Deferred(code=code, reason=reason):
            retry_at = options.retry.next_attempt(
                attempts=message.attempts, first_attempt_at=message.first_attempt_at, now=at)
            if retry_at is None:
                await _record(engine, message, "failed", "expired", smtp_code=code,
                              last_reply=f"gave up after {message.attempts} attempts: {reason}")
            else:
                await _record(engine, message, "pending", "deferred", due_at=retry_at,
                              smtp_code=code, last_reply=reason)


async def _record(
    engine: AsyncEngine, message: stored.ClaimedMessage, state: str, label: str, *,
    last_reply: str, smtp_code: int | None = None, due_at: datetime | None = None,
    sent_at: datetime | None = None, bounced: bool = False, at: datetime | None = None,
) -> None:
    async with engine.begin() as conn:
        current = await stored.record(conn, message.message_id, message.attempts, state=state,
                                      due_at=due_at, sent_at=sent_at, smtp_code=smtp_code,
                                      last_reply=last_reply)
        if current and bounced:
            # The address itself is bad: as for campaign mail, nothing is sent to it again.
            await copies.suppress_many(conn, [(message.workspace_id, message.email)],
                                       "bounced", at or datetime.now(UTC))
    TRANSACTIONAL.labels(label).inc()
    log.info("mailer.transactional_recorded", message_id=str(message.message_id),
             outcome=label, current=current)


async def transactional_loop(
    engine: AsyncEngine, transport: MailTransport, options: SendOptions, poll_interval: float,
    *, shutdown: Shutdown,
) -> None:
    """Until `shutdown` is requested: the due messages, then a wait of `poll_interval`."""
    while not shutdown.requested:
        try:
            claimed = await send_transactional(engine, transport, options=options,
                                               now=datetime.now(UTC))
        except Exception as exc:  # the database may be briefly away; the messages wait
            log.warning("mailer.transactional_failed", error=repr(exc))
            claimed = 0
        if claimed < options.batch_size:
            await shutdown.sleep(poll_interval)


