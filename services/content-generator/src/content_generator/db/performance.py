"""Each email's newest performance summary, as campaign-api publishes them."""

from __future__ import annotations

import uuid

from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncConnection

from content_generator.db.tables import PERFORMANCE_COUNTS, email_performance
from contracts.events import EmailPerformancePayload


async def keep_newest_performance(conn: AsyncConnection, workspace_id: uuid.UUID,
                                  summary: EmailPerformancePayload) -> bool:
    """Store the summary unless the email's stored one is as new or newer (summaries may
    arrive out of order when redelivered); whether it was stored."""
    values = {"structure": summary.structure, "as_of": summary.as_of,
              **{name: getattr(summary, name) for name in PERFORMANCE_COUNTS}}
    stmt = insert(email_performance).values(campaign_id=summary.campaign_id,
                                            sequence=summary.sequence,
                                            workspace_id=workspace_id, **values)
    stored = await conn.execute(stmt.on_conflict_do_update(
        index_elements=["campaign_id", "sequence"],
        set_={**{name: stmt.excluded[name] for name in values},
              "received_at": stmt.excluded.received_at},
        where=email_performance.c.as_of < stmt.excluded.as_of,
    ).returning(email_performance.c.sequence))
    return stored.first() is not None
