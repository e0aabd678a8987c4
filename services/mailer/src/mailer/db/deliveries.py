"""Deliveries: claiming them under a lease, recording each attempt's outcome, and handing back
or renewing the claims a sender holds (`dispatches` creates them)."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass, fields
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import ARRAY, UUID
from sqlalchemy.ext.asyncio import AsyncConnection

from contracts.ab_tests import VariantKey
from mailer.db.copies import CampaignRow
from mailer.db.tables import campaigns, contacts, deliveries, memberships, suppressions


async def cancel_pending(conn: AsyncConnection, campaign_id: uuid.UUID) -> int:
    result = await conn.execute(
        sa.update(deliveries)
        .where(deliveries.c.campaign_id == campaign_id,
               deliveries.c.state.in_(("pending", "held")))
        .values(state="cancelled", last_reply="campaign cancelled")
    )
    return result.rowcount


@dataclass(frozen=True)
class ClaimedRow:
    """A delivery claimed for sending, with what deciding and rendering it needs."""

    id: uuid.UUID
    campaign_id: uuid.UUID
    sequence: int
    email: str
    message_id: str
    attempts: int  # before this claim
    first_attempt_at: datetime | None
    member_name: str | None
    member_fields: dict[str, str] | None
    member_active: bool
    suppressed: bool
    campaign: CampaignRow
    # The variant it is sent, of an email under an A/B test.
    variant: VariantKey | None = None


async def claim_due(
    conn: AsyncConnection, *, now: datetime, lease: timedelta, limit: int
) -> list[ClaimedRow]:
    """Claim due deliveries, and deliveries orphaned in `sending` past their lease: each is
    locked, marked `sending` and its attempt counted in the statement that finds it.

    Replicas skip each other's rows instead of waiting; a paused campaign's deliveries wait.
    The claim is committed before the first byte goes to the SMTP server.
    """
    orphaned = await conn.execute(_claim(
        _claimable()
        .where(deliveries.c.state == "sending", deliveries.c.sending_since < now - lease)
        .order_by(deliveries.c.sending_since)
        .limit(limit), now))
    # One CampaignRow per campaign, not per delivery: a batch is mostly one email's recipients.
    known: dict[uuid.UUID, CampaignRow] = {}
    rows = [_claimed(r, known) for r in orphaned.all()]
    if len(rows) < limit:
        due = await conn.execute(_claim(
            _claimable()
            .where(deliveries.c.state == "pending", deliveries.c.due_at <= now)
            .order_by(deliveries.c.due_at)
            .limit(limit - len(rows)), now))
        rows.extend(_claimed(r, known) for r in due.all())
    return rows


def _claim(found: sa.Select[Any], now: datetime) -> sa.Update:
    """Mark the locked rows `found` selects as `sending`, returning what `found` read (the
    attempts as they were before this claim)."""
    picked = found.cte("picked")
    return (
        sa.update(deliveries)
        .where(deliveries.c.id == picked.c.id)
        .values(state="sending", sending_since=now, attempts=deliveries.c.attempts + 1,
                first_attempt_at=sa.func.coalesce(deliveries.c.first_attempt_at, now))
        .returning(*picked.c)
    )


def _claimable() -> sa.Select[Any]:
    suppressed = sa.exists().where(
        suppressions.c.workspace_id == campaigns.c.workspace_id,
        suppressions.c.email == sa.func.lower(deliveries.c.email),
    )
    # The contact as it is now: one deleted or no longer subscribed since is not mailed, nor
    # (but in a journey) one who has left the campaign's lists (or joined an excluded one)
    # while the delivery waited, for a retry, a send window or a frequency cap. LATERAL with
    # LIMIT 1, one index probe per delivery: as a plain join, a planner without statistics
    # yet matched on the workspace alone and filtered every contact of it by address.
    on = sa.and_(memberships.c.workspace_id == campaigns.c.workspace_id,
                 memberships.c.email == deliveries.c.email)
    targeted = sa.and_(
        sa.exists().where(on, sa.or_(memberships.c.list_id == campaigns.c.audience_id,
                                     memberships.c.list_id == sa.any_(campaigns.c.target_include))),
        ~sa.exists().where(on, memberships.c.list_id == sa.any_(campaigns.c.target_exclude)),
    )
    contact = (
        sa.select(contacts.c.name, contacts.c.fields, contacts.c.status)
        .where(contacts.c.workspace_id == campaigns.c.workspace_id,
               contacts.c.email == deliveries.c.email)
        .limit(1).lateral("contact"))
    # A journey's contact is mailed for being enrolled (journey.step_due), on no list of it.
    active = sa.and_(contact.c.status == "subscribed",
                     sa.or_(campaigns.c.kind == "journey", targeted))
    return (
        sa.select(
            deliveries.c.id, deliveries.c.campaign_id, deliveries.c.sequence, deliveries.c.email,
            deliveries.c.message_id, deliveries.c.attempts, deliveries.c.first_attempt_at,
            contact.c.name.label("member_name"),
            contact.c.fields.label("member_fields"),
            sa.func.coalesce(active, False).label("member_active"),
            suppressed.label("suppressed"), deliveries.c.variant,
            # Last, in CampaignRow's order: `_claimed` unpacks them by position.
            *(campaigns.c[f.name].label(f"campaign_{f.name}") for f in fields(CampaignRow)),
        )
        .select_from(
            deliveries.join(campaigns, campaigns.c.campaign_id == deliveries.c.campaign_id)
            .outerjoin(contact, sa.true())
        )
        .where(campaigns.c.state != "paused")
        .with_for_update(of=deliveries, skip_locked=True)
    )


def _claimed(r: Sequence[Any], known: dict[uuid.UUID, CampaignRow]) -> ClaimedRow:
    # Unpacked by position, in `_claimable`'s column order: a thousand rows a batch, and
    # reading twenty columns by name cost more than the rest of the claim's client side.
    (id_, campaign_id, sequence, email, message_id, attempts, first_attempt_at, member_name,
     member_fields, member_active, suppressed, variant, *campaign_columns) = r
    campaign = known.get(campaign_id)
    if campaign is None:
        campaign = known[campaign_id] = CampaignRow(*campaign_columns)
    return ClaimedRow(
        id_, campaign_id, sequence, email, message_id, attempts, first_attempt_at, member_name,
        member_fields, member_active=bool(member_active),
        suppressed=bool(suppressed), campaign=campaign, variant=variant,
    )

# Undoes the attempt a claim counted.
_UNCOUNTED: dict[str, Any] = {
    "attempts": deliveries.c.attempts - 1,
    "first_attempt_at": sa.case((deliveries.c.attempts == 1, None),
                                else_=deliveries.c.first_attempt_at),
}


async def settle(
    conn: AsyncConnection, delivery_id: uuid.UUID, *, state: str, **values: Any
) -> None:
    """Give a claimed delivery its final state without sending it; the claim's attempt is
    not counted."""
    await conn.execute(
        sa.update(deliveries).where(deliveries.c.id == delivery_id)
        .values(state=state, sending_since=None, **_UNCOUNTED, **values)
    )


async def defer(
    conn: AsyncConnection, delivery_id: uuid.UUID, *, due_at: datetime, reason: str
) -> None:
    """Hand a claimed delivery back, not attempted, due again at `due_at`, with the reason
    its due time was moved."""
    await conn.execute(
        sa.update(deliveries).where(deliveries.c.id == delivery_id)
        .values(state="pending", sending_since=None, due_at=due_at, deferred_reason=reason,
                **_UNCOUNTED))


@dataclass(frozen=True)
class OutcomeRow:
    id: uuid.UUID
    attempts: int  # the attempt this outcome belongs to
    state: str
    due_at: datetime | None
    sent_at: datetime | None
    smtp_code: int | None
    enhanced_code: str | None
    last_reply: str


_RECORD_OUTCOMES = sa.text("""
    UPDATE deliveries AS d
    SET state = o.state, sending_since = NULL, due_at = coalesce(o.due_at, d.due_at),
        sent_at = o.sent_at, smtp_code = o.smtp_code, enhanced_code = o.enhanced_code,
        last_reply = o.last_reply, updated_at = now()
    FROM unnest(CAST(:ids AS uuid[]), CAST(:attempts AS integer[]), CAST(:states AS text[]),
                CAST(:due_ats AS timestamptz[]), CAST(:sent_ats AS timestamptz[]),
                CAST(:codes AS integer[]), CAST(:enhanced AS text[]), CAST(:replies AS text[]))
         AS o(id, attempts, state, due_at, sent_at, smtp_code, enhanced_code, last_reply)
    WHERE d.id = o.id AND d.state = 'sending' AND d.attempts = o.attempts
    RETURNING d.id
""").bindparams(
    sa.bindparam("ids", type_=ARRAY(UUID(as_uuid=True))),
    sa.bindparam("attempts", type_=ARRAY(sa.Integer)),
    sa.bindparam("states", type_=ARRAY(sa.Text)),
    sa.bindparam("due_ats", type_=ARRAY(sa.DateTime(timezone=True))),
    sa.bindparam("sent_ats", type_=ARRAY(sa.DateTime(timezone=True))),
    sa.bindparam("codes", type_=ARRAY(sa.Integer)),
    sa.bindparam("enhanced", type_=ARRAY(sa.Text)),
    sa.bindparam("replies", type_=ARRAY(sa.Text)),
)


async def record_outcomes(
    conn: AsyncConnection, outcomes: Sequence[OutcomeRow]
) -> set[uuid.UUID]:
    """Record how each attempt ended, in one statement; returns the deliveries recorded. One
    is left out when it was claimed again meanwhile (its lease ran out): the newer attempt
    records its own outcome."""
    if not outcomes:
        return set()
    result = await conn.execute(_RECORD_OUTCOMES, {
        "ids": [o.id for o in outcomes], "attempts": [o.attempts for o in outcomes],
        "states": [o.state for o in outcomes], "due_ats": [o.due_at for o in outcomes],
        "sent_ats": [o.sent_at for o in outcomes], "codes": [o.smtp_code for o in outcomes],
        "enhanced": [o.enhanced_code for o in outcomes],
        "replies": [o.last_reply for o in outcomes],
    })
    return set(result.scalars())


def _held(held: Sequence[tuple[uuid.UUID, int]]) -> sa.ColumnElement[bool]:
    """The claims `held`, (id, attempts) pairs: a claim is its delivery's row while it is still
    `sending` on that attempt (a newer claim of it is not ours any more)."""
    return sa.and_(deliveries.c.state == "sending",
                   sa.tuple_(deliveries.c.id, deliveries.c.attempts).in_(held))


async def release(conn: AsyncConnection, held: Sequence[tuple[uuid.UUID, int]]) -> None:
    """Hand back claimed deliveries, (id, attempts) pairs, that were never attempted:
    `pending` again at once, the claim's attempt not counted."""
    if held:
        await conn.execute(sa.update(deliveries).where(_held(held))
                           .values(state="pending", sending_since=None, **_UNCOUNTED))


async def renew_leases(
    conn: AsyncConnection, held: Sequence[tuple[uuid.UUID, int]], *, now: datetime
) -> int:
    """The heartbeat: the lease of each claim still held starts again at `now` (on the same
    clock as the claims); returns how many were renewed."""
    if not held:
        return 0
    result = await conn.execute(sa.update(deliveries).where(_held(held))
                                .values(sending_since=now))
    return result.rowcount
