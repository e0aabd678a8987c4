"""Bearer API keys: each request is scoped to the workspace its key belongs to, and each key
draws on its own rate limit."""

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


async def current_workspace(
    request: Request,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> uuid.UUID:
    if credentials is None or credentials.scheme.lower() != "bearer":
        raise HTTPException(401, "Missing API key: send 'Authorization: Bearer <key>'.",
                            headers=_CHALLENGE)
    workspace_id = await usecases.authenticate(request.app.state.engine, credentials.credentials)
    if workspace_id is None:
        raise HTTPException(401, "Invalid or revoked API key.", headers=_CHALLENGE)
    limiter: RateLimiter = request.app.state.rate_limiter
    wait = limiter.take(hash_api_key(credentials.credentials), time.monotonic())
    if wait:
        raise HTTPException(429, "Too many requests with this API key; slow down.",
                            headers={"Retry-After": str(math.ceil(wait))})
    return workspace_id


Workspace = Annotated[uuid.UUID, Depends(current_workspace)]
