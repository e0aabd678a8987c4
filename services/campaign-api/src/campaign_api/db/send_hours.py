"""Send-time optimisation's queries: which contacts have engagement not yet learned from, their
people's opens and clicks counted per local hour of the week, and the hours learned stored.

An engagement is counted in the contact's zone; for a contact without one (or one this
database's zone data does not know), in the zone of the campaign whose email it was, as the
mailer reckons that contact's send time in the campaign's zone; else in UTC.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import ARRAY, UUID, insert
from sqlalchemy.ext.asyncio import AsyncConnection

from campaign_api.db.contact_tables import send_hours_due
from campaign_api.db.tables import AnyRow
from campaign_api.sendtime_learning import HOURS_OF_WEEK

_TEXTS = ARRAY(sa.Text)


async def mark_send_hours_due(conn: AsyncConnection, workspace_id: uuid.UUID, email: str) -> None:
    """The address has a new person's open or click (or one relabelled a machine's)."""
    await conn.execute(insert(send_hours_due).values(workspace_id=workspace_id, email=email)
                       .on_conflict_do_nothing())


# The workspace of the address due longest, and up to :limit of its due addresses, taken (the
# rows stay locked, SKIP LOCKED: replicas take other addresses) and deleted; rolled back, they
# are due again.
_CLAIM = sa.text("""
WITH first AS (
    SELECT workspace_id FROM send_hours_due ORDER BY since LIMIT 1 FOR UPDATE SKIP LOCKED
), taken AS (
    SELECT d.workspace_id, d.email FROM send_hours_due AS d JOIN first USING (workspace_id)
    ORDER BY d.since LIMIT :limit FOR UPDATE OF d SKIP LOCKED
)
DELETE FROM send_hours_due AS d USING taken AS t
WHERE d.workspace_id = t.workspace_id AND d.email = t.email
RETURNING d.workspace_id, d.email
""")


async def claim_send_hours_due(
    conn: AsyncConnection, limit: int
) -> tuple[uuid.UUID, list[str]] | None:
    """One workspace's due addresses, at most `limit`; None when none is due."""
    rows = (await conn.execute(_CLAIM, {"limit": limit})).all()
    if not rows:
        return None
    return rows[0].workspace_id, sorted(r.email for r in rows)


# Each engagement's local hour of the week (Monday 00:00 = 0, as
# sendtime_learning.hour_of_week counts it; ISO weekday 1 is Monday), in the zone above.
_COUNTS = """
SELECT {key} AS key, (extract(isodow FROM l.at)::int - 1) * 24 + extract(hour FROM l.at)::int
       AS bin, count(*) AS n
FROM engagements AS e
LEFT JOIN contacts AS c ON c.workspace_id = e.workspace_id AND c.email = e.email
LEFT JOIN campaigns AS k ON k.id = e.campaign_id
CROSS JOIN LATERAL (SELECT CASE
    WHEN c.timezone IN (SELECT name FROM pg_timezone_names) THEN c.timezone
    WHEN k.definition #>> '{{schedule,timezone}}' IN (SELECT name FROM pg_timezone_names)
        THEN k.definition #>> '{{schedule,timezone}}'
    ELSE 'UTC' END AS zone) AS z
CROSS JOIN LATERAL (SELECT e.occurred_at AT TIME ZONE z.zone AS at) AS l
WHERE e.workspace_id = :workspace_id AND e.human IS TRUE AND e.kind IN ('open', 'click')
  {only}
GROUP BY 1, 2
"""
_OF_ADDRESSES = sa.text(_COUNTS.format(key="e.email", only="AND e.email = ANY(:emails)")
                        ).bindparams(sa.bindparam("workspace_id", type_=UUID(as_uuid=True)),
                                     sa.bindparam("emails", type_=_TEXTS))
_OF_WORKSPACE = sa.text(_COUNTS.format(key="''", only="")).bindparams(
    sa.bindparam("workspace_id", type_=UUID(as_uuid=True)))


async def hour_counts(
    conn: AsyncConnection, workspace_id: uuid.UUID, emails: Sequence[str]
) -> dict[str, list[int]]:
    """Each address's people's opens and clicks per local hour of the week (addresses without
    any left out)."""
    counts: dict[str, list[int]] = {}
    rows = await conn.execute(_OF_ADDRESSES, {"workspace_id": workspace_id,
                                              "emails": list(emails)})
    for row in rows:
        counts.setdefault(row.key, [0] * HOURS_OF_WEEK)[row.bin] = row.n
    return counts


async def workspace_hour_counts(conn: AsyncConnection, workspace_id: uuid.UUID) -> list[int]:
    """All the workspace's people's opens and clicks per local hour of the week."""
    counts = [0] * HOURS_OF_WEEK
    for row in await conn.execute(_OF_WORKSPACE, {"workspace_id": workspace_id}):
        counts[row.bin] = row.n
    return counts


# The hours travel as '{19,19,...}' text (arrays of arrays do not unnest into rows); NULL
# clears. RETURNING what contacts.changed needs (db.consent.CONTACT).
_STORE = sa.text("""
UPDATE contacts AS c SET send_hours = v.hours, updated_at = now()
FROM (SELECT u.email, CAST(u.hours AS smallint[]) AS hours
      FROM unnest(:emails, :hours) AS u(email, hours)) AS v
WHERE c.workspace_id = :workspace_id AND c.email = v.email
  AND c.send_hours IS DISTINCT FROM v.hours
RETURNING c.id, c.email, c.name, c.fields, c.tags, c.timezone, c.language, c.status,
          c.send_hours, c.updated_at
""").bindparams(sa.bindparam("workspace_id", type_=UUID(as_uuid=True)),
                sa.bindparam("emails", type_=_TEXTS), sa.bindparam("hours", type_=_TEXTS))


async def store_send_hours(
    conn: AsyncConnection, workspace_id: uuid.UUID,
    learned: Sequence[tuple[str, Sequence[int] | None]],
) -> list[AnyRow]:
    """Each address's hours (None: none learned) on its contact; the contacts that changed."""
    if not learned:
        return []
    hours = [None if h is None else "{" + ",".join(map(str, h)) + "}" for _, h in learned]
    return list((await conn.execute(_STORE, {
        "workspace_id": workspace_id, "emails": [email for email, _ in learned],
        "hours": hours})).all())
