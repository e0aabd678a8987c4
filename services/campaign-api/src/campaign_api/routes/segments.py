"""/api/segments: saved rules over the workspace's contacts, with a live count and sample."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Query, Request, Response

from campaign_api.auth import Workspace
from campaign_api.routes.common import problems
from campaign_api.schemas_segments import (
    SegmentCount,
    SegmentCreate,
    SegmentDetail,
    SegmentPage,
    SegmentPreview,
    SegmentUpdate,
)
from campaign_api.usecases import segments

router = APIRouter(prefix="/api/segments", tags=["segments"],
                   responses=problems(401, 413, 422, 429))


@router.post("/", status_code=201, response_model=SegmentDetail)
async def create_segment(body: SegmentCreate, workspace_id: Workspace,
                         request: Request) -> SegmentDetail:
    """Save a rule; its members reach the mailer within the refresh interval (at once, on
    the refresher's next look)."""
    return await segments.create_segment(request.app.state.engine, workspace_id, body)


@router.post("/preview", response_model=SegmentCount)
async def preview_segment(body: SegmentPreview, workspace_id: Workspace,
                          request: Request) -> SegmentCount:
    """How many contacts a rule selects now and the first 20 by address, without saving."""
    return await segments.preview(request.app.state.engine, workspace_id, body.rule)


@router.get("/", response_model=SegmentPage)
async def list_segments(
    workspace_id: Workspace, request: Request,
    limit: Annotated[int, Query(ge=1, le=1_000)] = 100,
    cursor: Annotated[str | None, Query(max_length=1_000)] = None,
) -> SegmentPage:
    return await segments.list_segments(request.app.state.engine, workspace_id, limit=limit,
                                        cursor=cursor)


@router.get("/{segment_id}/", response_model=SegmentDetail, responses=problems(404))
async def get_segment(segment_id: uuid.UUID, workspace_id: Workspace,
                      request: Request) -> SegmentDetail:
    """The segment, with who its rule selects now (count and sample)."""
    return await segments.get_segment(request.app.state.engine, workspace_id, segment_id)


@router.patch("/{segment_id}/", response_model=SegmentDetail, responses=problems(404))
async def update_segment(segment_id: uuid.UUID, body: SegmentUpdate, workspace_id: Workspace,
                         request: Request) -> SegmentDetail:
    return await segments.update_segment(request.app.state.engine, workspace_id, segment_id,
                                         body)


@router.delete("/{segment_id}/", status_code=204, response_class=Response,
               responses=problems(404))
async def delete_segment(segment_id: uuid.UUID, workspace_id: Workspace,
                         request: Request) -> Response:
    await segments.delete_segment(request.app.state.engine, workspace_id, segment_id)
    return Response(status_code=204)
