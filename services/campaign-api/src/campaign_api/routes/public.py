"""What the public pages share (the sign-up forms and the preference centre): their templates,
the headers every one carries, and the answer to a link that does not verify."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from fastapi import Request
from fastapi.responses import HTMLResponse
from fastapi.templating import Jinja2Templates

from campaign_api.auth import client_address

templates = Jinja2Templates(directory=Path(__file__).parent.parent / "public_templates")
# Personal pages: never cached, never indexed, no address leaked to the next site.
NO_STORE = {"Cache-Control": "no-store, private", "Referrer-Policy": "no-referrer",
            "X-Robots-Tag": "noindex"}
HTML = {"content": {"text/html": {"schema": {"type": "string"}}}}


def page(request: Request, template: str, title: str, status: int = 200,
         headers: dict[str, str] | None = None, **context: Any) -> HTMLResponse:
    return templates.TemplateResponse(request, template, {"title": title, **context},
                                      status_code=status, headers={**NO_STORE, **(headers or {})})


def message(request: Request, title: str, *lines: str, status: int = 200,
            button: str | None = None, headers: dict[str, str] | None = None) -> HTMLResponse:
    return page(request, "message.html", title, status, headers, lines=lines, button=button)


def link_not_valid(request: Request) -> HTMLResponse:
    return message(request, "Link not valid", "This link is not valid. It may have expired, "
                   "been altered or copied incompletely.", status=404)


def visitor(request: Request) -> tuple[str | None, str | None]:
    """(client address, user agent) as a consent record keeps them."""
    address = client_address(request)
    return (None if address == "unknown" else address), request.headers.get("user-agent")
