"""campaign-api's tables (workspaces, keys, campaigns, audiences, read models) and its queries."""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import JSONB, UUID, distinct_on, insert
from sqlalchemy.ext.asyncio import AsyncConnection

AnyRow = sa.Row[*tuple[Any, ...]]

metadata = sa.MetaData()

_now = sa.func.now

workspaces = sa.Table(
    "workspaces",
    metadata,
    sa.Column("id", UUID(as_uuid=True), primary_key=True),
    sa.Column("name", sa.Text, nullable=False, unique=True),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False, server_default=_now()),
)

api_keys = sa.Table(
    "api_keys",
    metadata,
    sa.Column("id", UUID(as_uuid=True), primary_key=True),
    sa.Column("workspace_id", UUID(as_uuid=True), sa.ForeignKey("workspaces.id"), nullable=False),
    sa.Column("key_hash", sa.Text, nullable=False, unique=True),
    sa.Column("name", sa.Text, nullable=False),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False, server_default=_now()),
    sa.Column("revoked_at", sa.DateTime(timezone=True)),
)

# A signed-in dashboard visitor: the cookie names the row, so deleting it signs them out.
dashboard_sessions = sa.Table(
    "dashboard_sessions",
    metadata,
    sa.Column("id", UUID(as_uuid=True), primary_key=True),
    sa.Column("api_key_id", UUID(as_uuid=True), sa.ForeignKey("api_keys.id", ondelete="CASCADE"),
              nullable=False),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False, server_default=_now()),
    sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
)

campaigns = sa.Table(
    "campaigns",
    metadata,
    sa.Column("id", UUID(as_uuid=True), primary_key=True),
    sa.Column("workspace_id", UUID(as_uuid=True), sa.ForeignKey("workspaces.id"), nullable=False),
    sa.Column("audience_id", UUID(as_uuid=True), nullable=False),
    sa.Column("name", sa.Text, nullable=False),
    # The campaign.created payload as sent: the one source for detail views.
    sa.Column("definition", JSONB, nullable=False),
    sa.Column("status", sa.Text, nullable=False),
    sa.Column("emails_generated", sa.Integer, nullable=False, server_default="0"),
    sa.Column("emails_failed", sa.Integer, nullable=False, server_default="0"),
    sa.Column("deliveries_sent", sa.Integer, nullable=False, server_default="0"),
    sa.Column("deliveries_failed", sa.Integer, nullable=False, server_default="0"),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False, server_default=_now()),
    sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False, server_default=_now()),
    sa.Column("archived_at", sa.DateTime(timezone=True)),
    # The scheduler's plan, from campaign.scheduled.
    sa.Column("planned_emails", sa.Integer),
    sa.Column("next_sequence", sa.Integer),
    sa.Column("next_send_times", JSONB, nullable=False, server_default=sa.text("'[]'::jsonb")),
    sa.Index("campaigns_by_workspace", "workspace_id", "created_at", "id"),
)

audience_members = sa.Table(
    "audience_members",
    metadata,
    sa.Column("audience_id", UUID(as_uuid=True), primary_key=True),
    sa.Column("email", sa.Text, primary_key=True),
    sa.Column("workspace_id", UUID(as_uuid=True), nullable=False),
    sa.Column("name", sa.Text, nullable=False, server_default=""),
    sa.Column("fields", JSONB, nullable=False, server_default=sa.text("'{}'::jsonb")),
    sa.Column("added_at", sa.DateTime(timezone=True), nullable=False, server_default=_now()),
)

campaign_emails = sa.Table(
    "campaign_emails",
    metadata,
    sa.Column("campaign_id", UUID(as_uuid=True), primary_key=True),
    sa.Column("sequence", sa.Integer, primary_key=True),
    sa.Column("subject", sa.Text),
    sa.Column("model", sa.Text),
    sa.Column("structure", sa.Text),
    sa.Column("send_at", sa.DateTime(timezone=True)),
    sa.Column("prompt_tokens", sa.Integer, nullable=False, server_default="0"),
    sa.Column("completion_tokens", sa.Integer, nullable=False, server_default="0"),
    sa.Column("cost", sa.Numeric(14, 8), nullable=False, server_default="0"),
    sa.Column("failure", sa.Text),
    sa.Column("sent", sa.Integer, nullable=False, server_default="0"),
    sa.Column("failed", sa.Integer, nullable=False, server_default="0"),
    # Failed deliveries (`failed`) by kind: what the receiving side refused (`bounced`), messages
    # that could not be built, suppressed addresses, retries given up (contracts' FailureKind).
    sa.Column("bounced", sa.Integer, nullable=False, server_default="0"),
    sa.Column("invalid", sa.Integer, nullable=False, server_default="0"),
    sa.Column("suppressed", sa.Integer, nullable=False, server_default="0"),
    sa.Column("expired", sa.Integer, nullable=False, server_default="0"),
)

# One row per failed delivery, as email.failed reported it.
delivery_failures = sa.Table(
    "delivery_failures",
    metadata,
    sa.Column("campaign_id", UUID(as_uuid=True), primary_key=True),
    sa.Column("sequence", sa.Integer, primary_key=True),
    sa.Column("recipient", sa.Text, primary_key=True),
    sa.Column("kind", sa.Text, nullable=False),
    sa.Column("reason", sa.Text, nullable=False),
    sa.Column("smtp_code", sa.Integer),
    sa.Column("enhanced_code", sa.Text),
    sa.Column("failed_at", sa.DateTime(timezone=True), nullable=False),
    sa.CheckConstraint("kind IN ('bounced', 'invalid', 'suppressed', 'expired')",
                       name="delivery_failures_kind"),
    sa.Index("delivery_failures_newest", "campaign_id", sa.text("failed_at DESC"), "sequence",
             "recipient"),
    sa.Index("delivery_failures_by_recipient", "campaign_id", "recipient", "kind"),
)

idempotency_keys = sa.Table(
    "idempotency_keys",
    metadata,
    sa.Column("workspace_id", UUID(as_uuid=True), primary_key=True),
    sa.Column("key", sa.Text, primary_key=True),
    sa.Column("request_hash", sa.Text, nullable=False),
    # NULL while the first request is still being answered.
    sa.Column("status_code", sa.Integer),
    sa.Column("response", sa.LargeBinary),
    sa.Column("media_type", sa.Text),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False, server_default=_now()),
)

# Opens, clicks and unsubscribes: campaign-api publishes these itself and records each here in
# the same transaction, so the stats count exactly what was published.
engagements = sa.Table(
    "engagements",
    metadata,
    sa.Column("id", sa.BigInteger, sa.Identity(), primary_key=True),
    sa.Column("workspace_id", UUID(as_uuid=True), nullable=False),
    sa.Column("campaign_id", UUID(as_uuid=True), nullable=False),
    sa.Column("sequence", sa.Integer, nullable=False),
    sa.Column("email", sa.Text, nullable=False),
    sa.Column("kind", sa.Text, nullable=False),
    sa.Column("url", sa.Text),
    sa.Column("occurred_at", sa.DateTime(timezone=True), nullable=False, server_default=_now()),
    sa.Index("engagements_by_campaign", "campaign_id", "kind", "sequence"),
    sa.Index("engagements_unsubscribed", "workspace_id", "email",
             postgresql_where=sa.text("kind = 'unsubscribe'")),
)




# --- workspaces and keys -------------------------------------------------------------------


async def workspace_for_key(conn: AsyncConnection, key_hash: str) -> uuid.UUID | None:
    row = (
        await conn.execute(
            sa.select(api_keys.c.workspace_id).where(
                api_keys.c.key_hash == key_hash, api_keys.c.revoked_at.is_(None)
            )
        )
    ).first()
    return row.workspace_id if row else None


async def ensure_workspace(conn: AsyncConnection, name: str) -> uuid.UUID:
    await conn.execute(
        insert(workspaces).values(id=uuid.uuid4(), name=name).on_conflict_do_nothing()
    )
    ws_id: uuid.UUID = (
        await conn.execute(sa.select(workspaces.c.id).where(workspaces.c.name == name))
    ).scalar_one()
    return ws_id


async def get_workspace(conn: AsyncConnection, workspace_id: uuid.UUID) -> AnyRow | None:
    return (await conn.execute(
        sa.select(workspaces).where(workspaces.c.id == workspace_id))).first()


async def add_api_key(
    conn: AsyncConnection, workspace_id: uuid.UUID, key_hash: str, name: str
) -> AnyRow:
    return (await conn.execute(
        api_keys.insert().values(id=uuid.uuid4(), workspace_id=workspace_id, key_hash=key_hash,
                                 name=name)
        .returning(api_keys.c.id, api_keys.c.name, api_keys.c.created_at, api_keys.c.revoked_at)
    )).one()


async def list_api_keys(conn: AsyncConnection, workspace_id: uuid.UUID) -> list[AnyRow]:
    return list((await conn.execute(
        sa.select(api_keys.c.id, api_keys.c.name, api_keys.c.created_at, api_keys.c.revoked_at)
        .where(api_keys.c.workspace_id == workspace_id)
        .order_by(api_keys.c.created_at, api_keys.c.id)
    )).all())


async def revoke_api_key(
    conn: AsyncConnection, workspace_id: uuid.UUID, key_id: uuid.UUID
) -> bool:
    """False when the workspace has no such key."""
    found = (await conn.execute(
        sa.update(api_keys)
        .where(api_keys.c.id == key_id, api_keys.c.workspace_id == workspace_id)
        .values(revoked_at=sa.func.coalesce(api_keys.c.revoked_at, sa.func.now()))
        .returning(api_keys.c.id)
    )).first()
    return found is not None


async def start_session(
    conn: AsyncConnection, key_hash: str, lifetime: timedelta
) -> tuple[uuid.UUID, uuid.UUID] | None:
    """A new session of a live key: (session id, workspace id); None for no such key."""
    key = (await conn.execute(
        sa.select(api_keys.c.id, api_keys.c.workspace_id)
        .where(api_keys.c.key_hash == key_hash, api_keys.c.revoked_at.is_(None))
    )).first()
    if key is None:
        return None
    # Expired sessions are dropped here: sign-ins are rare enough to carry the clean-up.
    await conn.execute(sa.delete(dashboard_sessions)
                       .where(dashboard_sessions.c.expires_at <= _now()))
    session_id = uuid.uuid4()
    await conn.execute(dashboard_sessions.insert().values(
        id=session_id, api_key_id=key.id, expires_at=_now() + lifetime))
    return session_id, key.workspace_id


async def session_workspace(conn: AsyncConnection, session_id: uuid.UUID) -> uuid.UUID | None:
    """The workspace of a session that is live, and whose key is too."""
    found: uuid.UUID | None = (await conn.execute(
        sa.select(api_keys.c.workspace_id)
        .join(dashboard_sessions, dashboard_sessions.c.api_key_id == api_keys.c.id)
        .where(dashboard_sessions.c.id == session_id, dashboard_sessions.c.expires_at > _now(),
               api_keys.c.revoked_at.is_(None))
    )).scalar_one_or_none()
    return found


async def end_session(conn: AsyncConnection, session_id: uuid.UUID) -> None:
    await conn.execute(sa.delete(dashboard_sessions).where(dashboard_sessions.c.id == session_id))


async def campaign_ids_of(conn: AsyncConnection, workspace_id: uuid.UUID) -> set[uuid.UUID]:
    return set((await conn.execute(
        sa.select(campaigns.c.id).where(campaigns.c.workspace_id == workspace_id))).scalars())


# --- campaigns -----------------------------------------------------------------------------


async def insert_campaign(conn: AsyncConnection, **values: Any) -> None:
    await conn.execute(campaigns.insert().values(**values))


_LIST_COLUMNS = (
    campaigns.c.id, campaigns.c.name, campaigns.c.status, campaigns.c.definition,
    campaigns.c.audience_id,
    campaigns.c.emails_generated, campaigns.c.emails_failed, campaigns.c.deliveries_sent,
    campaigns.c.deliveries_failed, campaigns.c.created_at, campaigns.c.updated_at,
    campaigns.c.archived_at, campaigns.c.planned_emails, campaigns.c.next_sequence,
    campaigns.c.next_send_times,
    sa.select(sa.func.count())
    .where(audience_members.c.audience_id == campaigns.c.audience_id)
    .scalar_subquery()
    .label("recipients"),
)


def _like_pattern(text: str) -> str:
    escaped = text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


async def list_campaigns(
    conn: AsyncConnection, workspace_id: uuid.UUID, *, limit: int,
    before: tuple[datetime, uuid.UUID] | None = None, statuses: list[str] | None = None,
    text: str | None = None, archived: bool = False,
) -> list[AnyRow]:
    query = sa.select(*_LIST_COLUMNS).where(campaigns.c.workspace_id == workspace_id)
    query = query.where(campaigns.c.archived_at.isnot(None) if archived
                        else campaigns.c.archived_at.is_(None))
    if before is not None:
        # (created_at, id) is unique, so a page boundary never skips or repeats a tie.
        query = query.where(sa.tuple_(campaigns.c.created_at, campaigns.c.id)
                            < sa.tuple_(sa.literal(before[0]), sa.literal(before[1])))
    if statuses:
        query = query.where(campaigns.c.status.in_(statuses))
    if text:
        pattern = _like_pattern(text)
        query = query.where(sa.or_(
            campaigns.c.name.ilike(pattern, escape="\\"),
            campaigns.c.definition["description"].astext.ilike(pattern, escape="\\"),
        ))
    query = query.order_by(campaigns.c.created_at.desc(), campaigns.c.id.desc()).limit(limit)
    return list((await conn.execute(query)).all())


async def get_campaign(
    conn: AsyncConnection, workspace_id: uuid.UUID, campaign_id: uuid.UUID, *,
    for_update: bool = False,
) -> AnyRow | None:
    # Scoped by workspace: another workspace's id is simply not found.
    query = sa.select(*_LIST_COLUMNS).where(
        campaigns.c.id == campaign_id, campaigns.c.workspace_id == workspace_id)
    if for_update:
        query = query.with_for_update(of=campaigns)
    return (await conn.execute(query)).first()


async def update_campaign(conn: AsyncConnection, campaign_id: uuid.UUID, **values: Any) -> None:
    await conn.execute(
        sa.update(campaigns).where(campaigns.c.id == campaign_id)
        .values(updated_at=sa.func.now(), **values)
    )


async def campaign_emails_of(conn: AsyncConnection, campaign_id: uuid.UUID) -> list[AnyRow]:
    return list(
        (
            await conn.execute(
                sa.select(campaign_emails)
                .where(campaign_emails.c.campaign_id == campaign_id)
                .order_by(campaign_emails.c.sequence)
            )
        ).all()
    )


async def record_generated(conn: AsyncConnection, **values: Any) -> None:
    stmt = insert(campaign_emails).values(**values)
    excluded = {k: stmt.excluded[k] for k in values if k not in ("campaign_id", "sequence")}
    await conn.execute(stmt.on_conflict_do_update(
        index_elements=["campaign_id", "sequence"], set_=excluded))


async def bump_campaign(conn: AsyncConnection, campaign_id: uuid.UUID, **counters: int) -> None:
    await conn.execute(
        sa.update(campaigns)
        .where(campaigns.c.id == campaign_id)
        .values(updated_at=sa.func.now(),
                **{name: campaigns.c[name] + delta for name, delta in counters.items()})
    )


async def bump_email(
    conn: AsyncConnection, campaign_id: uuid.UUID, sequence: int, **counters: int
) -> None:
    stmt = insert(campaign_emails).values(campaign_id=campaign_id, sequence=sequence, **counters)
    await conn.execute(stmt.on_conflict_do_update(
        index_elements=["campaign_id", "sequence"],
        set_={name: campaign_emails.c[name] + delta for name, delta in counters.items()},
    ))


async def set_status(conn: AsyncConnection, campaign_id: uuid.UUID, status: str) -> None:
    await conn.execute(
        sa.update(campaigns).where(campaigns.c.id == campaign_id)
        .values(status=status, updated_at=sa.func.now())
    )


async def planned_times(conn: AsyncConnection, campaign_id: uuid.UUID) -> list[str]:
    times = (await conn.execute(sa.select(campaigns.c.next_send_times)
                                .where(campaigns.c.id == campaign_id).with_for_update())
             ).scalar_one_or_none()
    return list(times or [])


async def set_plan(
    conn: AsyncConnection, campaign_id: uuid.UUID, *, planned_emails: int, next_sequence: int,
    next_send_times: list[str],
) -> None:
    await conn.execute(
        sa.update(campaigns).where(campaigns.c.id == campaign_id)
        .values(planned_emails=planned_emails, next_sequence=next_sequence,
                next_send_times=next_send_times, updated_at=sa.func.now())
    )


# --- audiences -----------------------------------------------------------------------------


async def add_members(
    conn: AsyncConnection, workspace_id: uuid.UUID, audience_id: uuid.UUID,
    members: list[dict[str, Any]],
) -> list[str]:
    """Insert members ({email, name, fields}); returns the emails that were new."""
    if not members:
        return []
    # One cached statement, sent as multi-row INSERTs by SQLAlchemy's "insertmanyvalues".
    stmt = insert(audience_members).on_conflict_do_nothing().returning(audience_members.c.email)
    rows = [{"audience_id": audience_id, "workspace_id": workspace_id, **m} for m in members]
    return [row.email for row in (await conn.execute(stmt, rows)).all()]


async def remove_members(
    conn: AsyncConnection, audience_id: uuid.UUID, emails: list[str]
) -> list[str]:
    if not emails:
        return []
    stmt = (
        sa.delete(audience_members)
        .where(audience_members.c.audience_id == audience_id,
               audience_members.c.email.in_(emails))
        .returning(audience_members.c.email)
    )
    return [row.email for row in (await conn.execute(stmt)).all()]


def _unsubscribed(workspace_id: Any, email: Any) -> sa.Exists:
    e = engagements.c
    return sa.exists().where(e.workspace_id == workspace_id, e.email == email,
                             e.kind == "unsubscribe")


def _failed(campaign_id: uuid.UUID, email: Any, kind: str) -> sa.Exists:
    f = delivery_failures.c
    return sa.exists().where(f.campaign_id == campaign_id, f.recipient == email, f.kind == kind)


async def list_members(
    conn: AsyncConnection, audience_id: uuid.UUID, campaign_id: uuid.UUID, *, limit: int,
    after: str | None,
) -> list[AnyRow]:
    """A page of members, each marked: unsubscribed (from the workspace), and whether any of
    the campaign's deliveries to it bounced or was suppressed."""
    m = audience_members.c
    query = sa.select(m.email, m.name, m.fields, m.added_at,
                      _unsubscribed(m.workspace_id, m.email).label("unsubscribed"),
                      _failed(campaign_id, m.email, "bounced").label("bounced"),
                      _failed(campaign_id, m.email, "suppressed").label("suppressed")).where(
        m.audience_id == audience_id)
    if after is not None:
        query = query.where(audience_members.c.email > after)
    return list((await conn.execute(
        query.order_by(audience_members.c.email).limit(limit))).all())


# --- idempotency ---------------------------------------------------------------------------


async def claim_idempotency_key(
    conn: AsyncConnection, workspace_id: uuid.UUID, key: str, request_hash: str
) -> AnyRow | None:
    """None when this request is the first with the key; else the row stored by the first."""
    inserted = (await conn.execute(
        insert(idempotency_keys)
        .values(workspace_id=workspace_id, key=key, request_hash=request_hash)
        .on_conflict_do_nothing().returning(idempotency_keys.c.key)
    )).first()
    if inserted is not None:
        return None
    return (await conn.execute(sa.select(idempotency_keys).where(
        idempotency_keys.c.workspace_id == workspace_id, idempotency_keys.c.key == key))).one()


async def store_idempotent_response(
    conn: AsyncConnection, workspace_id: uuid.UUID, key: str, *, status_code: int,
    response: bytes, media_type: str,
) -> None:
    await conn.execute(
        sa.update(idempotency_keys)
        .where(idempotency_keys.c.workspace_id == workspace_id, idempotency_keys.c.key == key)
        .values(status_code=status_code, response=response, media_type=media_type)
    )


async def release_idempotency_key(
    conn: AsyncConnection, workspace_id: uuid.UUID, key: str
) -> None:
    await conn.execute(sa.delete(idempotency_keys).where(
        idempotency_keys.c.workspace_id == workspace_id, idempotency_keys.c.key == key))


# --- engagement and stats ------------------------------------------------------------------


async def record_engagement(conn: AsyncConnection, **values: Any) -> None:
    await conn.execute(engagements.insert().values(**values))


async def is_unsubscribed(conn: AsyncConnection, workspace_id: uuid.UUID, email: str) -> bool:
    """Unsubscribing is from the whole workspace, from whichever campaign's link."""
    return bool((await conn.execute(sa.select(_unsubscribed(workspace_id, email)))).scalar())


async def has_engagement(conn: AsyncConnection, **values: Any) -> bool:
    conditions = [engagements.c[name] == value for name, value in values.items()]
    return (await conn.execute(sa.select(engagements.c.id).where(*conditions).limit(1))
            ).first() is not None


def _engagement_counts(group_by: list[sa.ColumnElement[Any]]) -> sa.Select[Any]:
    e = engagements.c
    return sa.select(
        *group_by,
        sa.func.count().filter(e.kind == "open").label("opens"),
        sa.func.count(sa.distinct(e.email)).filter(e.kind == "open").label("unique_opens"),
        sa.func.count().filter(e.kind == "click").label("clicks"),
        sa.func.count(sa.distinct(e.email)).filter(e.kind == "click").label("unique_clicks"),
        sa.func.count(sa.distinct(e.email)).filter(e.kind == "unsubscribe")
        .label("unsubscribes"),
    )


async def engagement_per_email(conn: AsyncConnection, campaign_id: uuid.UUID) -> list[AnyRow]:
    query = (_engagement_counts([engagements.c.sequence])
             .where(engagements.c.campaign_id == campaign_id)
             .group_by(engagements.c.sequence))
    return list((await conn.execute(query)).all())


async def engagement_of_campaign(conn: AsyncConnection, campaign_id: uuid.UUID) -> AnyRow:
    query = _engagement_counts([]).where(engagements.c.campaign_id == campaign_id)
    row: AnyRow = (await conn.execute(query)).one()
    return row


async def engagement_per_structure(
    conn: AsyncConnection, campaign_id: uuid.UUID
) -> list[AnyRow]:
    structure = sa.func.coalesce(campaign_emails.c.structure, "").label("structure")
    query = (
        _engagement_counts([structure])
        .select_from(engagements.join(campaign_emails, sa.and_(
            campaign_emails.c.campaign_id == engagements.c.campaign_id,
            campaign_emails.c.sequence == engagements.c.sequence)))
        .where(engagements.c.campaign_id == campaign_id)
        .group_by(structure)
    )
    return list((await conn.execute(query)).all())


async def mark_completed(conn: AsyncConnection, campaign_id: uuid.UUID) -> None:
    # A cancellation that crossed the scheduler's last email stays a cancellation.
    await conn.execute(
        sa.update(campaigns)
        .where(campaigns.c.id == campaign_id, campaigns.c.status != "cancelled")
        .values(status="completed", updated_at=sa.func.now())
    )


async def record_failure(conn: AsyncConnection, **values: Any) -> bool:
    """Whether this delivery's failure was new (the inbox already makes each event count once;
    this keeps a delivery to one row whatever its events)."""
    stmt = insert(delivery_failures).values(**values).on_conflict_do_nothing()
    return (await conn.execute(stmt)).rowcount == 1


async def failures_of(
    conn: AsyncConnection, campaign_id: uuid.UUID, *, sequence: int | None = None,
    limit: int = 100,
) -> list[AnyRow]:
    """The campaign's newest failed deliveries first."""
    query = sa.select(delivery_failures).where(delivery_failures.c.campaign_id == campaign_id)
    if sequence is not None:
        query = query.where(delivery_failures.c.sequence == sequence)
    query = query.order_by(delivery_failures.c.failed_at.desc(), delivery_failures.c.sequence,
                           delivery_failures.c.recipient).limit(limit)
    return list((await conn.execute(query)).all())


async def last_failures(conn: AsyncConnection, campaign_id: uuid.UUID) -> dict[int, AnyRow]:
    """Each email's newest failed delivery, by sequence."""
    query = (
        sa.select(delivery_failures)
        .ext(distinct_on(delivery_failures.c.sequence))
        .where(delivery_failures.c.campaign_id == campaign_id)
        .order_by(delivery_failures.c.sequence, delivery_failures.c.failed_at.desc(),
                  delivery_failures.c.recipient)
    )
    return {r.sequence: r for r in (await conn.execute(query)).all()}
