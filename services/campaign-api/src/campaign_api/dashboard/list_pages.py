"""The Lists page (create, rename, members counted, a link to their contacts) and the custom
fields page (declare a field with its type)."""

from __future__ import annotations

import uuid
from typing import Annotated, Any

import pydantic
from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from campaign_api.dashboard.auth import SignedIn, SignedInForm, Viewer
from campaign_api.dashboard.pages import engine_of, not_found, render
from campaign_api.db.contact_tables import FIELD_TYPES
from campaign_api.failures import Failure, Invalid, NotFound
from campaign_api.schemas_contacts import FieldCreate, ListCreate, ListUpdate
from campaign_api.usecases import lists

list_router = APIRouter(prefix="/dashboard", include_in_schema=False)

PAGE_SIZE = 50


def _redirect(path: str) -> RedirectResponse:
    return RedirectResponse(path, status_code=303)


def _form(raw: Any) -> dict[str, str]:
    return {k: v for k, v in raw.items() if isinstance(v, str)}


def _messages(exc: pydantic.ValidationError | Failure, model: type[pydantic.BaseModel]
              ) -> dict[str, str]:
    """Errors by form field: the API's own messages, naming the field they refuse."""
    failure = Invalid.from_validation(exc, model) if isinstance(
        exc, pydantic.ValidationError) else exc
    found = {e.field: e.message for e in failure.errors}
    return found or {"form": failure.detail}


@list_router.get("/lists")
async def list_page(request: Request, viewer: SignedIn,
                    cursor: Annotated[str | None, Query(max_length=1_000)] = None,
                    campaigns: Annotated[bool, Query()] = False) -> HTMLResponse:
    return await _lists_page(request, viewer, cursor=cursor, campaigns=campaigns)


async def _lists_page(request: Request, viewer: Viewer, *, cursor: str | None = None,
                      campaigns: bool = False, status_code: int = 200,
                      **context: Any) -> HTMLResponse:
    try:
        page = await lists.list_lists(engine_of(request), viewer.workspace_id, limit=PAGE_SIZE,
                                      cursor=cursor, kind=None if campaigns else "list")
    except Failure:  # a cursor that is not ours: start over
        page = await lists.list_lists(engine_of(request), viewer.workspace_id,
                                      limit=PAGE_SIZE, kind=None if campaigns else "list")
    context.setdefault("errors", {})
    context.setdefault("values", {})
    return render(request, "lists.html", viewer, status_code=status_code, section="contacts",
                  page=page, campaigns=campaigns, **context)


@list_router.post("/lists")
async def create_list(request: Request, viewer: SignedInForm) -> Response:
    values = _form(await request.form())
    try:
        body = ListCreate(name=values.get("name", "").strip(),
                          description=values.get("description", "").strip())
        await lists.create_list(engine_of(request), viewer.workspace_id, body)
    except (pydantic.ValidationError, Failure) as exc:
        return await _lists_page(request, viewer, status_code=422, values=values,
                                 errors=_messages(exc, ListCreate))
    return _redirect("/dashboard/lists?done=list-created")


@list_router.post("/lists/{list_id}/rename")
async def rename_list(request: Request, viewer: SignedInForm, list_id: uuid.UUID) -> Response:
    values = _form(await request.form())
    try:
        changes = ListUpdate(name=values.get("name", "").strip())
        await lists.update_list(engine_of(request), viewer.workspace_id, list_id, changes)
    except NotFound:
        return not_found(request, viewer, "list")
    except (pydantic.ValidationError, Failure) as exc:
        return await _lists_page(request, viewer, status_code=422, renaming=list_id,
                                 rename_errors=_messages(exc, ListUpdate))
    return _redirect("/dashboard/lists?done=list-renamed")


# --- custom fields ------------------------------------------------------------------------


@list_router.get("/fields")
async def field_page(request: Request, viewer: SignedIn) -> HTMLResponse:
    return await _fields_page(request, viewer)


async def _fields_page(request: Request, viewer: Viewer, *, status_code: int = 200,
                       **context: Any) -> HTMLResponse:
    declared = await lists.list_fields(engine_of(request), viewer.workspace_id)
    context.setdefault("errors", {})
    context.setdefault("values", {})
    return render(request, "fields.html", viewer, status_code=status_code, section="contacts",
                  declared=declared, types=FIELD_TYPES, **context)


@list_router.post("/fields")
async def declare_field(request: Request, viewer: SignedInForm) -> Response:
    values = _form(await request.form())
    try:
        body = FieldCreate.model_validate({"key": values.get("key", "").strip(),
                                           "label": values.get("label", "").strip(),
                                           "type": values.get("type", "")})
        await lists.declare_field(engine_of(request), viewer.workspace_id, body)
    except (pydantic.ValidationError, Failure) as exc:
        return await _fields_page(request, viewer, status_code=422, values=values,
                                  errors=_messages(exc, FieldCreate))
    return _redirect("/dashboard/fields?done=field-declared")
