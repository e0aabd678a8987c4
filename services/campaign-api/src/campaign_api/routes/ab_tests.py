"""/api/campaigns/{id}/ab-tests: each tested email's variants and decision, and an operator's
pick of the winner."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Path, Request

from campaign_api.auth import Workspace
from campaign_api.routes.common import problems
from campaign_api.schemas_ab_tests import AbTestReport, WinnerPick
from campaign_api.usecases import ab_tests
from campaign_api.usecases.campaigns import require_campaign

router = APIRouter(prefix="/api/campaigns", tags=["ab tests"],
                   responses=problems(401, 413, 422, 429))

Sequence = Annotated[int, Path(ge=1, le=100_000)]


@router.get("/{campaign_id}/ab-tests", response_model=list[AbTestReport],
            responses=problems(404))
async def list_ab_tests(campaign_id: uuid.UUID, workspace_id: Workspace,
                        request: Request) -> list[AbTestReport]:
    """Each email under a test: its variants' deliveries, people's opens and clicks and rate,
    and the winner once decided."""
    async with request.app.state.engine.connect() as conn:
        await require_campaign(conn, workspace_id, campaign_id)
        return await ab_tests.ab_test_reports(conn, campaign_id)


@router.post("/{campaign_id}/emails/{sequence}/ab-test/winner", response_model=AbTestReport,
             responses=problems(404, 409))
async def pick_winner(campaign_id: uuid.UUID, sequence: Sequence, body: WinnerPick,
                      workspace_id: Workspace, request: Request) -> AbTestReport:
    """Send `variant` to everyone held back now, instead of the window's decision; 409 once
    the test is decided."""
    return await ab_tests.pick_winner(request.app.state.engine, workspace_id, campaign_id,
                                      sequence, body.variant)
