"""/api/events: what a contact did, reported by the workspace's own systems; journeys start
on it, branch on it and end on it as a goal."""

from __future__ import annotations

from fastapi import APIRouter, Request

from campaign_api.auth import Workspace
from campaign_api.routes.common import problems
from campaign_api.schemas_events import EventAccepted, EventIn
from campaign_api.usecases import activity

router = APIRouter(prefix="/api/events", tags=["events"],
                   responses=problems(401, 413, 422, 429))


@router.post("", status_code=202, response_model=EventAccepted)
async def record_event(body: EventIn, workspace_id: Workspace,
                       request: Request) -> EventAccepted:
    """Record an event of a contact (created when new) once per `event_id`, and publish it
    as activity.recorded; a repeat answers the same, `duplicate` true, and publishes
    nothing."""
    return await activity.record_event(request.app.state.engine, request.app.state.erasure,
                                       workspace_id, body)
