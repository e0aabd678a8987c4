"""`Idempotency-Key` on POST: a retry with the same key and body gets the first answer again,
without acting twice; the same key with another body is refused. Keys are per workspace.

The first request's claim of a key is an insert left uncommitted, on a connection of its own, for
as long as the request is answered; its answer is written and committed in that same transaction
at the end, and a failure (5xx, 429) rolls it back. So no claim is ever committed without an
answer: when the owner dies (campaign-api killed, PostgreSQL restarted) PostgreSQL rolls the claim
back with its session and the key is free again for the retry. A repeat while the first is still
being answered waits on the key's primary key for `db.CLAIM_LOCK_TIMEOUT`, then answers 409 "still
being processed"; once the first commits it replays the stored answer.

Chosen over a committed claim with a liveness marker (an advisory lock, the owner's backend pid):
that design needs a take-over of a dead owner's row, with its own races, and still holds a
connection per request; here PostgreSQL's own transaction end is the liveness marker.

What remains: the use case commits its effect in its own transaction, before the answer is
committed with the claim. A crash between those two commits leaves the effect without a stored
answer, and the retry acts again (a second campaign, say). The window is the time between the use
case's commit and the claim's commit: the rest of the response and one UPDATE and COMMIT.

Each request being answered holds one connection for its claim besides those its use case takes;
`max_claims` (the pool size: the engine may open as many again) bounds the claims held at once,
so that they never take the connections the use cases need. Further requests with a key wait for
a place before they claim.
"""

from __future__ import annotations

import asyncio
import hashlib
import uuid

import structlog
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine
from starlette.datastructures import Headers
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from campaign_api import db, usecases
from campaign_api.errors import problem
from campaign_api.limits import is_import
from campaign_api.schemas import FieldError

log = structlog.get_logger(__name__)

HEADER = "idempotency-key"
MAX_KEY_LENGTH = 200


class Idempotency:
    def __init__(self, app: ASGIApp, engine: AsyncEngine, max_claims: int) -> None:
        self.app = app
        self.engine = engine
        self.claims = asyncio.Semaphore(max_claims)

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
        async with self.claims, self.engine.connect() as conn:
            try:
                first = await db.claim_idempotency_key(conn, workspace_id, key, digest)
            except db.ClaimHeldError:
                await problem(409, "Conflict", "A request with this Idempotency-Key is still "
                              "being processed; retry shortly.")(scope, receive, send)
                return
            if first is None:
                await self._answer_first(conn, workspace_id, key, body, scope, send)
                return
        await self._replay(first, digest, scope, receive, send)

    async def _workspace(self, headers: Headers) -> uuid.UUID | None:
        scheme, _, credentials = headers.get("authorization", "").partition(" ")
        if scheme.lower() != "bearer" or not credentials:
            return None
        return await usecases.authenticate(self.engine, credentials.strip())

    async def _replay(self, first: db.AnyRow, digest: str, scope: Scope, receive: Receive,
                      send: Send) -> None:
        # A row is only ever committed with its answer (the migration 0007 removed the
        # unanswered claims committed before).
        if first.request_hash != digest:
            await _refuse("already used with a different request", scope, receive, send)
        else:
            await Response(first.response, status_code=first.status_code,
                           media_type=first.media_type,
                           headers={"Idempotent-Replayed": "true"})(scope, receive, send)

    async def _answer_first(self, claim: AsyncConnection, workspace_id: uuid.UUID, key: str,
                            body: bytes, scope: Scope, send: Send) -> None:
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
            try:
                # A failure or a rate-limit refusal is not an answer: the retry tries again.
                if status < 500 and status != 429:
                    await db.store_idempotent_response(
                        claim, workspace_id, key, status_code=status,
                        response=b"".join(chunks), media_type=media_type)
                    await claim.commit()
                else:
                    await claim.rollback()
            except SQLAlchemyError as exc:
                # The claim's session was lost (PostgreSQL restarted, say): PostgreSQL rolled
                # the claim back, and the answer already sent is not stored for a retry.
                log.warning("idempotency.answer_not_stored", status=status, error=repr(exc))


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
