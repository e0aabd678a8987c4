"""One rule for the trailing slash, for the whole app: a path is served with or without it.

Starlette's own answer to the other spelling is a 307 redirect with an empty body, which a
client sending a POST often does not follow (or follows without its body). Here the path is
rewritten to the form a route is declared with before anything else sees the request, so the
idempotency store, the body limits and the routes all see one spelling, and the OpenAPI
document lists each operation once, as declared.
"""

from __future__ import annotations

from starlette.routing import BaseRoute, Match
from starlette.types import ASGIApp, Receive, Scope, Send


class EitherSlash:
    def __init__(self, app: ASGIApp, routes: list[BaseRoute]) -> None:
        self.app = app
        self.routes = routes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            scope = self._declared_form(scope)
        await self.app(scope, receive, send)

    def _declared_form(self, scope: Scope) -> Scope:
        path: str = scope["path"]
        if path == "/" or self._matches(scope):
            return scope
        other = path.rstrip("/") if path.endswith("/") else path + "/"
        if not other:
            return scope
        candidate = {**scope, "path": other}
        raw = scope.get("raw_path")
        if raw:  # kept percent-encoded as it came
            candidate["raw_path"] = raw.rstrip(b"/") if path.endswith("/") else raw + b"/"
        return candidate if self._matches(candidate) else scope

    def _matches(self, scope: Scope) -> bool:
        # A route of another method still counts: its 405 is the right answer.
        return any(route.matches(scope)[0] != Match.NONE for route in self.routes)
