"""The preference centre at `/p/{token}` (public: the signed link in every campaign email's
footer is the credential). Each action is a POST that redirects back to the page, which then
says what was done; the notices are fixed texts, nothing from the URL is shown."""

from __future__ import annotations

import uuid

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from campaign_api.routes.public import HTML, NO_STORE, link_not_valid, message, page, visitor
from campaign_api.usecases import preferences as cases
from contracts.links import InvalidLink

router = APIRouter(prefix="/p/{token}", tags=["preference centre"])

NOTICES = {
    "left": "Done: you have left that list.",
    "joined": "Done: you are on that list.",
    "unsubscribed": "Done: you are unsubscribed from everything and get no more emails.",
}


def _back(token: str, notice: str) -> Response:
    return RedirectResponse(f"/p/{token}?done={notice}", status_code=303, headers=NO_STORE)


@router.get("", response_class=HTMLResponse, responses={200: HTML, 404: HTML})
async def preference_centre(token: str, request: Request, done: str | None = None
                            ) -> HTMLResponse:
    try:
        prefs = await cases.preferences(request.app.state.engine,
                                        request.app.state.link_signer, token)
    except InvalidLink:
        return link_not_valid(request)
    return page(request, "preferences.html", "Your email preferences", prefs=prefs,
                base=f"/p/{token}", notice=NOTICES.get(done or ""))


@router.post("/lists/{list_id}/leave", response_class=RedirectResponse, status_code=303,
             responses={404: HTML})
async def leave(token: str, list_id: uuid.UUID, request: Request) -> Response:
    try:
        await cases.leave(request.app.state.engine, request.app.state.link_signer, token,
                          list_id)
    except InvalidLink:
        return link_not_valid(request)
    return _back(token, "left")


@router.post("/lists/{list_id}/join", response_class=RedirectResponse, status_code=303,
             responses={404: HTML, 409: HTML})
async def join(token: str, list_id: uuid.UUID, request: Request) -> Response:
    """Rejoining records consent anew."""
    ip, agent = visitor(request)
    try:
        joined = await cases.rejoin(request.app.state.engine, request.app.state.link_signer,
                                    token, list_id, ip=ip, user_agent=agent)
    except InvalidLink:
        return link_not_valid(request)
    if not joined:
        return message(request, "Not possible", "Mail to this address bounced or was reported "
                       "as spam, so it cannot join a list. Please contact the sender.",
                       status=409)
    return _back(token, "joined")


@router.post("/unsubscribe", response_class=RedirectResponse, status_code=303,
             responses={404: HTML})
async def unsubscribe_everything(token: str, request: Request) -> Response:
    try:
        await cases.unsubscribe_everything(request.app.state.engine,
                                           request.app.state.link_signer, token)
    except InvalidLink:
        return link_not_valid(request)
    return _back(token, "unsubscribed")
