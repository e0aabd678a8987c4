"""A draft of a campaign's next email, asked of the content generator by NATS request-reply."""

from __future__ import annotations

import uuid

import pydantic
from nats.aio.client import Client
from nats.errors import NoRespondersError
from nats.errors import TimeoutError as NatsTimeout
from sqlalchemy.ext.asyncio import AsyncEngine

from campaign_api.domain import can_edit
from campaign_api.failures import BadGateway, Conflict, TimedOut, Unavailable
from campaign_api.schemas import PreviewEmail
from campaign_api.usecases.campaigns import require_campaign
from contracts.preview import PREVIEW_SUBJECT, PreviewReply, PreviewRequest

DEFAULT_TIMEOUT_SECONDS = 60.0


async def preview_next_email(
    engine: AsyncEngine, nc: Client | None, workspace_id: uuid.UUID, campaign_id: uuid.UUID,
    *, timeout: float = DEFAULT_TIMEOUT_SECONDS,  # noqa: ASYNC109 - a NATS request timeout
) -> PreviewEmail:
    async with engine.connect() as conn:
        row = await require_campaign(conn, workspace_id, campaign_id)
    if not can_edit(row.status):
        raise Conflict(f"No preview: a {row.status} campaign sends no next email.")
    if nc is None or not nc.is_connected:
        raise Unavailable("Preview needs the message broker, which is not connected.")
    request = PreviewRequest(workspace_id=workspace_id, campaign_id=campaign_id)
    try:
        msg = await nc.request(PREVIEW_SUBJECT, request.model_dump_json().encode(),
                               timeout=timeout)
    except NoRespondersError as exc:
        raise Unavailable("No content generator is running to write a preview.") from exc
    except NatsTimeout as exc:
        raise TimedOut(f"The content generator did not answer within {timeout:g} s.") from exc
    try:
        reply = PreviewReply.model_validate_json(msg.data)
    except pydantic.ValidationError as exc:
        raise BadGateway("The content generator answered with something that is not a "
                      "preview.") from exc
    if reply.draft is None:
        reason = reply.error or "no draft"
        raise Conflict(f"No preview: {reason}")
    return PreviewEmail.model_validate(reply.draft.model_dump())
