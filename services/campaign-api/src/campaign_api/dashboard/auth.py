"""Dashboard sessions: a signed cookie that names a session kept in the database and carries a
CSRF token.

Signing in with an API key starts a session row tied to the key (never the key itself); each
request looks the row up again, so signing out (the row is deleted), its expiry and revoking the
key all end it, whatever cookie a browser kept. Visitors who are not signed in get an anonymous
session holding only a CSRF token, so that the sign-in form is protected like every other form.
"""

from __future__ import annotations

import hmac
import secrets
import uuid
from dataclasses import dataclass
from datetime import timedelta
from typing import Annotated, Any
from urllib.parse import urlsplit

from fastapi import Depends, Request, Response
from itsdangerous import BadSignature, URLSafeTimedSerializer

from campaign_api.auth import check_failures, record_failure
from campaign_api.dashboard.settings import DashboardSettings
from campaign_api.usecases import accounts

COOKIE = "cb_session"
CSRF_FIELD = "csrf_token"
PATH = "/dashboard"


class SignInRequired(Exception):  # noqa: N818 - reads as what happened
    """The page needs a signed-in session; answered with a redirect to the sign-in page."""


class CsrfRejected(Exception):  # noqa: N818
    """A form was posted without this session's token, or from another origin."""


@dataclass(frozen=True)
class Session:
    csrf: str
    session_id: uuid.UUID | None = None  # set once signed in

    def dumps(self) -> dict[str, Any]:
        data: dict[str, Any] = {"csrf": self.csrf}
        if self.session_id is not None:
            data["sid"] = str(self.session_id)
        return data

    @classmethod
    def loads(cls, data: object) -> Session | None:
        if not isinstance(data, dict) or not isinstance(data.get("csrf"), str):
            return None
        try:
            session_id = uuid.UUID(data["sid"]) if "sid" in data else None
        except (TypeError, ValueError, AttributeError):
            return None
        return cls(csrf=data["csrf"], session_id=session_id)


def new_session(session_id: uuid.UUID | None = None) -> Session:
    # A fresh token on every sign-in and sign-out: a token seen before signing in is worthless.
    return Session(csrf=secrets.token_urlsafe(32), session_id=session_id)


def settings_of(request: Request) -> DashboardSettings:
    settings: DashboardSettings = request.app.state.dashboard_settings
    return settings


def _serializer(settings: DashboardSettings) -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(settings.signing_secret(), salt="campaign-builder.dashboard")


def read_session(request: Request) -> Session | None:
    raw = request.cookies.get(COOKIE)
    if not raw:
        return None
    settings = settings_of(request)
    try:
        data = _serializer(settings).loads(raw, max_age=settings.session_max_age_seconds)
    except BadSignature:  # also covers an expired one
        return None
    return Session.loads(data)


def write_session(request: Request, response: Response, session: Session) -> None:
    settings = settings_of(request)
    response.set_cookie(
        COOKIE, _serializer(settings).dumps(session.dumps()),
        max_age=settings.session_max_age_seconds, path=PATH, httponly=True, samesite="lax",
        secure=request.url.scheme == "https",
    )


async def any_session(request: Request) -> Session:
    """The visitor's session, or a new anonymous one (the caller must write it)."""
    return read_session(request) or new_session()


@dataclass(frozen=True)
class Viewer:
    """A signed-in visitor: their workspace, their session and the token their forms carry."""

    workspace_id: uuid.UUID
    csrf: str
    session_id: uuid.UUID


async def is_live(request: Request, session: Session) -> bool:
    return session.session_id is not None and await accounts.session_workspace(
        request.app.state.engine, session.session_id) is not None


async def signed_in(request: Request) -> Viewer:
    session = read_session(request)
    if session is None or session.session_id is None:
        raise SignInRequired
    workspace_id = await accounts.session_workspace(request.app.state.engine, session.session_id)
    if workspace_id is None:  # signed out, expired, or its key revoked
        raise SignInRequired
    return Viewer(workspace_id=workspace_id, csrf=session.csrf, session_id=session.session_id)


async def sign_in(request: Request, key: str) -> Session | None:
    """A signed-in session for a live key; None (a failure counted against the client's
    address) for any other. TooManyFailures while that address is over its limit."""
    check_failures(request)
    key = key.strip()
    started = None
    if 0 < len(key) <= 200:
        lifetime = timedelta(seconds=settings_of(request).session_max_age_seconds)
        started = await accounts.start_session(request.app.state.engine, key, lifetime)
    if started is None:
        record_failure(request)
        return None
    session_id, _ = started
    return new_session(session_id)


async def sign_out(request: Request, viewer: Viewer) -> Session:
    """Ends the viewer's session on the server; the anonymous session to write instead."""
    await accounts.end_session(request.app.state.engine, viewer.session_id)
    return new_session()


def _same_origin(request: Request) -> bool:
    # Browsers send Origin on cross-site POSTs; when present it must be this site.
    origin = request.headers.get("origin")
    if origin is None or origin == "null":
        return origin is None
    return urlsplit(origin).netloc == request.url.netloc


async def check_csrf(request: Request, expected: str) -> None:
    form = await request.form()
    token = form.get(CSRF_FIELD)
    if (not isinstance(token, str) or not hmac.compare_digest(token, expected)
            or not _same_origin(request)):
        raise CsrfRejected


async def signed_in_form(request: Request) -> Viewer:
    """A signed-in visitor posting one of our forms."""
    viewer = await signed_in(request)
    await check_csrf(request, viewer.csrf)
    return viewer


SignedIn = Annotated[Viewer, Depends(signed_in)]
SignedInForm = Annotated[Viewer, Depends(signed_in_form)]
