"""/api/fields: the custom fields a workspace declares for its contacts."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Request, Response

from campaign_api.auth import Workspace
from campaign_api.routes.common import problems
from campaign_api.schemas_contacts import FieldCreate, FieldDeclaration
from campaign_api.usecases import lists

router = APIRouter(prefix="/api/fields", tags=["fields"], responses=problems(401, 413, 422, 429))


@router.get("/", response_model=list[FieldDeclaration])
async def list_fields(workspace_id: Workspace, request: Request) -> list[FieldDeclaration]:
    return await lists.list_fields(request.app.state.engine, workspace_id)


@router.post("/", status_code=201, response_model=FieldDeclaration, responses=problems(409))
async def declare_field(body: FieldCreate, workspace_id: Workspace,
                        request: Request) -> FieldDeclaration:
    """Declare a custom field (text, number, date or boolean); again with the same type
    relabels it, with another type is refused."""
    return await lists.declare_field(request.app.state.engine, workspace_id, body)


@router.delete("/{key}/", status_code=204, response_class=Response, responses=problems(404))
async def delete_field(key: Annotated[str, Path(max_length=64)], workspace_id: Workspace,
                       request: Request) -> Response:
    """Delete a declaration and every contact's value of it."""
    await lists.delete_field(request.app.state.engine, workspace_id, key)
    return Response(status_code=204)
