"""Bearer API keys: each request is scoped to the workspace its key belongs to."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import Depends, HTTPException, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from campaign_api import db
from campaign_api.domain import hash_api_key

_bearer = HTTPBearer(auto_error=False, description="An API key of your workspace")
_CHALLENGE = {"WWW-Authenticate": "Bearer"}


async def current_workspace(
    request: Request,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> uuid.UUID:
    if credentials is None or credentials.scheme.lower() != "bearer":
        raise HTTPException(401, "Missing API key: send 'Authorization: Bearer <key>'.",
                            headers=_CHALLENGE)
    async with request.app.state.engine.connect() as conn:
        workspace_id = await db.workspace_for_key(conn, hash_api_key(credentials.credentials))
    if workspace_id is None:
        raise HTTPException(401, "Invalid or revoked API key.", headers=_CHALLENGE)
    return workspace_id


Workspace = Annotated[uuid.UUID, Depends(current_workspace)]
