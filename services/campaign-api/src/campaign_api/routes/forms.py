"""Hosted sign-up forms (public, no API key): `/f/{list_id}` shows and takes a sign-up, the
confirmation mail's link `/f/confirm/{token}` confirms it; and the API's embeddable snippet.

A posted form is limited per client address; a filled honeypot is answered like a sign-up and
stores nothing, so a bot learns nothing from the answer."""

from __future__ import annotations

import math
import time
import uuid

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse

from campaign_api import consent
from campaign_api.auth import Workspace
from campaign_api.failures import NotFound
from campaign_api.ratelimit import RateLimiter
from campaign_api.routes.common import problems
from campaign_api.routes.public import HTML, link_not_valid, message, page, visitor
from campaign_api.schemas_consent import SignupEmbed
from campaign_api.usecases import consent as cases
from contracts.links import InvalidLink

router = APIRouter(tags=["sign-up forms"])
api = APIRouter(prefix="/api/lists/{list_id}", tags=["sign-up forms"],
                responses=problems(401, 404, 429))

_FIELDS = ("email", "name", consent.HONEYPOT)
_CHECK_INBOX = ("Check your inbox", "We have sent you an email with a link. Follow it to "
                "confirm your subscription; until then you are not subscribed.")


def _no_list(request: Request) -> HTMLResponse:
    return message(request, "Form not found", "There is no sign-up form here.", status=404)


@router.get("/f/{list_id}", response_class=HTMLResponse, include_in_schema=False)
async def signup_page(list_id: uuid.UUID, request: Request) -> HTMLResponse:
    try:
        form = await cases.signup_form(request.app.state.engine, list_id)
    except NotFound:
        return _no_list(request)
    return page(request, "signup.html", f"Subscribe to {form.list_name}", form=form,
                action=request.url.path, errors=[], values={}, honeypot=consent.HONEYPOT)


@router.post("/f/{list_id}", response_class=HTMLResponse, responses={
    200: HTML, 404: HTML, 422: HTML, 429: HTML})
async def sign_up(list_id: uuid.UUID, request: Request) -> HTMLResponse:
    """A sign-up (form fields `email`, `name`): the contact is asked to confirm by email."""
    limiter: RateLimiter = request.app.state.signup_limiter
    ip, agent = visitor(request)
    wait = limiter.take(ip or "unknown", time.monotonic())
    if wait:
        retry = str(max(1, math.ceil(wait)))
        return message(request, "Too many sign-ups", "Too many sign-ups from your address; "
                       f"please try again in {retry} seconds.", status=429,
                       headers={"Retry-After": retry})
    try:
        form = await cases.signup_form(request.app.state.engine, list_id)
    except NotFound:
        return _no_list(request)
    posted = await request.form(max_files=0, max_fields=20)
    values = {k: str(v)[:1_000] for k in _FIELDS if isinstance(v := posted.get(k, ""), str)}
    if consent.is_bot(values):
        return message(request, *_CHECK_INBOX)
    try:
        signup = consent.sign_up(values)
    except consent.InvalidContact as exc:
        return page(request, "signup.html", f"Subscribe to {form.list_name}", status=422,
                    form=form, action=request.url.path, errors=[str(exc)], values=values,
                    honeypot=consent.HONEYPOT)
    state = request.app.state
    await cases.sign_up(state.engine, state.link_signer, state.erasure, state.settings.base_url,
                        list_id, signup, ip=ip, user_agent=agent)
    return message(request, *_CHECK_INBOX)


@router.get("/f/confirm/{token}", response_class=HTMLResponse, include_in_schema=False)
async def confirm_page(token: str, request: Request) -> HTMLResponse:
    """Asks before acting: mail scanners follow links, and a GET must not subscribe anyone."""
    try:
        request.app.state.link_signer.verify_confirm(token)
    except InvalidLink:
        return link_not_valid(request)
    return message(request, "Confirm your subscription", "One click and you are subscribed.",
                   button="Confirm my subscription")


@router.post("/f/confirm/{token}", response_class=HTMLResponse, responses={200: HTML, 404: HTML})
async def confirm(token: str, request: Request) -> HTMLResponse:
    try:
        done = await cases.confirm(request.app.state.engine, request.app.state.link_signer,
                                   token)
    except InvalidLink:
        return link_not_valid(request)
    if done.already:
        return message(request, "Already confirmed",
                       f"{done.email} is subscribed to {done.list_name} already.")
    return message(request, "You are subscribed",
                   f"{done.email} is now subscribed to {done.list_name}. Thank you!")


@api.get("/signup-form", response_model=SignupEmbed)
async def signup_embed(list_id: uuid.UUID, workspace_id: Workspace,
                       request: Request) -> SignupEmbed:
    """The list's hosted sign-up form and the HTML to embed it (a public list only)."""
    url, html = await cases.embed_code(request.app.state.engine, workspace_id, list_id,
                                       request.app.state.settings.base_url)
    return SignupEmbed(url=url, html=html)
