"""Transactional messages: stored once by message id, claimed under a lease like deliveries,
their outcome recorded on the row."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncConnection

from mailer.db.tables import suppressions, transactional_messages

# A confirmation goes to someone who has just asked for it: only an address that bounced or
# complained is not mailed (an earlier unsubscribe is what a new sign-up may undo).
BLOCKING_SUPPRESSIONS = ("bounced", "complained")


async def store(conn: AsyncConnection, *, due_at: datetime, **values: Any) -> bool:
    """The message, pending from `due_at`; False when its message id is stored already."""
    result = await conn.execute(
        insert(transactional_messages)
        .values(state="pending", due_at=due_at, **values)
        .on_conflict_do_nothing()
        .returning(transactional_messages.c.message_id))
    return result.first() is not None


@dataclass(frozen=True)
class ClaimedMessage:
    message_id: uuid.UUID
    workspace_id: uuid.UUID
    email: str
    name: str
    from_name: str
    from_email: str | None
    subject: str
    body_html: str
    body_text: str
    attempts: int  # with this claim's
    first_attempt_at: datetime
    suppressed: bool


async def claim(
    conn: AsyncConnection, *, now: datetime, lease: timedelta, limit: int
) -> list[ClaimedMessage]:
    """Due messages, and messages left `sending` past their lease, marked `sending` with the
    attempt counted; replicas skip each other's rows."""
    t = transactional_messages.c
    blocked = sa.exists().where(
        suppressions.c.workspace_id == t.workspace_id,
        suppressions.c.email == sa.func.lower(t.email),
        suppressions.c.reason.in_(BLOCKING_SUPPRESSIONS))
    picked = (
        sa.select(t.message_id, blocked.label("suppressed"))
        .where(sa.or_(sa.and_(t.state == "pending", t.due_at <= now),
                      sa.and_(t.state == "sending", t.sending_since < now - lease)))
        .order_by(t.due_at).limit(limit)
        .with_for_update(of=transactional_messages, skip_locked=True)
        .cte("picked"))
    rows = await conn.execute(
        sa.update(transactional_messages)
        .where(t.message_id == picked.c.message_id)
        .values(state="sending", sending_since=now, attempts=t.attempts + 1,
                first_attempt_at=sa.func.coalesce(t.first_attempt_at, now))
        .returning(t.message_id, t.workspace_id, t.email, t.name, t.from_name, t.from_email,
                   t.subject, t.body_html, t.body_text, t.attempts, t.first_attempt_at,
                   picked.c.suppressed))
    return [ClaimedMessage(*r) for r in rows]


async def record(
    conn: AsyncConnection, message_id: uuid.UUID, attempts: int, *, state: str,
    due_at: datetime | None = None, sent_at: datetime | None = None,
    smtp_code: int | None = None, last_reply: str,
) -> bool:
    """How the claim `attempts` of the message ended; False when a newer claim holds it."""
    t = transactional_messages.c
    values: dict[str, Any] = {"state": state, "sending_since": None, "sent_at": sent_at,
                              "smtp_code": smtp_code, "last_reply": last_reply}
    if due_at is not None:
        values["due_at"] = due_at
    result = await conn.execute(
        sa.update(transactional_messages)
        .where(t.message_id == message_id, t.state == "sending", t.attempts == attempts)
        .values(**values))
    return result.rowcount == 1
