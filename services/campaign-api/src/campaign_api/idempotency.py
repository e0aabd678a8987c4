"""`Idempotency-Key` on POST: a retry with the same key and body gets the first answer again,
without acting twice; the same key with another body is refused. Keys are per workspace."""

from __future__ import annotations

import hashlib
import uuid

from sqlalchemy.ext.asyncio import AsyncEngine
from starlette.datastructures import Headers
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from campaign_api import db, usecases
from campaign_api.errors import problem
from campaign_api.limits import is_import
from campaign_api.schemas import FieldError

HEADER = "idempotency-key"
MAX_KEY_LENGTH = 200


class Idempotency:
    def __init__(self, app: ASGIApp, engine: AsyncEngine) -> None:
        self.app = app
        self.engine = engine

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        headers = Headers(scope=scope) if scope["type"] == "http" else Headers()
        key = headers.get(HEADER)
        if (key is None or scope["method"] != "POST"
                or not scope["path"].startswith("/api/") or is_import(scope["path"])):
            # A CSV import is streamed, never buffered, and is idempotent by itself (dedupe).
            await self.app(scope, receive, send)
            return
        workspace_id = await self._workspace(headers)
        if workspace_id is None:  # the route answers 401 itself
            await self.app(scope, receive, send)
            return
        if not key or len(key) > MAX_KEY_LENGTH:
            await _refuse(f"at most {MAX_KEY_LENGTH} characters, not empty", scope, receive, send)
            return
        body = await _read_body(receive)
        digest = hashlib.sha256(b"\0".join(
            [scope["path"].encode(), scope.get("query_string", b""), body])).hexdigest()
        async with self.engine.begin() as conn:
            first = await db.claim_idempotency_key(conn, workspace_id, key, digest)
        if first is not None:
            await self._replay(first, digest, scope, receive, send)
            return
        await self._answer_first(workspace_id, key, body, scope, send)

    async def _workspace(self, headers: Headers) -> uuid.UUID | None:
        scheme, _, credentials = headers.get("authorization", "").partition(" ")
        if scheme.lower() != "bearer" or not credentials:
            return None
        return await usecases.authenticate(self.engine, credentials.strip())

    async def _replay(self, first: db.AnyRow, digest: str, scope: Scope, receive: Receive,
                      send: Send) -> None:
        if first.request_hash != digest:
            await _refuse("already used with a different request", scope, receive, send)
        elif first.status_code is None:
            await problem(409, "Conflict", "A request with this Idempotency-Key is still "
                          "being processed; retry shortly.")(scope, receive, send)
        else:
            await Response(first.response, status_code=first.status_code,
                           media_type=first.media_type,
                           headers={"Idempotent-Replayed": "true"})(scope, receive, send)

    async def _answer_first(self, workspace_id: uuid.UUID, key: str, body: bytes, scope: Scope,
                            send: Send) -> None:
        status = 500
        media_type = "application/json"
        chunks: list[bytes] = []
        delivered = False

        async def replayed() -> Message:
            nonlocal delivered
            if delivered:
                return {"type": "http.disconnect"}
            delivered = True
            return {"type": "http.request", "body": body, "more_body": False}

        async def captured(message: Message) -> None:
            nonlocal status, media_type
            if message["type"] == "http.response.start":
                status = message["status"]
                media_type = Headers(raw=message["headers"]).get("content-type", media_type)
            elif message["type"] == "http.response.body":
                chunks.append(message.get("body", b""))
            await send(message)

        try:
            await self.app(scope, replayed, captured)
        finally:
            async with self.engine.begin() as conn:
                # A failure or a rate-limit refusal is not an answer: the retry tries again.
                if status < 500 and status != 429:
                    await db.store_idempotent_response(
                        conn, workspace_id, key, status_code=status, response=b"".join(chunks),
                        media_type=media_type)
                else:
                    await db.release_idempotency_key(conn, workspace_id, key)


async def _read_body(receive: Receive) -> bytes:
    parts: list[bytes] = []
    while True:
        message = await receive()
        if message["type"] != "http.request":
            break
        parts.append(message.get("body", b""))
        if not message.get("more_body", False):
            break
    return b"".join(parts)


async def _refuse(message: str, scope: Scope, receive: Receive, send: Send) -> None:
    response = problem(422, "Invalid request", f"Idempotency-Key: {message}",
                       [FieldError(field="Idempotency-Key", message=message)])
    await response(scope, receive, send)
