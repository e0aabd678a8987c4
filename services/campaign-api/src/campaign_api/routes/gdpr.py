"""/api/contacts/{id}/export and /erase: a contact's data, and the right to be forgotten."""

from __future__ import annotations

import uuid

from fastapi import APIRouter, Request

from campaign_api.auth import Workspace
from campaign_api.routes.common import problems
from campaign_api.schemas_consent import ContactExport, Erased
from campaign_api.usecases import gdpr as cases

router = APIRouter(prefix="/api/contacts/{contact_id}", tags=["gdpr"],
                   responses=problems(401, 404, 429))


@router.get("/export", response_model=ContactExport)
async def export_contact(contact_id: uuid.UUID, workspace_id: Workspace,
                         request: Request) -> ContactExport:
    """Everything held of the contact: profile, lists, consents, deliveries, engagement."""
    return await cases.export_contact(request.app.state.engine, workspace_id, contact_id)


@router.post("/erase", response_model=Erased)
async def erase_contact(contact_id: uuid.UUID, workspace_id: Workspace,
                        request: Request) -> Erased:
    """Delete everything held of the address, in every service; the address is refused if it
    is imported, added or signed up again."""
    await cases.erase_contact(request.app.state.engine, request.app.state.erasure,
                              workspace_id, contact_id)
    return Erased(id=contact_id)
