"""Preview: a draft of a campaign's next email, answered over NATS request-reply.

The draft is written exactly as the email would be (same memory, same redrafting) but is not
stored as content and not published; the calls it made are billed (llm_calls, `preview`).
"""

from __future__ import annotations

import asyncio
import contextlib

import pydantic
import structlog
from nats.aio.client import Client
from nats.aio.msg import Msg
from sqlalchemy.ext.asyncio import AsyncEngine

from content_generator import db, metrics
from content_generator.handlers import Ports, budget_left
from content_generator.providers.base import ProviderError
from content_generator.writer import write_draft
from contracts.preview import (
    PREVIEW_QUEUE,
    PREVIEW_SUBJECT,
    PreviewDraft,
    PreviewReply,
    PreviewRequest,
)
from servicekit.shutdown import Shutdown

log = structlog.get_logger(__name__)


def _error(code: str, message: str) -> PreviewReply:
    return PreviewReply(error=message[:2000], error_code=code)


async def preview(engine: AsyncEngine, request: PreviewRequest, ports: Ports) -> PreviewReply:
    async with engine.connect() as conn:
        brief = await db.get_campaign(conn, request.campaign_id)
        if brief is None or (await db.campaign_workspace(conn, brief.campaign_id)
                             != request.workspace_id):
            return _error("unknown_campaign", f"no campaign {request.campaign_id} in this "
                                              f"workspace")
        if (refusal := await budget_left(conn, request.workspace_id, ports.clock())) is not None:
            return _error("budget_exceeded", refusal)
        sequence = await db.generated_count(conn, brief.campaign_id) + 1
    scope = db.CallScope(request.workspace_id, brief.campaign_id, sequence, preview=True)
    try:
        draft = await write_draft(ports.database, brief, sequence=sequence, total=None,
                                  send_at=ports.clock(), provider=ports.provider,
                                  embedder=ports.embedder, memory=ports.memory,
                                  bandit=ports.bandit)
    except ProviderError as exc:
        metrics.observe(exc.calls)
        await ports.call_log.record(scope, exc.calls)
        return _error(exc.reason, exc.message)
    metrics.observe(draft.calls)
    await ports.call_log.record(scope, draft.calls)
    email = draft.email
    return PreviewReply(draft=PreviewDraft(
        sequence=sequence, subject=email.subject, preheader=email.preheader,
        body_html=email.body_html, body_text=email.body_text, model=draft.model,
        provider=draft.provider, structure=draft.structure, cost=draft.usage.cost,
    ))


async def answer(msg: Msg, engine: AsyncEngine, ports: Ports) -> None:
    try:
        request = PreviewRequest.model_validate_json(msg.data)
    except pydantic.ValidationError as exc:
        reply = _error("bad_request", f"invalid preview request: {exc.error_count()} problem(s)")
    else:
        try:
            reply = await preview(engine, request, ports)
        except Exception as exc:  # the requester gets an answer rather than a timeout
            log.exception("preview.failed", campaign_id=str(request.campaign_id))
            reply = _error("internal", f"preview failed: {type(exc).__name__}")
    if msg.reply:
        await msg.respond(reply.model_dump_json().encode())


async def serve_previews(
    nc: Client, engine: AsyncEngine, ports: Ports, shutdown: Shutdown
) -> None:
    """Answers preview requests until the service stops (the drafts under way are finished
    within the stop's grace); one replica of the queue group answers each.
    Each request is handled in its own task (nats-py runs a subscription's callbacks one at a
    time), so a slow draft does not hold up the next request."""

    running: set[asyncio.Task[None]] = set()

    async def on_request(msg: Msg) -> None:
        task = asyncio.create_task(answer(msg, engine, ports))
        running.add(task)
        task.add_done_callback(running.discard)

    sub = await nc.subscribe(PREVIEW_SUBJECT, queue=PREVIEW_QUEUE, cb=on_request)
    log.info("preview.listening", subject=PREVIEW_SUBJECT, queue=PREVIEW_QUEUE)
    try:
        await shutdown.wait()
        await sub.unsubscribe()
        await asyncio.gather(*running)
    finally:
        with contextlib.suppress(Exception):  # unsubscribed already, or NATS is away
            await sub.unsubscribe()
        for task in running:
            task.cancel()
