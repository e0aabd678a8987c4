"""Dashboard sessions: a signed cookie that names the workspace and carries a CSRF token.

Signing in with an API key stores the key's hash (never the key) in the cookie; each request
checks the hash against the key table again, so revoking a key ends its sessions too. Visitors
who are not signed in get an anonymous session holding only a CSRF token, so that the sign-in
form is protected like every other form.
"""

from __future__ import annotations

import hmac
import secrets
import uuid
from dataclasses import dataclass
from typing import Annotated, Any
from urllib.parse import urlsplit

from fastapi import Depends, Request, Response
from itsdangerous import BadSignature, URLSafeTimedSerializer

from campaign_api import db
from campaign_api.dashboard.settings import DashboardSettings

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
    workspace_id: uuid.UUID | None = None
    key_hash: str | None = None

    def dumps(self) -> dict[str, Any]:
        data: dict[str, Any] = {"csrf": self.csrf}
        if self.workspace_id is not None:
            data |= {"ws": str(self.workspace_id), "key": self.key_hash}
        return data

    @classmethod
    def loads(cls, data: object) -> Session | None:
        if not isinstance(data, dict) or not isinstance(data.get("csrf"), str):
            return None
        try:
            workspace = uuid.UUID(data["ws"]) if "ws" in data else None
        except (TypeError, ValueError):
            return None
        key = data.get("key")
        if workspace is not None and not isinstance(key, str):
            return None
        return cls(csrf=data["csrf"], workspace_id=workspace, key_hash=key)


def new_session(workspace_id: uuid.UUID | None = None, key_hash: str | None = None) -> Session:
    # A fresh token on every sign-in and sign-out: a token seen before signing in is worthless.
    return Session(csrf=secrets.token_urlsafe(32), workspace_id=workspace_id, key_hash=key_hash)


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
    """A signed-in visitor: their workspace and the token their forms must carry."""

    workspace_id: uuid.UUID
    csrf: str


async def signed_in(request: Request) -> Viewer:
    session = read_session(request)
    if session is None or session.workspace_id is None or session.key_hash is None:
        raise SignInRequired
    async with request.app.state.engine.connect() as conn:
        workspace_id = await db.workspace_for_key(conn, session.key_hash)
    if workspace_id != session.workspace_id:  # revoked key, or a key moved elsewhere
        raise SignInRequired
    return Viewer(workspace_id=workspace_id, csrf=session.csrf)


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
