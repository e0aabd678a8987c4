"""Request body size limits, enforced on the declared length and on the bytes that arrive."""

from __future__ import annotations

from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from campaign_api.errors import problem

# Bodies that may be large: CSV imports (streamed, or spooled to disk when multipart) and
# the JSON bulk upsert of 10,000 contacts.
LARGE_BODIES = ("/recipients/import", "/api/contacts/import", "/api/contacts/bulk",
               "/dashboard/contacts/import", "/suppressions/import")


def is_import(path: str) -> bool:
    return path.rstrip("/").endswith(LARGE_BODIES)


class BodyTooLarge(HTTPException):
    def __init__(self, limit: int) -> None:
        super().__init__(413, f"The request body exceeds {limit} bytes.")


class BodySizeLimit:
    """CSV imports stream and may be large; every other body is small."""

    def __init__(self, app: ASGIApp, *, max_bytes: int, max_import_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes
        self.max_import_bytes = max_import_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit = self.max_import_bytes if is_import(scope["path"]) else self.max_bytes
        declared = dict(scope["headers"]).get(b"content-length")
        if declared is not None and (not declared.isdigit() or int(declared) > limit):
            response = problem(413, "Content too large",
                               f"The request body exceeds {limit} bytes.")
            await response(scope, receive, send)
            return
        seen = 0

        async def counted() -> Message:
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > limit:
                    # An HTTPException: FastAPI passes it through body parsing to the handler.
                    raise BodyTooLarge(limit)
            return message

        started = False

        async def tracked(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, counted, tracked)
        except BodyTooLarge as exc:  # raised where no exception handler sits (a middleware)
            if started:
                raise
            await problem(413, "Content too large", str(exc.detail))(scope, receive, send)
