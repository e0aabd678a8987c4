"""/api/suppressions: the workspace's managed suppression list."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request, Response
from fastapi.responses import StreamingResponse

from campaign_api.auth import Workspace
from campaign_api.routes.common import problems
from campaign_api.schemas_consent import (
    SuppressionAdd,
    SuppressionAdded,
    SuppressionImport,
    SuppressionPage,
    SuppressionReason,
    SuppressionRemove,
)
from campaign_api.usecases import suppressions as cases

router = APIRouter(prefix="/api/suppressions", tags=["suppressions"],
                   responses=problems(401, 413, 422, 429))


@router.get("", response_model=SuppressionPage)
async def list_suppressions(
    workspace_id: Workspace, request: Request, reason: SuppressionReason | None = None,
    limit: Annotated[int, Query(ge=1, le=1_000)] = 100,
    cursor: Annotated[str | None, Query(max_length=320)] = None,
) -> SuppressionPage:
    return await cases.list_suppressions(request.app.state.engine, workspace_id, reason=reason,
                                         cursor=cursor, limit=limit)


@router.post("", response_model=SuppressionAdded, status_code=201)
async def add_suppression(body: SuppressionAdd, workspace_id: Workspace,
                          request: Request) -> SuppressionAdded:
    """Suppress one address; its contact's status follows (manual: unsubscribed)."""
    added = await cases.add_suppression(request.app.state.engine, request.app.state.erasure,
                                        workspace_id, body.email, body.reason, body.note)
    return SuppressionAdded(added=added)


@router.post("/import", response_model=SuppressionImport, openapi_extra={"requestBody": {
    "required": True,
    "description": "A CSV file: a header with an `email` column, optionally `reason` and "
                   "`note`; `reason` in the query is the default.",
    "content": {"text/csv": {"schema": {"type": "string"},
                             "example": "email,note\nada@example.com,asked by phone\n"}},
}})
async def import_suppressions(workspace_id: Workspace, request: Request,
                              reason: SuppressionReason = "manual") -> SuppressionImport:
    return await cases.import_suppressions(request.app.state.engine, request.app.state.erasure,
                                           workspace_id, request.stream(), reason=reason)


@router.get("/export", response_class=StreamingResponse, responses={
    200: {"content": {"text/csv": {"schema": {"type": "string"}}}}})
async def export_suppressions(workspace_id: Workspace, request: Request,
                              reason: SuppressionReason | None = None) -> StreamingResponse:
    return StreamingResponse(
        cases.export_suppressions(request.app.state.engine, workspace_id, reason),
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": 'attachment; filename="suppressions.csv"'})


@router.delete("/{email}", status_code=204, responses=problems(404))
async def remove_suppression(email: str, body: SuppressionRemove, workspace_id: Workspace,
                             request: Request) -> Response:
    """Take an address off the list; the reason (the body's `reason`) is kept on record."""
    await cases.remove_suppression(request.app.state.engine, workspace_id, email, body.reason)
    return Response(status_code=204)
