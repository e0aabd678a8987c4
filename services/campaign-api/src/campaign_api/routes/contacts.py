"""/api/contacts: the workspace's contacts, searched, paged, edited and upserted in bulk."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Query, Request, Response

from campaign_api.auth import Workspace
from campaign_api.routes.common import problems
from campaign_api.schemas_contacts import (
    BulkReport,
    BulkUpsert,
    ContactCreate,
    ContactDetail,
    ContactPage,
    ContactUpdate,
    Timeline,
    TimelineEntry,
)
from campaign_api.usecases import contact_timeline as timeline
from campaign_api.usecases import contacts
from contracts.contacts import ContactStatus

router = APIRouter(prefix="/api/contacts", tags=["contacts"],
                   responses=problems(401, 413, 422, 429))


@router.post("/", status_code=201, response_model=ContactDetail, responses=problems(409))
async def create_contact(body: ContactCreate, workspace_id: Workspace,
                         request: Request) -> ContactDetail:
    """Create a contact, stating the basis for mailing it (recorded as its consent)."""
    return await contacts.create_contact(request.app.state.engine, request.app.state.erasure,
                                         workspace_id, body)


@router.get("/", response_model=ContactPage)
async def search_contacts(
    workspace_id: Workspace, request: Request,
    limit: Annotated[int, Query(ge=1, le=1_000)] = 100,
    cursor: Annotated[str | None, Query(max_length=1_000)] = None,
    q: Annotated[str | None, Query(max_length=320, description="The start of the address "
                                   "or of the name")] = None,
    tag: Annotated[str | None, Query(max_length=64)] = None,
    status: ContactStatus | None = None,
    list_id: Annotated[uuid.UUID | None, Query(description="Members of this list")] = None,
) -> ContactPage:
    return await contacts.search_contacts(request.app.state.engine, workspace_id, limit=limit,
                                          cursor=cursor, q=q, tag=tag, status=status,
                                          list_id=list_id)


@router.post("/bulk", response_model=BulkReport)
async def bulk_upsert(body: BulkUpsert, workspace_id: Workspace,
                      request: Request) -> BulkReport:
    """Create or update up to 10,000 contacts at once: all of them valid, or none stored. A
    contact already there keeps its status; its fields and tags are merged."""
    return await contacts.bulk_upsert(request.app.state.engine, request.app.state.erasure,
                                      workspace_id, body)


@router.get("/{contact_id}/", response_model=ContactDetail, responses=problems(404))
async def get_contact(contact_id: uuid.UUID, workspace_id: Workspace,
                      request: Request) -> ContactDetail:
    return await contacts.get_contact(request.app.state.engine, workspace_id, contact_id)


@router.get("/{contact_id}/timeline", response_model=Timeline, responses=problems(404))
async def contact_timeline(contact_id: uuid.UUID, workspace_id: Workspace,
                           request: Request) -> Timeline:
    """Every send, open, click, unsubscribe and failed delivery of the contact across the
    workspace's campaigns, newest first."""
    found = await timeline.contact_timeline(request.app.state.engine, workspace_id, contact_id)
    return Timeline(items=[TimelineEntry(at=h.at, kind=h.kind, campaign_id=h.campaign_id,
                                         campaign_name=h.campaign, sequence=h.sequence,
                                         detail=h.detail)
                           for h in found.happenings], truncated=found.truncated)


@router.patch("/{contact_id}/", response_model=ContactDetail, responses=problems(404))
async def update_contact(contact_id: uuid.UUID, body: ContactUpdate, workspace_id: Workspace,
                         request: Request) -> ContactDetail:
    """Change what is given: fields are merged (null removes one), tags are replaced."""
    return await contacts.update_contact(request.app.state.engine, workspace_id, contact_id,
                                         body)


@router.delete("/{contact_id}/", status_code=204, response_class=Response,
               responses=problems(404))
async def delete_contact(contact_id: uuid.UUID, workspace_id: Workspace,
                         request: Request) -> Response:
    await contacts.delete_contact(request.app.state.engine, workspace_id, contact_id)
    return Response(status_code=204)
