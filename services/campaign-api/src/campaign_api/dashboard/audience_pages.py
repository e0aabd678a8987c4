"""A campaign's audience page: its members page by page, who unsubscribed, and a CSV import."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse
from starlette.datastructures import UploadFile

from campaign_api.dashboard.auth import SignedIn, SignedInForm, Viewer
from campaign_api.dashboard.pages import engine_of, find_campaign, not_found, render
from campaign_api.domain import takes_recipients
from campaign_api.failures import Failure, NotFound
from campaign_api.usecases import audiences

audience_router = APIRouter(prefix="/dashboard", include_in_schema=False)


@audience_router.get("/campaigns/{campaign_id}/audience")
async def audience_page(request: Request, viewer: SignedIn, campaign_id: uuid.UUID,
                        after: Annotated[str | None, Query(max_length=320)] = None,
                        ) -> HTMLResponse:
    return await _audience_page(request, viewer, campaign_id, after=after)


async def _audience_page(request: Request, viewer: Viewer, campaign_id: uuid.UUID, *,
                         after: str | None = None, status_code: int = 200,
                         **context: Any) -> HTMLResponse:
    campaign = await find_campaign(request, viewer, campaign_id)
    if campaign is None:
        return not_found(request, viewer, "campaign")
    members = await audiences.list_members(engine_of(request), viewer.workspace_id, campaign_id,
                                           limit=50, cursor=after)
    open_to_new = takes_recipients(campaign.status, [e.send_at for e in campaign.emails],
                                   datetime.now(UTC))
    return render(request, "audience.html", viewer, status_code=status_code,
                  section="campaigns", c=campaign, members=members, open_to_new=open_to_new,
                  **context)


async def _chunks(upload: UploadFile) -> AsyncIterator[bytes]:
    while chunk := await upload.read(64 * 1024):
        yield chunk


# Named like the API's import, so the larger body limit for imports applies.
@audience_router.post("/campaigns/{campaign_id}/recipients/import")
async def import_audience(request: Request, viewer: SignedInForm,
                          campaign_id: uuid.UUID) -> HTMLResponse:
    upload = (await request.form()).get("file")
    if not isinstance(upload, UploadFile) or not upload.filename:
        return await _audience_page(request, viewer, campaign_id, status_code=422,
                                    upload_error="Choose a CSV file to import.")
    try:
        report = await audiences.import_csv(engine_of(request), request.app.state.erasure,
                                            viewer.workspace_id, campaign_id, _chunks(upload))
    except NotFound:
        return not_found(request, viewer, "campaign")
    except Failure as exc:
        # 409 for a finished campaign, 422 for a file that is not a CSV of addresses.
        return await _audience_page(request, viewer, campaign_id, status_code=exc.status,
                                    upload_error=exc.detail)
    return await _audience_page(request, viewer, campaign_id, report=report,
                                filename=upload.filename)
