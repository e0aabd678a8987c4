"""The outbox pages: what the development SMTP sink received, for the viewer's workspace."""

from __future__ import annotations

import asyncio
from typing import Annotated

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse

from campaign_api.dashboard import outbox
from campaign_api.dashboard.auth import SignedIn
from campaign_api.dashboard.pages import engine_of, maildir_of, not_found, render
from campaign_api.usecases import accounts

outbox_router = APIRouter(prefix="/dashboard", include_in_schema=False)


def _outbox(request: Request) -> outbox.OutboxIndex | None:
    maildir = maildir_of(request)
    if maildir is None:
        return None
    index: outbox.OutboxIndex | None = getattr(request.app.state, "outbox_index", None)
    if index is None or index.maildir != maildir:
        index = request.app.state.outbox_index = outbox.OutboxIndex(maildir)
    return index


@outbox_router.get("/outbox")
async def outbox_page(request: Request, viewer: SignedIn,
                      before: Annotated[str | None, Query(max_length=200)] = None,
                      ) -> HTMLResponse:
    index = _outbox(request)
    if index is None:
        return not_found(request, viewer, "outbox")
    campaigns = await accounts.campaign_ids(engine_of(request), viewer.workspace_id)
    # File reads, in a thread: the first listing of a large Maildir reads every header once.
    page = await asyncio.to_thread(index.page, campaigns, before)
    return render(request, "outbox.html", viewer, section="outbox", messages=page.messages,
                  older=page.older, paged=before is not None, maildir=index.maildir)


@outbox_router.get("/outbox/{key}")
async def outbox_message(request: Request, viewer: SignedIn, key: str) -> HTMLResponse:
    maildir = maildir_of(request)
    message = await asyncio.to_thread(outbox.read_message, maildir, key) if maildir else None
    # Another workspace's message is as absent as one that never was.
    if message is None or message.envelope.campaign_id not in await accounts.campaign_ids(
            engine_of(request), viewer.workspace_id):
        return not_found(request, viewer, "message")
    return render(request, "message.html", viewer, section="outbox", m=message,
                  img_src="data:")
