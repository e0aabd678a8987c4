"""The mailer's tables and every query it runs."""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, fields
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import ARRAY, JSONB, UUID, insert
from sqlalchemy.ext.asyncio import AsyncConnection

metadata = sa.MetaData()

# The mailer's copy of each campaign: what it needs to address and route mail.
campaigns = sa.Table(
    "campaigns",
    metadata,
    sa.Column("campaign_id", UUID(as_uuid=True), primary_key=True),
    sa.Column("workspace_id", UUID(as_uuid=True), nullable=False),
    sa.Column("audience_id", UUID(as_uuid=True), nullable=False),
    sa.Column("name", sa.Text, nullable=False),
    sa.Column("from_name", sa.Text, nullable=False),
    sa.Column("from_email", sa.Text),
    sa.Column("reply_to", sa.Text),
    # active | paused | cancelled | completed
    sa.Column("state", sa.Text, nullable=False),
    sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False,
              server_default=sa.func.now(), onupdate=sa.func.now()),
)

# The mailer's copy of every audience; a removed member keeps its row, marked removed.
audience_members = sa.Table(
    "audience_members",
    metadata,
    sa.Column("audience_id", UUID(as_uuid=True), primary_key=True),
    sa.Column("email", sa.Text, primary_key=True),
    sa.Column("workspace_id", UUID(as_uuid=True), nullable=False),
    sa.Column("name", sa.Text, nullable=False),
    sa.Column("fields", JSONB, nullable=False),
    sa.Column("removed_at", sa.DateTime(timezone=True)),
    sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False,
              server_default=sa.func.now(), onupdate=sa.func.now()),
)

# Per workspace; addresses are stored lower-cased and matched case-insensitively, because a
# mailbox that unsubscribed as Bob@x.com must not get mail as bob@x.com.
suppressions = sa.Table(
    "suppressions",
    metadata,
    sa.Column("workspace_id", UUID(as_uuid=True), primary_key=True),
    sa.Column("email", sa.Text, primary_key=True),
    sa.Column("reason", sa.Text, nullable=False),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    sa.CheckConstraint("reason IN ('unsubscribed', 'bounced', 'complained', 'failed')",
                       name="suppressions_reason"),
)

# The k-th email of a campaign, stored once however many recipients it has.
contents = sa.Table(
    "contents",
    metadata,
    sa.Column("campaign_id", UUID(as_uuid=True), primary_key=True),
    sa.Column("sequence", sa.Integer, primary_key=True),
    sa.Column("correlation_id", UUID(as_uuid=True), nullable=False),
    sa.Column("send_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("subject", sa.Text, nullable=False),
    sa.Column("preheader", sa.Text, nullable=False),
    sa.Column("body_html", sa.Text, nullable=False),
    sa.Column("body_text", sa.Text, nullable=False),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False,
              server_default=sa.func.now()),
    # The trace context of content.generated: the SMTP sends join the email's trace.
    sa.Column("trace_headers", JSONB),
)

# One row per (campaign, sequence, recipient), whose id is derived from the three (see
# `create_deliveries`); see mailer.domain for the state machine.
deliveries = sa.Table(
    "deliveries",
    metadata,
    sa.Column("id", UUID(as_uuid=True), primary_key=True),
    sa.Column("campaign_id", UUID(as_uuid=True), nullable=False),
    sa.Column("sequence", sa.Integer, nullable=False),
    sa.Column("email", sa.Text, nullable=False),
    sa.Column("audience_id", UUID(as_uuid=True), nullable=False),
    sa.Column("message_id", sa.Text, nullable=False),
    sa.Column("state", sa.Text, nullable=False),
    sa.Column("due_at", sa.DateTime(timezone=True), nullable=False),
    # Claims so far; also the fencing token an outcome must match to be recorded.
    sa.Column("attempts", sa.Integer, nullable=False, server_default="0"),
    sa.Column("first_attempt_at", sa.DateTime(timezone=True)),
    # When the claim was made or its holder's heartbeat last renewed it: a `sending` row
    # older than the lease has no live holder and is claimed again.
    sa.Column("sending_since", sa.DateTime(timezone=True)),
    sa.Column("sent_at", sa.DateTime(timezone=True)),
    sa.Column("smtp_code", sa.Integer),
    sa.Column("enhanced_code", sa.Text),
    # The last SMTP reply, or why the delivery was not sent.
    sa.Column("last_reply", sa.Text),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False,
              server_default=sa.func.now()),
    sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False,
              server_default=sa.func.now(), onupdate=sa.func.now()),
    sa.ForeignKeyConstraint(["campaign_id", "sequence"],
                            ["contents.campaign_id", "contents.sequence"],
                            name="deliveries_content"),
    sa.CheckConstraint(
        "state IN ('pending', 'sending', 'sent', 'failed', 'suppressed', 'cancelled')",
        name="deliveries_state",
    ),
    # Finding due work costs what is due, not how much was ever sent.
    sa.Index("deliveries_due", "due_at", postgresql_where=sa.text("state = 'pending'")),
    sa.Index("deliveries_in_flight", "sending_since",
             postgresql_where=sa.text("state = 'sending'")),
)


# --- campaigns ------------------------------------------------------------------------------


@dataclass(frozen=True)
class CampaignRow:
    campaign_id: uuid.UUID
    workspace_id: uuid.UUID
    audience_id: uuid.UUID
    name: str
    from_name: str
    from_email: str | None
    reply_to: str | None
    state: str


async def upsert_campaign(conn: AsyncConnection, **values: Any) -> None:
    """A new campaign starts active; a known one takes the new definition and keeps its state."""
    stmt = insert(campaigns).values(state="active", **values)
    changed = {k: stmt.excluded[k] for k in values if k != "campaign_id"}
    await conn.execute(stmt.on_conflict_do_update(
        index_elements=[campaigns.c.campaign_id], set_={**changed, "updated_at": sa.func.now()},
    ))


async def get_campaign(
    conn: AsyncConnection, campaign_id: uuid.UUID, *, for_update: bool = False
) -> CampaignRow | None:
    stmt = sa.select(campaigns).where(campaigns.c.campaign_id == campaign_id)
    if for_update:
        stmt = stmt.with_for_update()
    row = (await conn.execute(stmt)).first()
    if row is None:
        return None
    return CampaignRow(row.campaign_id, row.workspace_id, row.audience_id, row.name,
                       row.from_name, row.from_email, row.reply_to, row.state)


async def set_campaign_state(conn: AsyncConnection, campaign_id: uuid.UUID, state: str) -> None:
    await conn.execute(
        sa.update(campaigns).where(campaigns.c.campaign_id == campaign_id).values(state=state)
    )


async def cancel_pending(conn: AsyncConnection, campaign_id: uuid.UUID) -> int:
    result = await conn.execute(
        sa.update(deliveries)
        .where(deliveries.c.campaign_id == campaign_id, deliveries.c.state == "pending")
        .values(state="cancelled", last_reply="campaign cancelled")
    )
    return result.rowcount


# --- audiences and suppressions -------------------------------------------------------------


async def upsert_members(
    conn: AsyncConnection,
    audience_id: uuid.UUID,
    workspace_id: uuid.UUID,
    members: Sequence[tuple[str, str, dict[str, str]]],
) -> None:
    """(email, name, fields) per member; a member added again is current again."""
    stmt = insert(audience_members)
    await conn.execute(
        stmt.on_conflict_do_update(
            index_elements=[audience_members.c.audience_id, audience_members.c.email],
            set_={"name": stmt.excluded.name, "fields": stmt.excluded.fields,
                  "removed_at": None, "updated_at": sa.func.now()},
        ),
        [{"audience_id": audience_id, "workspace_id": workspace_id, "email": email,
          "name": name, "fields": fields} for email, name, fields in members],
    )


async def remove_members(
    conn: AsyncConnection, audience_id: uuid.UUID, emails: Iterable[str], at: datetime
) -> None:
    await conn.execute(
        sa.update(audience_members)
        .where(audience_members.c.audience_id == audience_id,
               audience_members.c.email.in_(list(emails)),
               audience_members.c.removed_at.is_(None))
        .values(removed_at=at)
    )


async def suppress(
    conn: AsyncConnection, workspace_id: uuid.UUID, email: str, reason: str, at: datetime
) -> None:
    """The first reason an address was suppressed for is the one kept."""
    await conn.execute(
        insert(suppressions)
        .values(workspace_id=workspace_id, email=email.lower(), reason=reason, created_at=at)
        .on_conflict_do_nothing()
    )


async def suppress_many(
    conn: AsyncConnection, addresses: Sequence[tuple[uuid.UUID, str]], reason: str,
    at: datetime,
) -> None:
    """(workspace_id, email) pairs, in one statement; as `suppress`."""
    await conn.execute(
        insert(suppressions).on_conflict_do_nothing(),
        [{"workspace_id": ws, "email": email.lower(), "reason": reason, "created_at": at}
         for ws, email in addresses],
    )


# --- contents and deliveries ----------------------------------------------------------------


@dataclass(frozen=True)
class ContentRow:
    correlation_id: uuid.UUID
    subject: str
    preheader: str
    body_html: str
    body_text: str
    trace_headers: dict[str, str] | None = None


async def insert_content(conn: AsyncConnection, **values: Any) -> bool:
    """False when this (campaign, sequence) was stored before."""
    stmt = insert(contents).values(**values).on_conflict_do_nothing().returning(
        contents.c.campaign_id
    )
    return (await conn.execute(stmt)).first() is not None


async def create_deliveries(
    conn: AsyncConnection,
    *,
    campaign_id: uuid.UUID,
    sequence: int,
    audience_id: uuid.UUID,
    due_at: datetime,
    message_domain: str,
) -> int:
    """One pending delivery per current member, in one statement however large the audience.

    The id is md5("campaign:sequence:email") read as a UUID: the same recipient of the same
    email always gets the same id, and so the same Message-ID, on every replica and retry.
    """
    key = sa.func.md5(
        sa.literal(f"{campaign_id}:{sequence}:", sa.Text) + audience_members.c.email
    ).cast(UUID(as_uuid=True))
    members = sa.select(
        key,
        sa.literal(campaign_id, UUID(as_uuid=True)),
        sa.literal(sequence, sa.Integer),
        audience_members.c.email,
        audience_members.c.audience_id,
        sa.literal("<", sa.Text) + key.cast(sa.Text) + sa.literal(f"@{message_domain}>", sa.Text),
        sa.literal("pending", sa.Text),
        sa.literal(due_at, sa.DateTime(timezone=True)),
    ).where(audience_members.c.audience_id == audience_id,
            audience_members.c.removed_at.is_(None))
    stmt = insert(deliveries).from_select(
        ["id", "campaign_id", "sequence", "email", "audience_id", "message_id", "state",
         "due_at"],
        members,
    ).on_conflict_do_nothing()
    result = await conn.execute(stmt)
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
    member = sa.and_(audience_members.c.audience_id == deliveries.c.audience_id,
                     audience_members.c.email == deliveries.c.email)
    return (
        sa.select(
            deliveries.c.id, deliveries.c.campaign_id, deliveries.c.sequence, deliveries.c.email,
            deliveries.c.message_id, deliveries.c.attempts, deliveries.c.first_attempt_at,
            audience_members.c.name.label("member_name"),
            audience_members.c.fields.label("member_fields"),
            audience_members.c.removed_at.label("member_removed_at"),
            audience_members.c.email.label("member_email"),
            suppressed.label("suppressed"),
            # Last, in CampaignRow's order: `_claimed` unpacks them by position.
            *(campaigns.c[f.name].label(f"campaign_{f.name}") for f in fields(CampaignRow)),
        )
        .select_from(
            deliveries.join(campaigns, campaigns.c.campaign_id == deliveries.c.campaign_id)
            .outerjoin(audience_members, member)
        )
        .where(campaigns.c.state != "paused")
        .with_for_update(of=deliveries, skip_locked=True)
    )


def _claimed(r: Sequence[Any], known: dict[uuid.UUID, CampaignRow]) -> ClaimedRow:
    # Unpacked by position, in `_claimable`'s column order: a thousand rows a batch, and
    # reading twenty columns by name cost more than the rest of the claim's client side.
    (id_, campaign_id, sequence, email, message_id, attempts, first_attempt_at, member_name,
     member_fields, member_removed_at, member_email, suppressed, *campaign_columns) = r
    campaign = known.get(campaign_id)
    if campaign is None:
        campaign = known[campaign_id] = CampaignRow(*campaign_columns)
    return ClaimedRow(
        id_, campaign_id, sequence, email, message_id, attempts, first_attempt_at, member_name,
        member_fields, member_active=member_email is not None and member_removed_at is None,
        suppressed=bool(suppressed), campaign=campaign,
    )


async def contents_for(
    conn: AsyncConnection, keys: Iterable[tuple[uuid.UUID, int]]
) -> dict[tuple[uuid.UUID, int], ContentRow]:
    wanted = list(set(keys))
    if not wanted:
        return {}
    rows = await conn.execute(
        sa.select(contents).where(sa.tuple_(contents.c.campaign_id, contents.c.sequence)
                                  .in_(wanted))
    )
    return {
        (r.campaign_id, r.sequence): ContentRow(r.correlation_id, r.subject, r.preheader,
                                                r.body_html, r.body_text, r.trace_headers)
        for r in rows
    }


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
