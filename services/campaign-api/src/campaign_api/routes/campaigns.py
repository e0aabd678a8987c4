"""/api/campaigns: the campaign lifecycle, its emails, stats and a preview of the next email."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Query, Request

from campaign_api import usecases
from campaign_api.auth import Workspace
from campaign_api.domain import Action
from campaign_api.routes.common import problems
from campaign_api.schemas import (
    CampaignCreate,
    CampaignDetail,
    CampaignEmail,
    CampaignPage,
    CampaignUpdate,
    FailurePage,
    PreviewEmail,
)
from campaign_api.schemas_report import CampaignReport, CampaignStats
from rules.lifecycle import Status

router = APIRouter(prefix="/api/campaigns", tags=["campaigns"],
                   responses=problems(401, 413, 422, 429))

@router.post("/", status_code=201, response_model=CampaignDetail)
async def create_campaign(body: CampaignCreate, workspace_id: Workspace,
                          request: Request) -> CampaignDetail:
    """Create a campaign and its audience; the scheduler plans it from the event."""
    return await usecases.create_campaign(request.app.state.engine, request.app.state.erasure,
                                            workspace_id, body)


@router.get("/", response_model=CampaignPage)
async def list_campaigns(
    workspace_id: Workspace, request: Request,
    limit: Annotated[int, Query(ge=1, le=100)] = 50,
    cursor: Annotated[str | None, Query(max_length=200)] = None,
    status: Annotated[list[Status] | None, Query(description="Only these statuses")] = None,
    q: Annotated[str | None, Query(max_length=200,
                                   description="Text in the name or the brief")] = None,
    archived: Annotated[bool, Query(description="List archived campaigns instead")] = False,
) -> CampaignPage:
    return await usecases.list_campaigns(request.app.state.engine, workspace_id, limit=limit,
                                         cursor=cursor, statuses=list(status or []),
                                         text=q, archived=archived)


@router.get("/{campaign_id}/", response_model=CampaignDetail, responses=problems(404))
async def get_campaign(campaign_id: uuid.UUID, workspace_id: Workspace,
                       request: Request) -> CampaignDetail:
    return await usecases.get_campaign(request.app.state.engine, workspace_id, campaign_id)


@router.patch("/{campaign_id}/", response_model=CampaignDetail, responses=problems(404, 409))
async def update_campaign(campaign_id: uuid.UUID, body: CampaignUpdate, workspace_id: Workspace,
                          request: Request) -> CampaignDetail:
    """Change the brief, voice, cadence, time zone, duration or models; other services get the
    whole new definition."""
    return await usecases.update_campaign(request.app.state.engine, workspace_id, campaign_id,
                                          body)


def _lifecycle(action: Action, summary: str) -> None:
    async def act(campaign_id: uuid.UUID, workspace_id: Workspace,
                  request: Request) -> CampaignDetail:
        return await usecases.change_status(request.app.state.engine, workspace_id,
                                            campaign_id, action)

    router.add_api_route(f"/{{campaign_id}}/{action}", act, methods=["POST"],
                         response_model=CampaignDetail, responses=problems(404, 409),
                         summary=summary, name=f"{action}_campaign")


_lifecycle("pause", "Pause: no email falls due until resumed")
_lifecycle("resume", "Resume a paused campaign")
_lifecycle("cancel", "Cancel for good")
_lifecycle("archive", "Hide a finished or cancelled campaign from the default list")


@router.get("/{campaign_id}/emails", response_model=list[CampaignEmail],
            responses=problems(404))
async def list_emails(campaign_id: uuid.UUID, workspace_id: Workspace,
                      request: Request) -> list[CampaignEmail]:
    return await usecases.list_emails(request.app.state.engine, workspace_id, campaign_id)


@router.get("/{campaign_id}/stats", response_model=CampaignStats, responses=problems(404))
async def campaign_stats(campaign_id: uuid.UUID, workspace_id: Workspace,
                         request: Request) -> CampaignStats:
    """Sent, failed, bounced, opens, clicks and unsubscribes per campaign, email and
    structure."""
    return await usecases.campaign_stats(request.app.state.engine, workspace_id, campaign_id)


@router.get("/{campaign_id}/report", response_model=CampaignReport, responses=problems(404))
async def campaign_report(campaign_id: uuid.UUID, workspace_id: Workspace,
                          request: Request) -> CampaignReport:
    """Per email (delivered, people's opens and clicks, rates, unsubscribes, bounces, from the
    counters kept as engagement is recorded), per structure, and per link its clicks and
    clickers, people's and all."""
    return await usecases.campaign_report(request.app.state.engine, workspace_id, campaign_id)


@router.get("/{campaign_id}/failures", response_model=FailurePage, responses=problems(404))
async def list_failures(
    campaign_id: uuid.UUID, workspace_id: Workspace, request: Request,
    sequence: Annotated[int | None, Query(ge=1, le=100_000)] = None,
    limit: Annotated[int, Query(ge=1, le=1_000)] = 100,
) -> FailurePage:
    """Failed deliveries, newest first, each with its kind, reason and SMTP codes."""
    return await usecases.list_failures(request.app.state.engine, workspace_id, campaign_id,
                                        sequence=sequence, limit=limit)


@router.post("/{campaign_id}/preview", response_model=PreviewEmail,
             responses=problems(404, 409, 502, 503, 504))
async def preview_next_email(campaign_id: uuid.UUID, workspace_id: Workspace,
                             request: Request) -> PreviewEmail:
    """A draft of the next email, written now and stored nowhere."""
    state = request.app.state
    return await usecases.preview_next_email(
        state.engine, state.nc, workspace_id, campaign_id,
        timeout=state.settings.preview_timeout_seconds)
