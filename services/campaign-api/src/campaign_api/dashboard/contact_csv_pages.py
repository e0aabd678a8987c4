"""Contacts as CSV from the dashboard: an import into the workspace (a target list, whether
existing contacts are updated, the consent basis; the report per line), and an export of the
Contacts page's filters. Both are the REST API's use cases."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from typing import Annotated, Any, get_args

import pydantic
from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse, Response, StreamingResponse
from starlette.datastructures import UploadFile

from campaign_api.dashboard.auth import SignedIn, SignedInForm, Viewer
from campaign_api.dashboard.contact_pages import all_lists
from campaign_api.dashboard.pages import engine_of, render
from campaign_api.failures import Failure, Invalid
from campaign_api.schemas_contacts import ConsentBasis
from campaign_api.schemas_import import ImportOptions
from campaign_api.usecases import contact_export, contact_import

csv_router = APIRouter(prefix="/dashboard", include_in_schema=False)

READ_CHUNK = 256 * 1024
BASES = get_args(ConsentBasis)


async def _page(request: Request, viewer: Viewer, *, status_code: int = 200,
                **context: Any) -> HTMLResponse:
    own = [x for x in await all_lists(engine_of(request), viewer.workspace_id)
           if x.kind == "list"]
    context.setdefault("errors", {})
    context.setdefault("values", {"update_existing": "true"})
    return render(request, "contact_import.html", viewer, status_code=status_code,
                  section="contacts", lists=own, bases=BASES, **context)


@csv_router.get("/contacts/import")
async def import_page(request: Request, viewer: SignedIn) -> HTMLResponse:
    return await _page(request, viewer)


async def _read(upload: UploadFile) -> AsyncIterator[bytes]:
    while chunk := await upload.read(READ_CHUNK):
        yield chunk


@csv_router.post("/contacts/import")
async def import_contacts(request: Request, viewer: SignedInForm) -> Response:
    # Starlette spools the file to disk past 1 MB: it is read back in chunks, never held.
    async with request.form(max_files=1, max_fields=20) as form:
        values = {k: v for k, v in form.multi_items() if k != "file" and isinstance(v, str)}
        upload = form.get("file")
        if not isinstance(upload, UploadFile) or not upload.filename:
            return await _page(request, viewer, status_code=422, values=values,
                               errors={"file": "Choose a CSV file to import."})
        try:
            options = ImportOptions.model_validate({
                "consent_basis": values.get("consent_basis", ""),
                "consent_text": values.get("consent_text", "").strip(),
                "list_id": values.get("list_id") or None,
                "update_existing": values.get("update_existing") == "true"})
            report = await contact_import.import_contacts(
                engine_of(request), request.app.state.erasure, viewer.workspace_id,
                _read(upload), options)
        except pydantic.ValidationError as exc:
            found = Invalid.from_validation(exc, ImportOptions).errors
            return await _page(request, viewer, status_code=422, values=values,
                               errors={e.field: e.message for e in found})
        except Failure as exc:  # not a CSV, no email column, a list not ours
            return await _page(request, viewer, status_code=422, values=values,
                               errors={e.field: e.message for e in exc.errors}
                               or {"file": exc.detail})
    return await _page(request, viewer, values=values, report=report,
                       filename=upload.filename)


@csv_router.get("/contacts/export")
async def export_contacts(
    request: Request, viewer: SignedIn,
    tag: Annotated[str, Query(max_length=64)] = "",
    status: Annotated[str, Query(max_length=20)] = "",
    list_id: Annotated[uuid.UUID | None, Query(alias="list")] = None,
) -> Response:
    try:
        chunks = await contact_export.export_contacts(
            engine_of(request), viewer.workspace_id, tag=tag.strip() or None,
            status=status or None, list_id=list_id)
    except Failure as exc:
        return Response(exc.detail, status_code=422, media_type="text/plain")
    return StreamingResponse(chunks, media_type="text/csv; charset=utf-8", headers={
        "Content-Disposition": 'attachment; filename="contacts.csv"',
        "Cache-Control": "no-store"})
