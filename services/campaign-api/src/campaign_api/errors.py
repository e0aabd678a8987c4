"""Every error answers as an RFC 9457 problem document; validation errors name the field."""

from __future__ import annotations

from typing import Any

import structlog
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException

from campaign_api.failures import Failure
from campaign_api.schemas import FieldError, Problem

log = structlog.get_logger(__name__)

PROBLEM_JSON = "application/problem+json"


def problem(status: int, title: str, detail: str, errors: list[FieldError] | None = None,
            headers: dict[str, str] | None = None) -> JSONResponse:
    body = Problem(title=title, status=status, detail=detail, errors=errors or [])
    return JSONResponse(body.model_dump(mode="json"), status_code=status, media_type=PROBLEM_JSON,
                        headers=headers)


def _field_name(loc: tuple[Any, ...]) -> str:
    # ("body", "weekly_days", 0) -> "weekly_days.0"; a model-level check names its field first.
    parts = [str(p) for p in loc if p not in ("body", "query", "path", "header")]
    return ".".join(parts) or "body"


def _syntax_error(err: dict[str, Any], document: Any) -> FieldError:
    """FastAPI puts the character offset of a JSON syntax error where a field name goes: the
    body itself is what is wrong, at a line and column."""
    loc = tuple(err.get("loc", ()))
    position = loc[1] if len(loc) > 1 and isinstance(loc[1], int) else None
    reason = str((err.get("ctx") or {}).get("error", "not valid JSON"))
    if position is None:
        return FieldError(field="body", message=f"The body is not valid JSON: {reason}.")
    text = document if isinstance(document, str) else ""
    line = text.count("\n", 0, position) + 1
    column = position - (text.rfind("\n", 0, position) + 1) + 1
    return FieldError(field="body", message=f"The body is not valid JSON: {reason} at line "
                      f"{line}, column {column} (character {position + 1}).")


def _field_errors(exc: RequestValidationError) -> list[FieldError]:
    errors = []
    for err in exc.errors():
        if err.get("type") == "json_invalid":
            errors.append(_syntax_error(err, exc.body))
            continue
        message = str(err.get("msg", "invalid"))
        field = _field_name(tuple(err.get("loc", ())))
        if err.get("type") == "value_error" and ": " in message:
            # "Value error, weekly_days: ..." from a model validator names its own field.
            named, _, rest = message.removeprefix("Value error, ").partition(": ")
            if named.replace("_", "").isalnum() and field == "body":
                field, message = named, rest
        errors.append(FieldError(field=field, message=message))
    return errors


def install(app: FastAPI) -> None:
    @app.exception_handler(RequestValidationError)
    async def on_validation(_: Request, exc: RequestValidationError) -> JSONResponse:
        errors = _field_errors(exc)
        detail = "; ".join(f"{e.field}: {e.message}" for e in errors)
        return problem(422, "Invalid request", detail, errors)

    @app.exception_handler(HTTPException)
    async def on_http(_: Request, exc: HTTPException) -> JSONResponse:
        return problem(exc.status_code, _title(exc.status_code), str(exc.detail),
                       headers=dict(exc.headers) if exc.headers else None)

    @app.exception_handler(Failure)
    async def on_failure(_: Request, exc: Failure) -> JSONResponse:
        return problem(exc.status, exc.title, exc.detail, exc.errors)

    @app.exception_handler(Exception)
    async def on_unexpected(request: Request, exc: Exception) -> JSONResponse:
        log.error("api.unhandled", path=request.url.path, error=repr(exc), exc_info=exc)
        return problem(500, "Internal error", "The request could not be completed.")


def _title(status: int) -> str:
    from http import HTTPStatus

    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return "Error"
