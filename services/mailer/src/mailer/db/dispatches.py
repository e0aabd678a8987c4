"""Dispatches: when an email's recipients are decided, and the one statement that creates their
deliveries from the memberships and statuses of that moment."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, time
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import ARRAY, UUID, insert
from sqlalchemy.ext.asyncio import AsyncConnection

from mailer.db.tables import campaigns, contacts, contents, dispatches


async def insert_dispatches(
    conn: AsyncConnection, campaign_id: uuid.UUID, sequence: int,
    groups: Sequence[tuple[datetime, Sequence[str] | None]],
) -> None:
    """(due_at, zones) per dispatch of an email; zones None: every contact. Stored again, the
    same dispatches change nothing."""
    await conn.execute(insert(dispatches).values([
        {"campaign_id": campaign_id, "sequence": sequence, "due_at": due_at,
         "zones": list(zones) if zones is not None else None}
        for due_at, zones in groups]).on_conflict_do_nothing())


@dataclass(frozen=True)
class DueDispatch:
    """A dispatch that is due, with what deciding its recipients needs of its campaign."""

    campaign_id: uuid.UUID
    sequence: int
    due_at: datetime
    zones: list[str] | None
    workspace_id: uuid.UUID
    audience_id: uuid.UUID
    include: list[uuid.UUID]
    exclude: list[uuid.UUID]
    timezone: str
    send_time: time
    send_time_optimization: bool
    send_window: dict[str, Any] | None
    from_email: str | None
    state: str
    # The email's `send_at`, whose local date each contact's preferred hour is on.
    send_at: datetime


async def claim_dispatch(conn: AsyncConnection, now: datetime) -> DueDispatch | None:
    """The earliest due dispatch nobody else holds, locked until the transaction ends. A
    paused campaign's dispatches wait: its recipients are decided when it resumes."""
    d, c, e = dispatches.c, campaigns.c, contents.c
    row = (await conn.execute(
        sa.select(d.campaign_id, d.sequence, d.due_at, d.zones, c.workspace_id, c.audience_id,
                  c.target_include.label("include"), c.target_exclude.label("exclude"),
                  c.timezone, c.send_time, c.send_time_optimization, c.send_window,
                  c.from_email, c.state, e.send_at)
        .select_from(dispatches.join(campaigns, c.campaign_id == d.campaign_id)
                     .join(contents, sa.and_(e.campaign_id == d.campaign_id,
                                             e.sequence == d.sequence)))
        .where(d.done_at.is_(None), d.due_at <= now, c.state != "paused")
        .order_by(d.due_at).limit(1)
        .with_for_update(of=dispatches, skip_locked=True))).first()
    return DueDispatch(**row._mapping) if row is not None else None


async def finish_dispatch(
    conn: AsyncConnection, dispatch: DueDispatch, *, at: datetime, created: int
) -> None:
    await conn.execute(
        sa.update(dispatches)
        .where(dispatches.c.campaign_id == dispatch.campaign_id,
               dispatches.c.sequence == dispatch.sequence,
               dispatches.c.due_at == dispatch.due_at)
        .values(done_at=at, deliveries=created))


async def anyone_in(
    conn: AsyncConnection, workspace_id: uuid.UUID, zones: Sequence[str], campaign_zone: str
) -> bool:
    """Whether any contact of the workspace is in one of `zones` (one without a zone is in the
    campaign's): an index probe that spares the zones nobody is in a pass over the list."""
    in_zone: sa.ColumnElement[bool] = contacts.c.timezone.in_(list(zones))
    if campaign_zone in zones:
        in_zone = sa.or_(in_zone, contacts.c.timezone.is_(None))
    found = await conn.execute(sa.select(sa.exists().where(
        contacts.c.workspace_id == workspace_id, in_zone)))
    return bool(found.scalar())


# Subscribed contacts of the workspace on any of :lists and none of :excluded, each once
# however many of the lists they are on. The id is md5("campaign:sequence:email") read as a
# UUID: the same recipient of the same email always gets the same id, and so the same
# Message-ID, on every replica and retry, so creating them again changes nothing.
_RECIPIENTS = """
    INSERT INTO deliveries (id, campaign_id, sequence, email, audience_id, message_id, state,
                            due_at)
    SELECT k.id, :campaign_id, :sequence, c.email, :audience_id,
           '<' || k.id::text || :domain_suffix, 'pending', {due}
    FROM contacts AS c
    CROSS JOIN LATERAL (SELECT md5(:key_prefix || c.email)::uuid AS id) AS k
    {zone_join}
    WHERE c.workspace_id = :workspace_id AND c.status = 'subscribed'
      AND EXISTS (SELECT 1 FROM memberships AS m
                  WHERE m.list_id = ANY(:lists) AND m.email = c.email
                    AND m.workspace_id = :workspace_id)
      AND NOT EXISTS (SELECT 1 FROM memberships AS x
                      WHERE x.list_id = ANY(:excluded) AND x.email = c.email
                        AND x.workspace_id = :workspace_id)
    ON CONFLICT DO NOTHING
"""
# Everyone due at one instant.
_ALL = sa.text(_RECIPIENTS.format(due=":due_at", zone_join=""))
# The contacts of some zones only, each zone with its own due time (a send window may move
# one zone's and not another's). A contact without a zone is in the campaign's.
_ZONED = sa.text(_RECIPIENTS.format(
    due="z.due_at",
    zone_join="JOIN unnest(CAST(:zones AS text[]), CAST(:zone_dues AS timestamptz[]))"
              " AS z(zone, due_at) ON z.zone = coalesce(c.timezone, :campaign_zone)"))
# With send-time optimisation: each zone's due time per preferred hour, and for the contacts
# without one (hour -1), the send time's. `:weekday` is the email's local date's ISO weekday,
# 1 for Monday: Postgres arrays count from 1, so it indexes Monday..Sunday as
# `rules.sendtime.contact_send_time` reads `send_hours`.
_BY_HOUR = sa.text(_RECIPIENTS.format(
    due="z.due_at",
    zone_join="JOIN unnest(CAST(:zones AS text[]), CAST(:hours AS int[]),"
              " CAST(:zone_dues AS timestamptz[])) AS z(zone, hour, due_at)"
              " ON z.zone = coalesce(c.timezone, :campaign_zone)"
              " AND z.hour = coalesce(c.send_hours[:weekday], :no_hour)"))
_TYPES = (
    sa.bindparam("campaign_id", type_=UUID(as_uuid=True)),
    sa.bindparam("audience_id", type_=UUID(as_uuid=True)),
    sa.bindparam("workspace_id", type_=UUID(as_uuid=True)),
    sa.bindparam("lists", type_=ARRAY(UUID(as_uuid=True))),
    sa.bindparam("excluded", type_=ARRAY(UUID(as_uuid=True))),
)
_ALL = _ALL.bindparams(*_TYPES, sa.bindparam("due_at", type_=sa.DateTime(timezone=True)))
_ZONED = _ZONED.bindparams(*_TYPES, sa.bindparam("zones", type_=ARRAY(sa.Text)),
                           sa.bindparam("zone_dues", type_=ARRAY(sa.DateTime(timezone=True))))
_BY_HOUR = _BY_HOUR.bindparams(
    *_TYPES, sa.bindparam("zones", type_=ARRAY(sa.Text)),
    sa.bindparam("hours", type_=ARRAY(sa.Integer)),
    sa.bindparam("zone_dues", type_=ARRAY(sa.DateTime(timezone=True))))
# The hour of the contacts without preferred hours in `hour_dues`.
NO_HOUR = -1


async def create_deliveries(
    conn: AsyncConnection,
    dispatch: DueDispatch,
    *,
    message_domain: str,
    zone_dues: Sequence[tuple[str, datetime]] | None = None,
    hour_dues: Sequence[tuple[str, int, datetime]] | None = None,
    weekday: int = 1,
) -> int:
    """One pending delivery per recipient of `dispatch`, in one statement however large the
    lists: due at the dispatch's time, or per zone at `zone_dues` ((zone, due_at) pairs, the
    only zones whose contacts are included), or with send-time optimisation per zone and
    preferred hour at `hour_dues` ((zone, hour, due_at); hour NO_HOUR: the contacts without
    one), each contact at their hour of ISO `weekday` (the email's local date's)."""
    params: dict[str, Any] = {
        "campaign_id": dispatch.campaign_id, "sequence": dispatch.sequence,
        "audience_id": dispatch.audience_id, "workspace_id": dispatch.workspace_id,
        "lists": [dispatch.audience_id, *dispatch.include], "excluded": dispatch.exclude,
        "key_prefix": f"{dispatch.campaign_id}:{dispatch.sequence}:",
        "domain_suffix": f"@{message_domain}>",
    }
    if hour_dues is not None:
        result = await conn.execute(_BY_HOUR, params | {
            "zones": [zone for zone, _, _ in hour_dues],
            "hours": [hour for _, hour, _ in hour_dues],
            "zone_dues": [at for _, _, at in hour_dues],
            "campaign_zone": dispatch.timezone, "weekday": weekday, "no_hour": NO_HOUR})
    elif zone_dues is None:
        result = await conn.execute(_ALL, params | {"due_at": dispatch.due_at})
    else:
        result = await conn.execute(_ZONED, params | {
            "zones": [zone for zone, _ in zone_dues], "zone_dues": [at for _, at in zone_dues],
            "campaign_zone": dispatch.timezone})
    return int(result.rowcount)
