"""A journey's counts per step from the scheduler (journey.progress), the newest kept: what the
dashboard's live view and funnel show next to campaign-api's own counts of each email step's
sends, opens and clicks."""

from __future__ import annotations

from campaign_api import db
from contracts import JourneyProgress
from servicekit.db import UnitOfWork


async def on_journey_progress(event: JourneyProgress, uow: UnitOfWork) -> None:
    p = event.payload
    await db.keep_journey_progress(
        uow.conn, campaign_id=p.campaign_id, workspace_id=event.workspace_id, version=p.version,
        steps=[s.model_dump(mode="json") for s in p.steps], as_of=p.as_of)
