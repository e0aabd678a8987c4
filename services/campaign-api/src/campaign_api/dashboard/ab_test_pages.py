"""The campaign page's A/B tests: an operator sends one variant to everyone held back, before
the window's decision (the same use case as the REST API's pick)."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Path, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from campaign_api.dashboard.auth import SignedInForm
from campaign_api.dashboard.pages import engine_of, not_found
from campaign_api.failures import Conflict, Invalid, NotFound
from campaign_api.usecases import ab_tests
from contracts.ab_tests import VARIANT_KEYS

ab_test_router = APIRouter(prefix="/dashboard", include_in_schema=False)


@ab_test_router.post("/campaigns/{campaign_id}/emails/{sequence}/ab-test/winner")
async def pick_winner(request: Request, viewer: SignedInForm, campaign_id: uuid.UUID,
                      sequence: Annotated[int, Path(ge=1, le=100_000)]) -> Response:
    posted = (await request.form()).get("variant")
    variant = next((k for k in VARIANT_KEYS if k == posted), None)
    page = f"/dashboard/campaigns/{campaign_id}"
    if variant is None:
        return RedirectResponse(f"{page}?done=winner-invalid#ab-tests", status_code=303)
    try:
        await ab_tests.pick_winner(engine_of(request), viewer.workspace_id, campaign_id,
                                   sequence, variant)
    except NotFound:
        return _missing(request, viewer)
    except Conflict:
        return RedirectResponse(f"{page}?done=winner-decided#ab-tests", status_code=303)
    except Invalid:
        return RedirectResponse(f"{page}?done=winner-invalid#ab-tests", status_code=303)
    return RedirectResponse(f"{page}?done=winner-picked#ab-tests", status_code=303)


def _missing(request: Request, viewer: SignedInForm) -> HTMLResponse:
    return not_found(request, viewer, "campaign")
