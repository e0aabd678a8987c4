"""The Segments pages: saved rules in a JSON editor with a short legend, a live count and
sample of the contacts a rule selects (the page's script asks /dashboard/api/segment-preview;
the Preview button makes the same round trip without it), and saving with each error shown by
its path inside the rule."""

from __future__ import annotations

import json
import uuid
from typing import Annotated, Any

import pydantic
from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response

from campaign_api.dashboard.auth import SignedIn, SignedInForm, Viewer
from campaign_api.dashboard.pages import engine_of, not_found, render
from campaign_api.failures import Failure, Invalid, NotFound
from campaign_api.schemas import FieldError
from campaign_api.schemas_segments import (
    SegmentCount,
    SegmentCreate,
    SegmentDetail,
    SegmentUpdate,
)
from campaign_api.usecases import segments

segment_router = APIRouter(prefix="/dashboard", include_in_schema=False)

PAGE_SIZE = 50
MAX_RULE_TEXT = 100_000
EXAMPLE = json.dumps({"all": [{"tag": "vip"},
                              {"engagement": "opened", "within_days": 30}]}, indent=2)


def _parsed(text: str) -> Any:
    """The rule's JSON; Invalid naming where the text stops being JSON."""
    if len(text) > MAX_RULE_TEXT:
        raise Invalid.field("rule", f"at most {MAX_RULE_TEXT:,} characters")
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise Invalid.field("rule", f"not JSON: {exc.msg} at line {exc.lineno}, "
                            f"column {exc.colno}") from None


def _errors(exc: Failure | pydantic.ValidationError) -> list[FieldError]:
    if isinstance(exc, pydantic.ValidationError):
        return Invalid.from_validation(exc, SegmentCreate).errors
    return exc.errors or [FieldError(field="rule", message=exc.detail)]


@segment_router.get("/segments")
async def segment_list(request: Request, viewer: SignedIn,
                       cursor: Annotated[str | None, Query(max_length=1_000)] = None,
                       ) -> HTMLResponse:
    try:
        page = await segments.list_segments(engine_of(request), viewer.workspace_id,
                                            limit=PAGE_SIZE, cursor=cursor)
    except Failure:  # a cursor that is not ours: start over
        page = await segments.list_segments(engine_of(request), viewer.workspace_id,
                                            limit=PAGE_SIZE)
    return render(request, "segments.html", viewer, section="segments", page=page)


def _editor(request: Request, viewer: Viewer, *, name: str, rule: str,
            segment: SegmentDetail | None = None, counted: SegmentCount | None = None,
            errors: list[FieldError] | None = None, status_code: int = 200) -> HTMLResponse:
    return render(request, "segment.html", viewer, status_code=status_code, section="segments",
                  segment=segment, name=name, rule=rule, errors=errors or [],
                  counted=counted if counted is not None else segment)


@segment_router.get("/segments/new")
async def new_segment(request: Request, viewer: SignedIn) -> HTMLResponse:
    return _editor(request, viewer, name="", rule=EXAMPLE)


@segment_router.get("/segments/{segment_id}")
async def segment_page(request: Request, viewer: SignedIn,
                       segment_id: uuid.UUID) -> HTMLResponse:
    try:
        found = await segments.get_segment(engine_of(request), viewer.workspace_id, segment_id)
    except NotFound:
        return not_found(request, viewer, "segment")
    return _editor(request, viewer, name=found.name, rule=json.dumps(found.rule, indent=2),
                   segment=found)


async def _posted(request: Request) -> tuple[str, str, str]:
    form = await request.form()
    return (str(form.get("name") or "").strip(), str(form.get("rule") or ""),
            str(form.get("intent") or "save"))


@segment_router.post("/segments/new")
async def create_segment(request: Request, viewer: SignedInForm) -> Response:
    return await _save(request, viewer, None)


@segment_router.post("/segments/{segment_id}")
async def update_segment(request: Request, viewer: SignedInForm,
                         segment_id: uuid.UUID) -> Response:
    return await _save(request, viewer, segment_id)


async def _save(request: Request, viewer: Viewer, segment_id: uuid.UUID | None) -> Response:
    """Save (or, with intent=preview, only count) the posted rule."""
    engine = engine_of(request)
    name, text, intent = await _posted(request)
    segment = None
    try:
        if segment_id is not None:
            segment = await segments.get_segment(engine, viewer.workspace_id, segment_id)
        rule = _parsed(text)
        if intent == "preview":
            counted = await segments.preview(engine, viewer.workspace_id, rule)
            return _editor(request, viewer, name=name, rule=text, segment=segment,
                           counted=counted)
        if segment_id is None:
            saved = await segments.create_segment(engine, viewer.workspace_id,
                                                  SegmentCreate(name=name, rule=rule))
        else:
            saved = await segments.update_segment(engine, viewer.workspace_id, segment_id,
                                                  SegmentUpdate(name=name, rule=rule))
    except NotFound:
        return not_found(request, viewer, "segment")
    except (Failure, pydantic.ValidationError) as exc:
        return _editor(request, viewer, name=name, rule=text, segment=segment,
                       errors=_errors(exc), status_code=422, counted=None)
    return RedirectResponse(f"/dashboard/segments/{saved.id}?done=segment-saved",
                            status_code=303)


@segment_router.post("/api/segment-preview")
async def segment_preview(request: Request, viewer: SignedInForm) -> JSONResponse:
    """The editor's live count: {count, sample} of the posted rule, or {errors} by path."""
    _, text, _ = await _posted(request)
    try:
        counted = await segments.preview(engine_of(request), viewer.workspace_id,
                                         _parsed(text))
    except Failure as exc:
        return JSONResponse({"errors": [e.model_dump() for e in _errors(exc)]},
                            status_code=422)
    return JSONResponse(counted.model_dump(mode="json"))
