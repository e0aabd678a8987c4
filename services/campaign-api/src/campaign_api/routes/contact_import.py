"""/api/contacts/import and /api/contacts/export: the workspace's contacts as CSV, both ways,
streamed."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from typing import Annotated, Any

import pydantic
from fastapi import APIRouter, Query, Request
from fastapi.responses import StreamingResponse
from starlette.datastructures import UploadFile

from campaign_api.auth import Workspace
from campaign_api.failures import Invalid
from campaign_api.routes.common import problems
from campaign_api.schemas_import import ContactImportReport, ImportOptions
from campaign_api.usecases import contact_export, contact_import
from contracts.contacts import ContactStatus

router = APIRouter(prefix="/api/contacts", tags=["contacts"],
                   responses=problems(401, 413, 422, 429))

READ_CHUNK = 256 * 1024
CSV_TYPES = ("text/csv", "application/csv", "text/plain")
_OPTIONS = [{"name": name, "in": "query", "required": name == "consent_basis",
             "description": info.description or "", "schema": {"type": "string"}}
            for name, info in ImportOptions.model_fields.items()]


def _options(values: dict[str, Any]) -> ImportOptions:
    try:
        return ImportOptions.model_validate(values)
    except pydantic.ValidationError as exc:
        raise Invalid.from_validation(exc, ImportOptions) from exc


async def _read(upload: UploadFile) -> AsyncIterator[bytes]:
    while chunk := await upload.read(READ_CHUNK):
        yield chunk


@router.post("/import", response_model=ContactImportReport, openapi_extra={
    "parameters": _OPTIONS,
    "requestBody": {
        "required": True,
        "description": "The CSV as the body (text/csv), or as the `file` part of a "
                       "multipart/form-data upload whose other fields are the options. A "
                       "header row names the columns; cells of `tags` are separated by ';'.",
        "content": {
            "text/csv": {"schema": {"type": "string"},
                         "example": "email,name,tags\nada@example.com,Ada,vip;beta\n"},
            "multipart/form-data": {"schema": {
                "type": "object", "required": ["file"],
                "properties": {"file": {"type": "string", "format": "binary"}}}},
        }}})
async def import_contacts(workspace_id: Workspace, request: Request) -> ContactImportReport:
    """Import a CSV into the workspace's contacts as it uploads; each rejected row is reported
    with its line and reason, addresses erased on request among them."""
    values: dict[str, Any] = dict(request.query_params)
    kind = request.headers.get("content-type", "").split(";")[0].strip().lower()
    engine, erasure = request.app.state.engine, request.app.state.erasure
    if kind == "multipart/form-data":
        # Starlette spools the file to disk past 1 MB: read back in chunks, never held.
        async with request.form(max_files=1, max_fields=20) as form:
            upload = form.get("file")
            if not isinstance(upload, UploadFile):
                raise Invalid.field("file", "a multipart upload needs a file= part")
            values.update({k: v for k, v in form.multi_items()
                           if k != "file" and isinstance(v, str)})
            return await contact_import.import_contacts(engine, erasure, workspace_id,
                                                        _read(upload), _options(values))
    if kind not in CSV_TYPES:
        raise Invalid.field("content-type", "text/csv, or multipart/form-data with a file "
                            "part")
    return await contact_import.import_contacts(engine, erasure, workspace_id,
                                                request.stream(), _options(values))


@router.get("/export", response_class=StreamingResponse, responses={
    200: {"content": {"text/csv": {"schema": {"type": "string"}}},
          "description": "email, name, status, tags, timezone, language, created_at, then "
                         "each declared field, by address"}})
async def export_contacts(
    workspace_id: Workspace, request: Request,
    tag: Annotated[str | None, Query(max_length=64)] = None,
    status: ContactStatus | None = None,
    list_id: Annotated[uuid.UUID | None, Query(description="Members of this list")] = None,
) -> StreamingResponse:
    """The contacts the search with these filters finds, all of them, as CSV."""
    chunks = await contact_export.export_contacts(request.app.state.engine, workspace_id,
                                                  tag=tag, status=status, list_id=list_id)
    return StreamingResponse(chunks, media_type="text/csv; charset=utf-8", headers={
        "Content-Disposition": 'attachment; filename="contacts.csv"'})
