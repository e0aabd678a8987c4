"""/api/campaigns: create, list and read campaigns."""

from __future__ import annotations

import base64
import uuid
from datetime import UTC, datetime
from typing import Annotated

import pydantic
from fastapi import APIRouter, HTTPException, Query, Request
from fastapi.exceptions import RequestValidationError

from campaign_api import db
from campaign_api.auth import Workspace
from campaign_api.db import AnyRow
from campaign_api.domain import default_send_time, localise, starts_now
from campaign_api.schemas import (
    CampaignCreate,
    CampaignDetail,
    CampaignEmail,
    CampaignPage,
    CampaignSummary,
    Problem,
    Progress,
)
from contracts import AudienceMember, AudienceMembersAdded, CampaignCreated, CampaignDefinition
from contracts.events import MAX_MEMBERS_PER_EVENT, AudienceMembersAddedPayload, Schedule
from servicekit.db import UnitOfWork

router = APIRouter(prefix="/api/campaigns", tags=["campaigns"], responses={
    401: {"model": Problem, "description": "Missing or invalid API key"},
    422: {"model": Problem, "description": "Invalid request"},
})


def _definition(body: CampaignCreate, now: datetime) -> CampaignDefinition:
    start = localise(body.start_at, body.timezone) if body.start_at else now
    try:
        schedule = Schedule(
            schedule_type=body.schedule_type, weekly_days=body.weekly_days,
            weekly_emails=body.weekly_emails, total_months=body.total_months,
            total_emails=body.total_emails, start_at=start,
            start_immediately=starts_now(start, now),
            send_time=body.send_time or default_send_time(), timezone=body.timezone,
        )
        return CampaignDefinition(
            campaign_id=uuid.uuid4(), audience_id=uuid.uuid4(), name=body.name,
            description=body.description, brand_voice=body.brand_voice,
            audience_description=body.audience_description, model=body.ai_agent_id,
            fallback_models=body.fallback_models, from_name=body.from_name,
            from_email=body.from_email, reply_to=body.reply_to, schedule=schedule,
        )
    except pydantic.ValidationError as exc:
        raise RequestValidationError(exc.errors()) from exc


def _unique(emails: list[str]) -> list[str]:
    seen: dict[str, str] = {}
    for email in emails:
        seen.setdefault(email.lower(), email)
    return list(seen.values())


@router.post("/", status_code=201, response_model=CampaignDetail)
async def create_campaign(body: CampaignCreate, workspace_id: Workspace,
                          request: Request) -> CampaignDetail:
    now = datetime.now(UTC)
    definition = _definition(body, now)
    recipients = _unique(body.recipient_emails)
    correlation_id = uuid.uuid4()
    async with UnitOfWork(request.app.state.engine) as uow:
        await db.insert_campaign(
            uow.conn, id=definition.campaign_id, workspace_id=workspace_id,
            audience_id=definition.audience_id, name=definition.name,
            definition=definition.model_dump(mode="json"), status="active",
        )
        await db.add_members(uow.conn, workspace_id, definition.audience_id, recipients)
        # Members first: the mailer reads both from one ordered stream.
        for i in range(0, len(recipients), MAX_MEMBERS_PER_EVENT):
            chunk = recipients[i:i + MAX_MEMBERS_PER_EVENT]
            uow.publish(AudienceMembersAdded.create(
                AudienceMembersAddedPayload(audience_id=definition.audience_id,
                                            members=[AudienceMember(email=e) for e in chunk]),
                workspace_id=workspace_id, correlation_id=correlation_id,
            ))
        uow.publish(CampaignCreated.create(definition, workspace_id=workspace_id,
                                           correlation_id=correlation_id))
        await uow.commit()
    return await get_campaign(definition.campaign_id, workspace_id, request)


def _encode_cursor(moment: datetime) -> str:
    return base64.urlsafe_b64encode(moment.isoformat().encode()).decode()


def _decode_cursor(cursor: str) -> datetime:
    try:
        moment = datetime.fromisoformat(base64.urlsafe_b64decode(cursor.encode()).decode())
    except (ValueError, UnicodeDecodeError) as exc:
        raise HTTPException(422, "cursor: not a cursor this API returned") from exc
    return moment


@router.get("/", response_model=CampaignPage)
async def list_campaigns(
    workspace_id: Workspace, request: Request,
    limit: Annotated[int, Query(ge=1, le=100)] = 50,
    cursor: Annotated[str | None, Query(max_length=200)] = None,
) -> CampaignPage:
    before = _decode_cursor(cursor) if cursor else None
    async with request.app.state.engine.connect() as conn:
        rows = await db.list_campaigns(conn, workspace_id, limit=limit + 1, before=before)
    items = [_summary(r) for r in rows[:limit]]
    next_cursor = _encode_cursor(rows[limit - 1].created_at) if len(rows) > limit else None
    return CampaignPage(items=items, next_cursor=next_cursor)


@router.get("/{campaign_id}/", response_model=CampaignDetail,
            responses={404: {"model": Problem, "description": "No such campaign"}})
async def get_campaign(campaign_id: uuid.UUID, workspace_id: Workspace,
                       request: Request) -> CampaignDetail:
    async with request.app.state.engine.connect() as conn:
        row = await db.get_campaign(conn, workspace_id, campaign_id)
        if row is None:
            raise HTTPException(404, f"No campaign {campaign_id} in this workspace.")
        emails = await db.campaign_emails_of(conn, campaign_id)
    return _detail(row, emails)


def _progress(row: AnyRow) -> Progress:
    return Progress(recipients=row.recipients, emails_generated=row.emails_generated,
                    emails_failed=row.emails_failed, deliveries_sent=row.deliveries_sent,
                    deliveries_failed=row.deliveries_failed)


def _summary(row: AnyRow) -> CampaignSummary:
    d = row.definition
    return CampaignSummary(
        id=row.id, name=row.name, status=row.status,
        schedule_type=d["schedule"]["schedule_type"], ai_agent_id=d["model"],
        progress=_progress(row), created_at=row.created_at, updated_at=row.updated_at,
    )


def _detail(row: AnyRow, emails: list[AnyRow]) -> CampaignDetail:
    d = CampaignDefinition.model_validate(row.definition)
    s = d.schedule
    return CampaignDetail(
        **_summary(row).model_dump(),
        description=d.description, brand_voice=d.brand_voice,
        audience_description=d.audience_description, weekly_emails=s.weekly_emails,
        weekly_days=s.weekly_days, total_months=s.total_months, total_emails=s.total_emails,
        start_at=s.start_at, send_time=s.send_time, timezone=s.timezone,
        fallback_models=d.fallback_models, from_name=d.from_name,
        from_email=d.from_email, reply_to=d.reply_to,
        emails=[CampaignEmail.model_validate(e, from_attributes=True) for e in emails],
    )
