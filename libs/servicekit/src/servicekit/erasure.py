"""Erasing an address from the messaging tables every service has (`servicekit.db`).

An event names an address in its JSON, stored as bytes: a published outbox row (kept a day for
the record, then pruned) or a parked event may hold an erased person's address long after the
service's own tables forgot it. `erase_address` deletes those rows in the caller's transaction,
so a service's erasure handler forgets the address in its tables and here at once.

Unpublished outbox rows are left as they are: each is an event the service has committed to
publish (a delivery's outcome, a change others must hear of), and redacting it would publish a
lie. The relay publishes it within seconds and the prune deletes it with the other published
rows, a day later. The inbox holds only event ids.

A parked event about an erased person is deleted, not redacted: replaying it would bring the
address back (a contact upserted again), and its payload is worth nothing without the address.
"""

from __future__ import annotations

from dataclasses import dataclass

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

# Compared as text from bytes that need not be UTF-8 (a parked event may be anything):
# encode(..., 'escape') keeps ASCII as it is and writes every other byte as an octal escape,
# so lower() folds the ASCII letters of the address and nothing else, on both sides.
_HOLDS = ("strpos(lower(encode(data, 'escape')), "
          "encode(convert_to(lower(CAST(:email AS text)), 'UTF8'), 'escape')) > 0")
_DELETE_PUBLISHED = sa.text(
    f"DELETE FROM outbox WHERE published_at IS NOT NULL AND {_HOLDS}")  # noqa: S608
_DELETE_PARKED = sa.text(f"DELETE FROM parked_events WHERE {_HOLDS}")  # noqa: S608


@dataclass(frozen=True)
class Erased:
    """How many rows of each table named the address."""

    outbox: int
    parked: int


async def erase_address(conn: AsyncConnection, email: str) -> Erased:
    """Delete the published outbox rows and the parked events whose data holds `email`
    (letters compared case-insensitively), in `conn`'s transaction."""
    published = await conn.execute(_DELETE_PUBLISHED, {"email": email})
    parked = await conn.execute(_DELETE_PARKED, {"email": email})
    return Erased(outbox=published.rowcount, parked=parked.rowcount)
