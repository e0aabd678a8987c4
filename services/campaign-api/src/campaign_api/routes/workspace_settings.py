"""/api/workspace/settings: the frequency cap across campaigns and the monthly LLM budget."""

from __future__ import annotations

from fastapi import APIRouter, Request

from campaign_api.auth import Workspace
from campaign_api.routes.common import problems
from campaign_api.schemas_consent import WorkspaceSettings, WorkspaceSettingsUpdate
from campaign_api.usecases import workspace_settings as cases

router = APIRouter(prefix="/api/workspace/settings", tags=["workspace"],
                   responses=problems(401, 422, 429))


@router.get("", response_model=WorkspaceSettings)
async def get_settings(workspace_id: Workspace, request: Request) -> WorkspaceSettings:
    return await cases.get_settings(request.app.state.engine, workspace_id)


@router.put("", response_model=WorkspaceSettings)
async def update_settings(body: WorkspaceSettingsUpdate, workspace_id: Workspace,
                          request: Request) -> WorkspaceSettings:
    """Change the settings given (null clears a cap or the budget); workspace.updated tells
    the other services."""
    return await cases.update_settings(request.app.state.engine, workspace_id, body)
