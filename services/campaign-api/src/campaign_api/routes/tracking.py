"""The links inside every email: open pixel, click redirect, the hidden trap link,
unsubscribe page and RFC 8058 one-click unsubscribe. Public (the token is the credential); a
token that does not verify answers 404 and never redirects. Opens and clicks are labelled a
person's or a machine's from the request's user agent (engagement_rules), which may be
anything or missing."""

from __future__ import annotations

import base64
from html import escape

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from campaign_api import usecases
from campaign_api.engagement_rules import user_agent
from contracts.links import InvalidLink, LinkSigner

router = APIRouter(tags=["tracking"])

# A transparent 1x1 GIF.
PIXEL = base64.b64decode("R0lGODlhAQABAIAAAAAAAP///yH5BAEAAAAALAAAAAABAAEAAAIBRAA7")
_NO_STORE = {"Cache-Control": "no-store, private", "Referrer-Policy": "no-referrer",
             "X-Robots-Tag": "noindex"}
_HTML = {"content": {"text/html": {"schema": {"type": "string"}}}}

_PAGE = """<!doctype html><html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width,initial-scale=1"><title>{title}</title>
<style>body{{font-family:system-ui,sans-serif;background:#f5f6f8;color:#1d2330;margin:0}}
main{{max-width:30rem;margin:12vh auto;background:#fff;border-radius:12px;padding:2rem 2.25rem;
box-shadow:0 1px 3px rgba(0,0,0,.08)}}h1{{font-size:1.35rem;margin:0 0 .75rem}}
p{{line-height:1.5;color:#4a5366}}button{{font:inherit;background:#3754db;color:#fff;border:0;
border-radius:8px;padding:.65rem 1.2rem;cursor:pointer}}button:hover{{background:#2a43b5}}</style>
</head><body><main><h1>{title}</h1>{body}</main></body></html>"""


def _page(title: str, body: str, status: int = 200) -> HTMLResponse:
    return HTMLResponse(_PAGE.format(title=escape(title), body=body), status_code=status,
                        headers=_NO_STORE)


def _not_found() -> HTMLResponse:
    return _page("Link not valid", "<p>This link is not valid. It may have been altered or "
                 "copied incompletely.</p>", status=404)


def _agent(request: Request) -> str:
    return user_agent(request.headers.get("user-agent"))


def _signer(request: Request) -> LinkSigner:
    signer: LinkSigner = request.app.state.link_signer
    return signer


@router.get("/o/{token}.gif", response_class=Response, responses={
    200: {"content": {"image/gif": {}}, "description": "The pixel"},
    404: {**_HTML, "description": "Not a valid open token"}})
async def open_pixel(token: str, request: Request) -> Response:
    try:
        await usecases.record_open(request.app.state.engine, _signer(request), token,
                                   user_agent=_agent(request))
    except InvalidLink:
        return _not_found()
    return Response(PIXEL, media_type="image/gif", headers=_NO_STORE)


@router.get("/c/{token}", response_class=RedirectResponse, status_code=302, responses={
    302: {"description": "To the URL the email linked to"},
    404: {**_HTML, "description": "Not a valid click token"}})
async def click(token: str, request: Request) -> Response:
    try:
        url = await usecases.record_click(request.app.state.engine, _signer(request), token,
                                          user_agent=_agent(request))
    except InvalidLink:
        return _not_found()
    return RedirectResponse(url, status_code=302, headers=_NO_STORE)


@router.get("/c/{token}/{target}", response_class=RedirectResponse, status_code=302, responses={
    302: {"description": "To the URL the email linked to"},
    404: {**_HTML, "description": "Not a valid click link"}})
async def click_target(token: str, target: str, request: Request) -> Response:
    """The recipient's click token and the target token of the link in their email."""
    try:
        url = await usecases.record_click(request.app.state.engine, _signer(request), token,
                                          target, user_agent=_agent(request))
    except InvalidLink:
        return _not_found()
    return RedirectResponse(url, status_code=302, headers=_NO_STORE)


@router.get("/t/{token}", response_class=HTMLResponse, responses={
    200: _HTML, 404: {**_HTML, "description": "Not a valid trap link"}})
async def trap(token: str, request: Request) -> HTMLResponse:
    """The link the mailer hides in every tracked HTML email, which no person sees or reaches:
    whatever follows it is a link scanner. Answers like a page, so the scanner goes on."""
    try:
        await usecases.record_trap(request.app.state.engine, _signer(request), token,
                                   user_agent=_agent(request))
    except InvalidLink:
        return _not_found()
    return _page("Nothing here", "<p>There is nothing to see at this address.</p>")


@router.get("/u/{token}", response_class=HTMLResponse, responses={
    200: _HTML, 404: {**_HTML, "description": "Not a valid unsubscribe token"}})
async def unsubscribe_page(token: str, request: Request) -> HTMLResponse:
    """Asks before acting: mail scanners follow links, and a GET must not unsubscribe."""
    try:
        claims = usecases.unsubscribe_claims(_signer(request), token)
    except InvalidLink:
        return _not_found()
    if await usecases.already_unsubscribed(request.app.state.engine, claims):
        return _page("Already unsubscribed", f"<p><strong>{escape(claims.email)}</strong> is "
                     "already unsubscribed and gets no more emails from this sender. There is "
                     "nothing more to do.</p>")
    return _page("Unsubscribe", f"<p>Stop emails to <strong>{escape(claims.email)}</strong>?"
                 "</p><form method=\"post\"><button type=\"submit\">Unsubscribe</button></form>")


@router.post("/u/{token}", response_class=HTMLResponse, responses={
    200: _HTML, 404: {**_HTML, "description": "Not a valid unsubscribe token"}})
async def unsubscribe(token: str, request: Request) -> HTMLResponse:
    """The form's POST and RFC 8058 one-click (`List-Unsubscribe=One-Click`): a bare POST is
    enough, no cookie or redirect involved."""
    try:
        claims = await usecases.unsubscribe(request.app.state.engine, _signer(request), token)
    except InvalidLink:
        return _not_found()
    return _page("You are unsubscribed", f"<p><strong>{escape(claims.email)}</strong> will get "
                 "no more emails from this sender.</p>")
