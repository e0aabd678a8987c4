"""The mailer's sending policy in the database: the workspace's frequency cap, what a contact
was sent lately, the per-contact locks that make two senders count the same emails, and each
delivery's send window."""

from __future__ import annotations

import hashlib
import uuid
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import ARRAY, UUID, insert
from sqlalchemy.ext.asyncio import AsyncConnection

from contracts.events import OverCap
from mailer.db.tables import campaigns, contacts, deliveries, workspaces

ContactKey = tuple[uuid.UUID, str]  # (workspace, address)


@dataclass(frozen=True)
class Caps:
    per_day: int | None
    per_week: int | None
    over_cap: OverCap


async def save_workspace(
    conn: AsyncConnection, workspace_id: uuid.UUID, *, per_day: int | None,
    per_week: int | None, over_cap: OverCap, changed_at: datetime,
) -> None:
    """The workspace's settings, unless newer ones are stored (events may arrive late)."""
    stmt = insert(workspaces).values(
        workspace_id=workspace_id, frequency_cap_day=per_day, frequency_cap_week=per_week,
        over_cap=over_cap, changed_at=changed_at)
    await conn.execute(stmt.on_conflict_do_update(
        index_elements=[workspaces.c.workspace_id],
        set_={k: stmt.excluded[k] for k in ("frequency_cap_day", "frequency_cap_week",
                                            "over_cap", "changed_at")},
        where=workspaces.c.changed_at <= stmt.excluded.changed_at))


async def caps_of(
    conn: AsyncConnection, workspace_ids: Iterable[uuid.UUID]
) -> dict[uuid.UUID, Caps]:
    """The caps of those of `workspace_ids` that have one."""
    w = workspaces.c
    rows = await conn.execute(
        sa.select(w.workspace_id, w.frequency_cap_day, w.frequency_cap_week, w.over_cap)
        .where(w.workspace_id.in_(list(workspace_ids)),
               sa.or_(w.frequency_cap_day.is_not(None), w.frequency_cap_week.is_not(None))))
    return {r.workspace_id: Caps(r.frequency_cap_day, r.frequency_cap_week, r.over_cap)
            for r in rows}


def _lock_key(key: ContactKey) -> int:
    """A signed 64-bit advisory lock key for a contact; a collision only serialises two
    contacts' claims, it never lets two claims of one contact through together."""
    digest = hashlib.blake2b(f"{key[0]}:{key[1]}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big", signed=True)


# Taken in the order given (OFFSET 0 keeps the sorted subquery from being flattened into a
# scan whose order the planner chooses), held until the transaction ends.
_LOCK = sa.text("""
    SELECT count(pg_advisory_xact_lock(k)) FROM (
        SELECT k FROM unnest(CAST(:keys AS bigint[])) WITH ORDINALITY AS u(k, n)
        ORDER BY n OFFSET 0) AS sorted
""").bindparams(sa.bindparam("keys", type_=ARRAY(sa.BigInteger)))


async def lock_contacts(conn: AsyncConnection, keys: Iterable[ContactKey]) -> None:
    """Serialise the cap's decisions per contact until the transaction ends: a sender that
    holds a contact's lock has seen every delivery to it that another sender let through.
    Always taken in ascending key order, so two senders never wait on each other in a cycle."""
    ordered = sorted({_lock_key(k) for k in keys})
    if ordered:
        await conn.execute(_LOCK, {"keys": ordered})


async def capped_sends(
    conn: AsyncConnection, keys: Iterable[ContactKey], *, since: datetime,
    excluding: Sequence[uuid.UUID],
) -> dict[ContactKey, list[datetime]]:
    """When each contact's campaign emails since `since` were sent, or claimed for sending
    when they are still in flight; the deliveries `excluding` (the ones being decided) left
    out. Transactional messages live in another table: they never count."""
    wanted = set(keys)
    if not wanted:
        return {}
    d = deliveries.c
    at = sa.case((d.state == "sent", d.sent_at), else_=d.sending_since)
    rows = await conn.execute(
        sa.select(campaigns.c.workspace_id, d.email, at.label("at"))
        .select_from(deliveries.join(campaigns, campaigns.c.campaign_id == d.campaign_id))
        .where(d.email.in_(sorted({email for _, email in wanted})),
               # Written out, not bound: the partial index `deliveries_capped` is used only
               # where the planner can see that the query implies its condition.
               sa.text("deliveries.state IN ('sent', 'sending')"), at > since,
               campaigns.c.workspace_id.in_(sorted({ws for ws, _ in wanted})),
               d.id.not_in(list(excluding))))
    found: defaultdict[ContactKey, list[datetime]] = defaultdict(list)
    for r in rows:
        if (r.workspace_id, r.email) in wanted:
            found[(r.workspace_id, r.email)].append(r.at)
    return dict(found)


@dataclass(frozen=True)
class WindowRow:
    """A claimed delivery's send window as its campaign stores it, and the zones it is
    reckoned in."""

    send_window: dict[str, Any]
    contact_zone: str | None
    campaign_zone: str


async def windows_of(
    conn: AsyncConnection, claimed: Sequence[tuple[uuid.UUID, uuid.UUID, str]],
) -> dict[uuid.UUID, WindowRow]:
    """The send window of each claimed delivery, (delivery, campaign, address),
    whose campaign has one; with the contact's zone, read in the same statement."""
    if not claimed:
        return {}
    c, k = campaigns.c, contacts.c
    given = sa.text(
        "SELECT * FROM unnest(CAST(:ids AS uuid[]), CAST(:campaigns AS uuid[]), "
        "CAST(:emails AS text[])) AS g(id, campaign_id, email)"
    ).bindparams(sa.bindparam("ids", type_=ARRAY(UUID(as_uuid=True))),
                 sa.bindparam("campaigns", type_=ARRAY(UUID(as_uuid=True))),
                 sa.bindparam("emails", type_=ARRAY(sa.Text))
                 ).columns(id=UUID(as_uuid=True), campaign_id=UUID(as_uuid=True),
                           email=sa.Text).subquery("g")
    # One primary-key probe per delivery (LATERAL, LIMIT 1), whatever the planner knows of
    # the workspace's contacts.
    zone = (sa.select(k.timezone).where(k.workspace_id == c.workspace_id,
                                         k.email == given.c.email)
            .limit(1).lateral("contact"))
    rows = await conn.execute(
        sa.select(given.c.id, c.send_window, c.timezone, zone.c.timezone.label("contact_zone"))
        .select_from(given.join(campaigns, c.campaign_id == given.c.campaign_id)
                     .outerjoin(zone, sa.true()))
        # A campaign without a window may hold SQL NULL or JSON null.
        .where(sa.func.jsonb_typeof(c.send_window) == "object"),
        {"ids": [d for d, _, _ in claimed], "campaigns": [cid for _, cid, _ in claimed],
         "emails": [e for _, _, e in claimed]})
    return {r.id: WindowRow(r.send_window, r.contact_zone, r.timezone) for r in rows}
