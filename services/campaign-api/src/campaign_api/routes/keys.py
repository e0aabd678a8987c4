"""/api/keys and /api/workspace: the caller's workspace and its API keys."""

from __future__ import annotations

import uuid

from fastapi import APIRouter, Request, Response

from campaign_api import usecases
from campaign_api.auth import Workspace
from campaign_api.routes.common import problems
from campaign_api.schemas import ApiKeyCreate, ApiKeyCreated, ApiKeyInfo
from campaign_api.schemas import Workspace as WorkspaceOut

router = APIRouter(prefix="/api", tags=["workspace"], responses=problems(401, 413, 422, 429))


@router.get("/workspace", response_model=WorkspaceOut)
async def get_workspace(workspace_id: Workspace, request: Request) -> WorkspaceOut:
    return await usecases.get_workspace(request.app.state.engine, workspace_id)


@router.post("/keys", status_code=201, response_model=ApiKeyCreated)
async def create_api_key(body: ApiKeyCreate, workspace_id: Workspace,
                         request: Request) -> ApiKeyCreated:
    """A new key for this workspace. The key is in this answer only: just its hash is kept."""
    return await usecases.create_api_key(request.app.state.engine, workspace_id, body.name)


@router.get("/keys", response_model=list[ApiKeyInfo])
async def list_api_keys(workspace_id: Workspace, request: Request) -> list[ApiKeyInfo]:
    return await usecases.list_api_keys(request.app.state.engine, workspace_id)


@router.delete("/keys/{key_id}", status_code=204, responses=problems(404))
async def revoke_api_key(key_id: uuid.UUID, workspace_id: Workspace,
                         request: Request) -> Response:
    await usecases.revoke_api_key(request.app.state.engine, workspace_id, key_id)
    return Response(status_code=204)
