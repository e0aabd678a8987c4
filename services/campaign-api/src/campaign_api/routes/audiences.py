"""/api/campaigns/{id}/recipients: a campaign's audience, by the item or by CSV file."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Query, Request

from campaign_api import usecases
from campaign_api.auth import Workspace
from campaign_api.routes.common import problems
from campaign_api.schemas import (
    ImportReport,
    MembershipChange,
    RecipientPage,
    RecipientsAdd,
    RecipientsRemove,
)

router = APIRouter(prefix="/api/campaigns/{campaign_id}/recipients", tags=["audiences"],
                   responses=problems(401, 404, 413, 422, 429))


@router.get("", response_model=RecipientPage)
async def list_recipients(
    campaign_id: uuid.UUID, workspace_id: Workspace, request: Request,
    limit: Annotated[int, Query(ge=1, le=1_000)] = 100,
    cursor: Annotated[str | None, Query(max_length=320)] = None,
) -> RecipientPage:
    return await usecases.list_members(request.app.state.engine, workspace_id, campaign_id,
                                       limit=limit, cursor=cursor)


@router.post("", response_model=MembershipChange, responses=problems(409))
async def add_recipients(campaign_id: uuid.UUID, body: RecipientsAdd, workspace_id: Workspace,
                         request: Request) -> MembershipChange:
    """Add recipients (with name and merge fields); addresses already there are kept as
    they are."""
    return await usecases.add_members(request.app.state.engine, request.app.state.erasure,
                                      workspace_id, campaign_id, body.recipients)


@router.post("/remove", response_model=MembershipChange)
async def remove_recipients(campaign_id: uuid.UUID, body: RecipientsRemove,
                            workspace_id: Workspace, request: Request) -> MembershipChange:
    return await usecases.remove_members(request.app.state.engine, workspace_id, campaign_id,
                                         [str(e) for e in body.emails])


@router.post("/import", response_model=ImportReport, responses=problems(409),
             openapi_extra={"requestBody": {
    "required": True,
    "description": "A CSV file: a header with an `email` column, optionally `name`; every "
                   "other column becomes a merge field.",
    "content": {"text/csv": {"schema": {"type": "string"},
                             "example": "email,name,company\nada@example.com,Ada,Analytical\n"}},
}})
async def import_recipients(campaign_id: uuid.UUID, workspace_id: Workspace,
                            request: Request) -> ImportReport:
    """Import a CSV as it uploads (never held whole in memory); rejected rows are reported with
    their line number and reason, duplicates are skipped."""
    return await usecases.import_csv(request.app.state.engine, request.app.state.erasure,
                                     workspace_id, campaign_id, request.stream())
