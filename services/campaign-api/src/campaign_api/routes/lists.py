"""/api/lists: static lists of contacts and their members."""

from __future__ import annotations

import uuid
from typing import Annotated, Literal

from fastapi import APIRouter, Query, Request, Response

from campaign_api.auth import Workspace
from campaign_api.routes.common import problems
from campaign_api.schemas_contacts import (
    ContactList,
    ListCreate,
    ListPage,
    ListUpdate,
    MemberPage,
    MembersChange,
    MembersResult,
)
from campaign_api.usecases import lists

router = APIRouter(prefix="/api/lists", tags=["lists"], responses=problems(401, 413, 422, 429))


@router.post("/", status_code=201, response_model=ContactList)
async def create_list(body: ListCreate, workspace_id: Workspace,
                      request: Request) -> ContactList:
    return await lists.create_list(request.app.state.engine, workspace_id, body)


@router.get("/", response_model=ListPage)
async def list_lists(
    workspace_id: Workspace, request: Request,
    limit: Annotated[int, Query(ge=1, le=1_000)] = 100,
    cursor: Annotated[str | None, Query(max_length=1_000)] = None,
    kind: Annotated[Literal["list", "campaign"] | None,
                    Query(description="Only lists, or only campaigns' own")] = None,
) -> ListPage:
    return await lists.list_lists(request.app.state.engine, workspace_id, limit=limit,
                                  cursor=cursor, kind=kind)


@router.get("/{list_id}/", response_model=ContactList, responses=problems(404))
async def get_list(list_id: uuid.UUID, workspace_id: Workspace,
                   request: Request) -> ContactList:
    return await lists.get_list(request.app.state.engine, workspace_id, list_id)


@router.patch("/{list_id}/", response_model=ContactList, responses=problems(404))
async def update_list(list_id: uuid.UUID, body: ListUpdate, workspace_id: Workspace,
                      request: Request) -> ContactList:
    return await lists.update_list(request.app.state.engine, workspace_id, list_id, body)


@router.delete("/{list_id}/", status_code=204, response_class=Response,
               responses=problems(404, 409))
async def delete_list(list_id: uuid.UUID, workspace_id: Workspace,
                      request: Request) -> Response:
    """Delete a list (its contacts stay); a campaign's own list goes with its campaign."""
    await lists.delete_list(request.app.state.engine, workspace_id, list_id)
    return Response(status_code=204)


@router.get("/{list_id}/members", response_model=MemberPage, responses=problems(404))
async def list_members(
    list_id: uuid.UUID, workspace_id: Workspace, request: Request,
    limit: Annotated[int, Query(ge=1, le=1_000)] = 100,
    cursor: Annotated[str | None, Query(max_length=1_000)] = None,
) -> MemberPage:
    return await lists.list_members_page(request.app.state.engine, workspace_id, list_id,
                                         limit=limit, cursor=cursor)


@router.post("/{list_id}/members", response_model=MembersResult, responses=problems(404))
async def add_members(list_id: uuid.UUID, body: MembersChange, workspace_id: Workspace,
                      request: Request) -> MembersResult:
    """Put contacts of this workspace on the list, by address or id; those that are no
    contact are reported, not created (POST /api/contacts/bulk with list_id does that)."""
    return await lists.add_list_members(request.app.state.engine, workspace_id, list_id, body)


@router.post("/{list_id}/members/remove", response_model=MembersResult,
             responses=problems(404))
async def remove_members(list_id: uuid.UUID, body: MembersChange, workspace_id: Workspace,
                         request: Request) -> MembersResult:
    return await lists.remove_list_members(request.app.state.engine, workspace_id, list_id,
                                           body)
