"""The fake's HTTP surface: a Starlette app emulating OpenRouter's auth, routing and failures."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any, TypeAlias

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route
from starlette.types import Receive, Scope, Send

from testkit.fake_openrouter import payloads, routing
from testkit.fake_openrouter.log import RecordedRequest, RequestLog
from testkit.fake_openrouter.script import (
    Disconnect,
    Empty,
    Error,
    ErrorInBody,
    Hang,
    Malformed,
    Reply,
    Responder,
    Script,
    Truncated,
)

API_PREFIX = "/api/v1"
CHAT_PATH = f"{API_PREFIX}/chat/completions"
EMBEDDING_MODEL = "openai/text-embedding-3-small"
_TRANSPORT = "testkit.transport"


@dataclass
class Settings:
    """A fake's configuration; read on every request, so changes apply to the next one."""

    api_key: str
    latency: float
    default_model: str
    prompt_price: float
    completion_price: float
    embedding_dimensions: int
    credit_limit: float | None
    responder: Responder


@dataclass(frozen=True)
class _Outcome:
    response: Response | None  # None: close the connection without answering
    model: str | None = None
    attempted: tuple[str, ...] = ()
    usage: Mapping[str, Any] | None = None


_Handler: TypeAlias = Callable[[Request, Any], Awaitable[_Outcome]]


class FakeApp:
    """The ASGI app for one run of the server. Setting `closing` releases requests still waiting."""

    def __init__(self, settings: Settings, script: Script, log: RequestLog) -> None:
        self._settings = settings
        self._script = script
        self._log = log
        self.closing = asyncio.Event()
        self._starlette = Starlette(
            routes=[
                Route(CHAT_PATH, self._logged(self._chat), methods=["POST"]),
                Route(f"{API_PREFIX}/embeddings", self._logged(self._embeddings), methods=["POST"]),
                Route(f"{API_PREFIX}/key", self._logged(self._key), methods=["GET"]),
                Route(f"{API_PREFIX}/auth/key", self._logged(self._key), methods=["GET"]),
                Route(
                    "/{path:path}",
                    self._logged(self._not_found),
                    methods=["GET", "POST", "PUT", "PATCH", "DELETE"],
                ),
            ]
        )

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        # ASGI cannot drop a connection without answering, but uvicorn's `send` is bound to its
        # per-request cycle, which holds the socket's transport: keep it for Disconnect.
        scope[_TRANSPORT] = getattr(getattr(send, "__self__", None), "transport", None)
        await self._starlette(scope, receive, send)

    def _logged(self, handler: _Handler) -> Callable[[Request], Awaitable[Response]]:
        async def endpoint(request: Request) -> Response:
            received_at, received_wall = time.monotonic(), time.time()
            body = _json_or_none(await request.body())
            token = self._log.open(
                RecordedRequest(
                    method=request.method,
                    path=request.url.path,
                    headers=dict(request.headers),
                    body=body,
                    received_at=received_at,
                    received_wall=received_wall,
                )
            )
            outcome = await handler(request, body)
            self._log.close(
                token,
                status=outcome.response.status_code if outcome.response else None,
                responded_at=time.monotonic(),
                model=outcome.model,
                attempted_models=outcome.attempted,
                usage=outcome.usage,
            )
            if outcome.response is not None:
                return outcome.response
            await _drop(request)
            return Response(status_code=204)  # never sent: uvicorn knows the client is gone

        return endpoint

    async def _chat(self, request: Request, body: Any) -> _Outcome:
        if denied := self._unauthorised(request):
            return _Outcome(denied)
        if problem := routing.chat_problem(body):
            return _Outcome(_error(400, problem))
        if not await self._pause(request, self._settings.latency):
            return _Outcome(None)
        # Emulates OpenRouter's fallback routing: an Error moves on to the next model, anything
        # else is final, and when every model fails the last error is returned.
        attempted: list[str] = []
        failure: Response | None = None
        for model in routing.candidates(body, self._settings.default_model):
            attempted.append(model)
            item = self._script.take(model) or self._settings.responder(body, model)
            while isinstance(item, Hang):
                if not await self._pause(request, item.seconds):
                    return _Outcome(None, attempted=tuple(attempted))
                item = self._settings.responder(body, model)
            if isinstance(item, Error):
                failure = _error_response(item, body, model)
                continue
            return await self._answer(request, body, model, item, tuple(attempted))
        assert failure is not None, "validation guarantees at least one model"
        return _Outcome(failure, attempted=tuple(attempted))

    async def _answer(
        self,
        request: Request,
        body: Mapping[str, Any],
        model: str,
        item: Reply | ErrorInBody | Empty | Truncated | Malformed | Disconnect,
        attempted: tuple[str, ...],
    ) -> _Outcome:
        if isinstance(item, Disconnect):
            return _Outcome(None, attempted=attempted)
        if isinstance(item, ErrorInBody) and not item.in_choice:
            error = payloads.error_body(item.code, item.message)
            return _Outcome(JSONResponse(error), model=model, attempted=attempted)
        reply = routing.as_reply(item, body)
        if not await self._pause(request, reply.delay):
            return _Outcome(None, attempted=attempted)
        content = reply.content
        if not isinstance(content, str):
            content = json.dumps(dict(content))
        prompt, completion, cost = reply.prompt_tokens, reply.completion_tokens, reply.cost
        if prompt is None:
            prompt = payloads.prompt_tokens(body)
        if completion is None:
            completion = payloads.estimate_tokens(content)
        if cost is None:
            s = self._settings
            cost = prompt * s.prompt_price + completion * s.completion_price
        usage = payloads.usage(prompt, completion, cost)
        answered_by = reply.model or model
        data = payloads.completion(answered_by, content, reply.finish_reason, usage)
        if isinstance(item, ErrorInBody):
            data["choices"][0]["error"] = {"code": item.code, "message": item.message}
        return _Outcome(JSONResponse(data), model=answered_by, attempted=attempted, usage=usage)

    async def _embeddings(self, request: Request, body: Any) -> _Outcome:
        if denied := self._unauthorised(request):
            return _Outcome(denied)
        texts = body.get("input") if isinstance(body, dict) else None
        texts = [texts] if isinstance(texts, str) else texts
        if not (isinstance(texts, list) and texts and all(isinstance(t, str) and t for t in texts)):
            return _Outcome(_error(400, "input: expected a non-empty string or array of strings"))
        model = body.get("model", EMBEDDING_MODEL)
        if not isinstance(model, str):
            return _Outcome(_error(400, "model: expected a string"))
        s = self._settings
        data = payloads.embeddings(model, texts, s.embedding_dimensions, s.prompt_price)
        return _Outcome(JSONResponse(data), model=model, usage=data["usage"])

    async def _key(self, request: Request, body: Any) -> _Outcome:
        if denied := self._unauthorised(request):
            return _Outcome(denied)
        s = self._settings
        info = payloads.key_info(s.api_key, s.credit_limit, self._log.total_cost())
        return _Outcome(JSONResponse(info))

    async def _not_found(self, request: Request, body: Any) -> _Outcome:
        return _Outcome(_error(404, payloads.status_message(404)))

    def _unauthorised(self, request: Request) -> Response | None:
        scheme, _, key = request.headers.get("authorization", "").partition(" ")
        if not key:
            return _error(401, "No auth credentials found")
        if scheme.lower() != "bearer" or key != self._settings.api_key:
            return _error(401, payloads.status_message(401))
        return None

    async def _pause(self, request: Request, seconds: float) -> bool:
        """Waits without blocking other requests; False if the client left or the fake stopped."""
        if seconds <= 0:
            return True
        timer = asyncio.ensure_future(asyncio.sleep(seconds))
        tasks = [
            timer,
            asyncio.ensure_future(_client_gone(request)),
            asyncio.ensure_future(self.closing.wait()),
        ]
        try:
            await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for task in tasks:
                task.cancel()
        return timer.done()


def _json_or_none(raw: bytes) -> Any:
    try:
        return json.loads(raw) if raw else None
    except ValueError:
        return None


def _error(status: int, message: str) -> JSONResponse:
    return JSONResponse(payloads.error_body(status, message), status_code=status)


def _error_response(item: Error, body: Mapping[str, Any], model: str) -> JSONResponse:
    metadata = item.metadata
    if metadata is None and item.status == 403:
        metadata = payloads.moderation_metadata(body, model)
    error = payloads.error_body(
        item.status if item.code is None else item.code,
        item.message or payloads.status_message(item.status),
        metadata,
    )
    headers = None if item.retry_after is None else {"Retry-After": str(item.retry_after)}
    return JSONResponse(error, status_code=item.status, headers=headers)


async def _client_gone(request: Request) -> None:
    # The body has been read, so the only message still to come is the disconnect.
    while (await request.receive())["type"] != "http.disconnect":
        pass


async def _drop(request: Request) -> None:
    transport = request.scope.get(_TRANSPORT)
    if not isinstance(transport, asyncio.BaseTransport):
        raise RuntimeError("dropping a connection needs uvicorn's transport")
    transport.close()
    await _client_gone(request)
