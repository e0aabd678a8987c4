"""What every dashboard page module shares: the templates, the page response with its headers,
the not-found page, and the app's engine and settings as a request sees them."""

from __future__ import annotations

import re
import uuid
from pathlib import Path
from typing import Any

from fastapi import Request
from fastapi.responses import HTMLResponse
from fastapi.templating import Jinja2Templates
from nats.aio.client import Client as Nats
from sqlalchemy.ext.asyncio import AsyncEngine

from campaign_api.dashboard.auth import Viewer, settings_of
from campaign_api.dashboard.numbers import number
from campaign_api.domain import can_edit
from campaign_api.failures import NotFound
from campaign_api.schemas import CampaignDetail
from campaign_api.usecases import campaigns as campaign_cases

HERE = Path(__file__).parent
STATIC_DIR = HERE / "static"
templates = Jinja2Templates(directory=HERE / "templates")
STATIC_PATH = "/dashboard/static"
templates.env.globals["static"] = lambda path: f"{STATIC_PATH}/{path}"
templates.env.globals["can_edit"] = can_edit  # the lifecycle's one rule of what takes changes
templates.env.filters["number"] = number

# Outcomes of a form post, shown once on the page it redirects to. Fixed texts: nothing that
# arrives in the URL is ever shown.
NOTICES = {
    "created": ("ok", "Campaign created. Its first email is being written."),
    "updated": ("ok", "Changes saved. They apply from the next email on."),
    "paused": ("ok", "Campaign paused. No email goes out until you resume it."),
    "resumed": ("ok", "Campaign resumed. The next email goes out at the next slot."),
    "cancelled": ("ok", "Campaign cancelled. No further email will be sent."),
    "journey-created": ("ok", "Journey created. Its emails are being written; contacts enter "
                              "by its trigger."),
    "journey-updated": ("ok", "Saved as a new version: new entries take it, contacts already "
                              "in carry on with theirs."),
    "signed-out": ("ok", "You are signed out."),
    "tagged": ("ok", "The tag was added to the selected contacts."),
    "untagged": ("ok", "The tag was removed from the selected contacts."),
    "listed": ("ok", "The selected contacts are on the list."),
    "unlisted": ("ok", "The selected contacts are off the list."),
    "list-created": ("ok", "List created."),
    "list-renamed": ("ok", "List renamed."),
    "field-declared": ("ok", "Field saved. Contacts, imports and segments know it now."),
    "segment-saved": ("ok", "Segment saved."),
    "suppressed": ("ok", "The address is on the suppression list: it gets no email."),
    "unsuppressed": ("ok", "The address is off the suppression list, with your reason kept."),
    "winner-picked": ("ok", "Winner picked. It goes to everyone held back for the test now."),
    "winner-decided": ("warn", "The test was decided already; nothing changed."),
    "winner-invalid": ("warn", "That is not one of the test's variants; nothing changed."),
}


def engine_of(request: Request) -> AsyncEngine:
    engine: AsyncEngine = request.app.state.engine
    return engine


def nats_of(request: Request) -> Nats | None:
    nc: Nats | None = getattr(request.app.state, "nc", None)
    return nc


def maildir_of(request: Request) -> Path | None:
    return settings_of(request).dev_maildir


# Everything the pages use is served from here; style attributes are the only inline code.
# Images: a received email shown in the outbox must not fetch anything (an open pixel would
# count the developer's look as an open), and its srcdoc frame inherits this policy.
_CSP = ("default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; "
        "img-src {img}; frame-src 'self'; form-action 'self'; frame-ancestors 'none'; "
        "base-uri 'none'; object-src 'none'")
_HOST = re.compile(r"^[A-Za-z0-9.-]+(:[0-9]{1,5})?$|^\[[0-9A-Fa-f:.]+\](:[0-9]{1,5})?$")


def _images(request: Request, img_src: str) -> str:
    """`img_src`, plus the dashboard's own static files: the page's icon loads even where a
    shown email may fetch nothing. Its frame inherits the policy, and no tracking link lives
    under /dashboard/static/. Only a plain host is named in the policy."""
    if not _HOST.match(request.url.netloc):
        return img_src
    return f"{img_src} {request.url.scheme}://{request.url.netloc}{STATIC_PATH}/"


def render(request: Request, template: str, viewer: Viewer | None, *, status_code: int = 200,
           img_src: str = "'self' data:", **context: Any) -> HTMLResponse:
    notice = NOTICES.get(request.query_params.get("done", ""))
    context |= {"viewer": viewer, "outbox_enabled": maildir_of(request) is not None,
                "notice": {"kind": notice[0], "text": notice[1]} if notice else None}
    response: HTMLResponse = templates.TemplateResponse(request, template, context,
                                                        status_code=status_code)
    # Pages show workspace data: never from a shared cache.
    response.headers["Cache-Control"] = "no-store"
    response.headers["Content-Security-Policy"] = _CSP.format(img=_images(request, img_src))
    response.headers["Referrer-Policy"] = "same-origin"
    response.headers["X-Content-Type-Options"] = "nosniff"
    return response


def not_found(request: Request, viewer: Viewer, what: str) -> HTMLResponse:
    return render(request, "not_found.html", viewer, status_code=404, what=what)


async def find_campaign(request: Request, viewer: Viewer,
                        campaign_id: uuid.UUID) -> CampaignDetail | None:
    """The viewer's campaign, or None where their workspace has no such campaign."""
    try:
        return await campaign_cases.get_campaign(engine_of(request), viewer.workspace_id,
                                                 campaign_id)
    except NotFound:
        return None
