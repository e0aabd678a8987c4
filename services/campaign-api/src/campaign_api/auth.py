"""Bearer API keys: each request is scoped to the workspace its key belongs to, each key draws
on its own rate limit, and failed attempts are limited per client address."""

from __future__ import annotations

import math
import time
import uuid
from typing import Annotated

from fastapi import Depends, HTTPException, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from campaign_api import usecases
from campaign_api.domain import hash_api_key
from campaign_api.ratelimit import RateLimiter

_bearer = HTTPBearer(auto_error=False, description="An API key of your workspace")
_CHALLENGE = {"WWW-Authenticate": "Bearer"}


class TooManyFailures(Exception):  # noqa: N818 - reads as what happened
    """This client address failed to authenticate too often; it may try again later."""

    def __init__(self, retry_after: float) -> None:
        super().__init__(retry_after)
        self.retry_after = max(1, math.ceil(retry_after))


def client_address(request: Request) -> str:
    # uvicorn puts the forwarded address here only when the peer is a trusted proxy
    # (FORWARDED_ALLOW_IPS); otherwise it is the peer itself.
    return request.client.host if request.client else "unknown"


def check_failures(request: Request) -> None:
    """TooManyFailures while the client's failed attempts are over the limit. Checked before
    the credential is: an attacker must not learn whether a guess was right meanwhile."""
    failures: RateLimiter = request.app.state.auth_failures
    wait = failures.wait(client_address(request), time.monotonic())
    if wait:
        raise TooManyFailures(wait)


def record_failure(request: Request) -> None:
    failures: RateLimiter = request.app.state.auth_failures
    failures.take(client_address(request), time.monotonic())


def too_many_failures(exc: TooManyFailures) -> HTTPException:
    return HTTPException(429, "Too many failed authentication attempts from this address; "
                              f"try again in {exc.retry_after} s.",
                         headers={"Retry-After": str(exc.retry_after)})


async def current_workspace(
    request: Request,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> uuid.UUID:
    if credentials is None or credentials.scheme.lower() != "bearer":
        raise HTTPException(401, "Missing API key: send 'Authorization: Bearer <key>'.",
                            headers=_CHALLENGE)
    try:
        check_failures(request)
    except TooManyFailures as exc:
        raise too_many_failures(exc) from None
    workspace_id = await usecases.authenticate(request.app.state.engine, credentials.credentials)
    if workspace_id is None:
        record_failure(request)
        raise HTTPException(401, "Invalid or revoked API key.", headers=_CHALLENGE)
    limiter: RateLimiter = request.app.state.rate_limiter
    wait = limiter.take(hash_api_key(credentials.credentials), time.monotonic())
    if wait:
        raise HTTPException(429, "Too many requests with this API key; slow down.",
                            headers={"Retry-After": str(math.ceil(wait))})
    return workspace_id


Workspace = Annotated[uuid.UUID, Depends(current_workspace)]
