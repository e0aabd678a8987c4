"""Everything campaign-api holds of one address: read for an export, deleted for an erasure."""

from __future__ import annotations

import uuid
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from campaign_api.db.consent import delete_consents
from campaign_api.db.contact_tables import (
    consents,
    contacts,
    list_members,
    lists,
    sends,
    suppression_removals,
    suppressions,
)
from campaign_api.db.tables import (
    AnyRow,
    campaigns,
    delivery_failures,
    engagements,
    idempotency_keys,
)


async def contact_of(conn: AsyncConnection, workspace_id: uuid.UUID,
                     contact_id: uuid.UUID) -> AnyRow | None:
    return (await conn.execute(sa.select(contacts).where(
        contacts.c.workspace_id == workspace_id, contacts.c.id == contact_id))).first()


def _campaign_of_workspace(workspace_id: uuid.UUID, campaign_id: Any) -> sa.Exists:
    return sa.exists().where(campaigns.c.id == campaign_id,
                             campaigns.c.workspace_id == workspace_id)


async def export_rows(
    conn: AsyncConnection, workspace_id: uuid.UUID, contact_id: uuid.UUID, email: str
) -> dict[str, list[dict[str, Any]]]:
    """The contact's lists, consents, deliveries (sent and failed), engagement and suppression,
    each as plain rows, oldest first."""
    queries: dict[str, sa.Select[Any]] = {
        "lists": sa.select(lists.c.id, lists.c.name, lists.c.kind, list_members.c.added_at)
        .join(list_members, list_members.c.list_id == lists.c.id)
        .where(list_members.c.contact_id == contact_id).order_by(list_members.c.added_at),
        "consents": sa.select(consents.c.list_id, consents.c.source, consents.c.basis,
                              consents.c.ip, consents.c.user_agent, consents.c.consent_text,
                              consents.c.given_at, consents.c.confirmed_at,
                              consents.c.withdrawn_at)
        .where(consents.c.contact_id == contact_id).order_by(consents.c.given_at, consents.c.id),
        "sent": sa.select(sends.c.campaign_id, sends.c.sequence, sends.c.sent_at)
        .where(sends.c.workspace_id == workspace_id, sends.c.email == email)
        .order_by(sends.c.sent_at),
        "failed": sa.select(delivery_failures.c.campaign_id, delivery_failures.c.sequence,
                            delivery_failures.c.kind, delivery_failures.c.reason,
                            delivery_failures.c.smtp_code, delivery_failures.c.failed_at)
        .where(delivery_failures.c.recipient == email,
               _campaign_of_workspace(workspace_id, delivery_failures.c.campaign_id))
        .order_by(delivery_failures.c.failed_at),
        "engagement": sa.select(engagements.c.campaign_id, engagements.c.sequence,
                                engagements.c.kind, engagements.c.url, engagements.c.occurred_at)
        .where(engagements.c.workspace_id == workspace_id, engagements.c.email == email)
        .order_by(engagements.c.occurred_at, engagements.c.id),
        "suppression": sa.select(suppressions.c.reason, suppressions.c.note,
                                 suppressions.c.created_at)
        .where(suppressions.c.workspace_id == workspace_id, suppressions.c.email == email),
    }
    return {name: [dict(r._mapping) for r in (await conn.execute(query)).all()]
            for name, query in queries.items()}


async def erase_address(conn: AsyncConnection, workspace_id: uuid.UUID, email: str) -> None:
    """Delete every row of the workspace that holds the address (the caller's transaction):
    the contact with its memberships (their foreign keys cascade) and consents, the
    suppression entry and its removals, sends, failures, engagement, and the stored idempotent
    answers that contain it."""
    gone = (await conn.execute(sa.delete(contacts).where(
        contacts.c.workspace_id == workspace_id, contacts.c.email == email)
        .returning(contacts.c.id))).scalars().all()
    await delete_consents(conn, contact_ids=gone)
    for table, column in ((suppressions, suppressions.c.email),
                          (suppression_removals, suppression_removals.c.email),
                          (sends, sends.c.email), (engagements, engagements.c.email)):
        await conn.execute(sa.delete(table).where(table.c.workspace_id == workspace_id,
                                                  column == email))
    await conn.execute(sa.delete(delivery_failures).where(
        delivery_failures.c.recipient == email,
        _campaign_of_workspace(workspace_id, delivery_failures.c.campaign_id)))
    # An answer replayed for a retried request may list the address (a contact's detail, an
    # import's report); such an answer is dropped, and the key is then simply unused.
    await conn.execute(sa.delete(idempotency_keys).where(
        idempotency_keys.c.workspace_id == workspace_id,
        sa.text("position(convert_to(:email, 'UTF8') in idempotency_keys.response) > 0")
        .bindparams(email=email)))
