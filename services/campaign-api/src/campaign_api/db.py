"""campaign-api's tables (workspaces, keys, campaigns, audiences, read models) and its queries."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import JSONB, UUID, insert
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
    sa.Index("campaigns_by_workspace", "workspace_id", "created_at"),
)

audience_members = sa.Table(
    "audience_members",
    metadata,
    sa.Column("audience_id", UUID(as_uuid=True), primary_key=True),
    sa.Column("email", sa.Text, primary_key=True),
    sa.Column("workspace_id", UUID(as_uuid=True), nullable=False),
    sa.Column("name", sa.Text, nullable=False, server_default=""),
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
)


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


async def add_api_key(
    conn: AsyncConnection, workspace_id: uuid.UUID, key_hash: str, name: str
) -> None:
    await conn.execute(
        api_keys.insert().values(id=uuid.uuid4(), workspace_id=workspace_id, key_hash=key_hash,
                                 name=name)
    )


async def insert_campaign(conn: AsyncConnection, **values: Any) -> None:
    await conn.execute(campaigns.insert().values(**values))


async def add_members(
    conn: AsyncConnection, workspace_id: uuid.UUID, audience_id: uuid.UUID, emails: list[str]
) -> None:
    if emails:
        await conn.execute(
            insert(audience_members).on_conflict_do_nothing(),
            [{"audience_id": audience_id, "workspace_id": workspace_id, "email": e}
             for e in emails],
        )


_LIST_COLUMNS = (
    campaigns.c.id, campaigns.c.name, campaigns.c.status, campaigns.c.definition,
    campaigns.c.emails_generated, campaigns.c.emails_failed, campaigns.c.deliveries_sent,
    campaigns.c.deliveries_failed, campaigns.c.created_at, campaigns.c.updated_at,
    sa.select(sa.func.count())
    .where(audience_members.c.audience_id == campaigns.c.audience_id)
    .scalar_subquery()
    .label("recipients"),
)


async def list_campaigns(
    conn: AsyncConnection, workspace_id: uuid.UUID, *, limit: int, before: datetime | None
) -> list[AnyRow]:
    query = sa.select(*_LIST_COLUMNS).where(campaigns.c.workspace_id == workspace_id)
    if before is not None:
        query = query.where(campaigns.c.created_at < before)
    query = query.order_by(campaigns.c.created_at.desc()).limit(limit)
    return list((await conn.execute(query)).all())


async def get_campaign(
    conn: AsyncConnection, workspace_id: uuid.UUID, campaign_id: uuid.UUID
) -> AnyRow | None:
    # Scoped by workspace: another workspace's id is simply not found.
    return (
        await conn.execute(
            sa.select(*_LIST_COLUMNS).where(
                campaigns.c.id == campaign_id, campaigns.c.workspace_id == workspace_id
            )
        )
    ).first()


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
