"""Send-time optimisation's learner: each contact's preferred hours, learned again from all
their people's opens and clicks once they have a new one, and sent to the mailer with the
contact (contacts.changed).

Recording a person's open or click marks the address due (`db.mark_send_hours_due`). A loop of
`campaign-api run` takes one workspace's due addresses at a time, at most BATCH (SKIP LOCKED:
replicas share them out), counts their engagement per local hour of the week in SQL, learns
their hours (`sendtime_learning`, with the workspace's own pattern as the prior), and in the
same transaction stores those that changed and publishes them through the outbox: a crash
before the commit leaves the addresses due. When none is due it looks again after
`interval` seconds.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from campaign_api import db
from campaign_api.sendtime_learning import (
    HOURS_OF_WEEK,
    SendTimePolicy,
    preferred_hours,
    workspace_pattern,
)
from campaign_api.usecases._claim_loop import claim_until_stopped
from campaign_api.usecases._contact_events import publish_contacts_changed
from servicekit.db import UnitOfWork
from servicekit.shutdown import Shutdown

# Addresses learned in one transaction (and published as one contacts.changed at most).
BATCH = 500
_NONE = (0,) * HOURS_OF_WEEK
POLICY = SendTimePolicy()


@dataclass
class WorkspacePatterns:
    """Each workspace's pattern, counted over all its engagement: worked out at most once per
    `every` per workspace, as it changes slowly and costs a pass over the workspace's opens."""

    every: timedelta
    _known: dict[uuid.UUID, tuple[datetime, tuple[float, ...]]] = field(default_factory=dict)

    async def of(self, conn: AsyncConnection, workspace_id: uuid.UUID,
                 now: datetime) -> tuple[float, ...]:
        known = self._known.get(workspace_id)
        if known is not None and now - known[0] < self.every:
            return known[1]
        pattern = workspace_pattern(await db.workspace_hour_counts(conn, workspace_id))
        self._known[workspace_id] = (now, pattern)
        return pattern


async def learn_due_batch(engine: AsyncEngine, patterns: WorkspacePatterns,
                          policy: SendTimePolicy = POLICY,
                          now: datetime | None = None) -> int | None:
    """Learn one batch of due addresses: how many contacts' hours changed (and were
    published); None when no address is due."""
    now = now or datetime.now(UTC)
    async with UnitOfWork(engine) as uow:
        claimed = await db.claim_send_hours_due(uow.conn, BATCH)
        if claimed is None:
            return None
        workspace_id, emails = claimed
        prior = await patterns.of(uow.conn, workspace_id, now)
        counts = await db.hour_counts(uow.conn, workspace_id, emails)
        learned = [(email, preferred_hours(counts.get(email, _NONE), prior, policy))
                   for email in emails]
        changed = await db.store_send_hours(uow.conn, workspace_id, learned)
        publish_contacts_changed(uow, workspace_id, changed, uuid.uuid4())
        await uow.commit()
    return len(changed)


async def send_hours_loop(engine: AsyncEngine, shutdown: Shutdown, *, interval: float) -> None:
    """Until the service stops: learn every due address, then look again after `interval`
    seconds. A batch being learned commits before the loop returns."""
    patterns = WorkspacePatterns(every=timedelta(seconds=interval))
    await claim_until_stopped(lambda: learn_due_batch(engine, patterns), shutdown,
                              poll=interval, failed_event="send_hours.learning_failed")
