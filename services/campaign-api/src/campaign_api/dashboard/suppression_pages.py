"""The suppression list page: the addresses no campaign mails, with their reasons; add one,
remove one with a reason kept on record, and export the list as CSV."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Annotated, Any
from urllib.parse import urlencode

import pydantic
from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response, StreamingResponse
from starlette.datastructures import UploadFile

from campaign_api.dashboard.auth import SignedIn, SignedInForm, Viewer
from campaign_api.dashboard.pages import engine_of, render
from campaign_api.failures import Failure, Invalid
from campaign_api.schemas_consent import SuppressionAdd, SuppressionReason, SuppressionRemove
from campaign_api.usecases import suppressions

suppression_router = APIRouter(prefix="/dashboard", include_in_schema=False)

PAGE_SIZE = 50
READ_CHUNK = 256 * 1024


def _reason(raw: str) -> SuppressionReason | None:
    return next((r for r in suppressions.REASONS if r == raw), None)


@suppression_router.get("/suppressions")
async def suppression_page(request: Request, viewer: SignedIn,
                           reason: Annotated[str, Query(max_length=20)] = "",
                           cursor: Annotated[str | None, Query(max_length=400)] = None,
                           ) -> HTMLResponse:
    return await _page(request, viewer, reason=reason, cursor=cursor)


async def _page(request: Request, viewer: Viewer, *, reason: str = "",
                cursor: str | None = None, status_code: int = 200,
                **context: Any) -> HTMLResponse:
    wanted = _reason(reason)
    page = await suppressions.list_suppressions(engine_of(request), viewer.workspace_id,
                                                reason=wanted, cursor=cursor, limit=PAGE_SIZE)
    context.setdefault("errors", {})
    context.setdefault("values", {})
    return render(request, "suppressions.html", viewer, status_code=status_code,
                  section="suppressions", page=page, reason=wanted or "",
                  reasons=suppressions.REASONS,
                  filter_query=urlencode({"reason": wanted}) if wanted else "", **context)


def _form(raw: Any) -> dict[str, str]:
    return {k: v.strip() for k, v in raw.items() if isinstance(v, str)}


def _messages(exc: Failure | pydantic.ValidationError,
              model: type[pydantic.BaseModel]) -> dict[str, str]:
    failure = Invalid.from_validation(exc, model) if isinstance(
        exc, pydantic.ValidationError) else exc
    return {e.field: e.message for e in failure.errors} or {"form": failure.detail}


@suppression_router.post("/suppressions")
async def add_suppression(request: Request, viewer: SignedInForm) -> Response:
    values = _form(await request.form())
    try:
        body = SuppressionAdd(email=values.get("email", ""),
                              reason=values.get("reason") or "manual",
                              note=values.get("note", ""))
        added = await suppressions.add_suppression(
            engine_of(request), request.app.state.erasure, viewer.workspace_id, body.email,
            body.reason, body.note)
    except (pydantic.ValidationError, Failure) as exc:
        return await _page(request, viewer, status_code=422, values=values,
                           errors=_messages(exc, SuppressionAdd))
    if not added:  # listed already (it keeps its first reason), or erased: mailed never
        return await _page(request, viewer, values={}, added_nothing=values.get("email"))
    return RedirectResponse("/dashboard/suppressions?done=suppressed", status_code=303)


@suppression_router.post("/suppressions/remove")
async def remove_suppression(request: Request, viewer: SignedInForm) -> Response:
    values = _form(await request.form())
    email = values.get("email", "")
    try:
        body = SuppressionRemove(reason=values.get("why", ""))
        await suppressions.remove_suppression(engine_of(request), viewer.workspace_id, email,
                                              body.reason)
    except (pydantic.ValidationError, Failure) as exc:
        return await _page(request, viewer, status_code=422, removing=email,
                           remove_error="Give the reason it may be mailed again."
                           if isinstance(exc, pydantic.ValidationError) else exc.detail)
    return RedirectResponse("/dashboard/suppressions?done=unsuppressed", status_code=303)


async def _read(upload: UploadFile) -> AsyncIterator[bytes]:
    while chunk := await upload.read(READ_CHUNK):
        yield chunk


@suppression_router.post("/suppressions/import")
async def import_suppressions(request: Request, viewer: SignedInForm) -> Response:
    """A CSV of addresses (`email`, optionally `reason` and `note` columns) onto the list."""
    async with request.form(max_files=1, max_fields=10) as form:
        upload = form.get("file")
        default = _reason(str(form.get("reason") or "manual"))
        if not isinstance(upload, UploadFile) or not upload.filename or default is None:
            return await _page(request, viewer, status_code=422,
                               import_error="Choose a CSV file and a reason.")
        try:
            report = await suppressions.import_suppressions(
                engine_of(request), request.app.state.erasure, viewer.workspace_id,
                _read(upload), reason=default)
        except Failure as exc:  # not a CSV, or no email column
            return await _page(request, viewer, status_code=422, import_error=exc.detail)
    return await _page(request, viewer, report=report, filename=upload.filename)


@suppression_router.get("/suppressions/export")
async def export_suppressions(request: Request, viewer: SignedIn,
                              reason: Annotated[str, Query(max_length=20)] = "",
                              ) -> StreamingResponse:
    stream = suppressions.export_suppressions(engine_of(request), viewer.workspace_id,
                                              _reason(reason))
    return StreamingResponse(stream, media_type="text/csv; charset=utf-8", headers={
        "Content-Disposition": 'attachment; filename="suppressions.csv"',
        "Cache-Control": "no-store"})
