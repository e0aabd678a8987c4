"""Every error answers as an RFC 9457 problem document; validation errors name the field."""

from __future__ import annotations

from typing import Any

import pydantic
import structlog
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from fastapi.routing import APIRoute
from starlette.exceptions import HTTPException

from campaign_api.failures import Failure
from campaign_api.schemas import FieldError, Problem
from campaign_api.validation import journey_problems, locate

log = structlog.get_logger(__name__)

PROBLEM_JSON = "application/problem+json"


def problem(status: int, title: str, detail: str, errors: list[FieldError] | None = None,
            headers: dict[str, str] | None = None) -> JSONResponse:
    body = Problem(title=title, status=status, detail=detail, errors=errors or [])
    return JSONResponse(body.model_dump(mode="json"), status_code=status, media_type=PROBLEM_JSON,
                        headers=headers)


def _field_name(loc: tuple[Any, ...]) -> str:
    # ("body", "weekly_days", 0) -> "weekly_days.0"
    parts = [str(p) for p in loc if p not in ("body", "query", "path", "header")]
    return ".".join(parts) or "body"


def _body_model(request: Request) -> type[pydantic.BaseModel] | None:
    """The model the route reads its body into, whose fields a model-level check may name;
    None when the body is not one model (several parameters, or one embedded under its name,
    put the parameter's name first in the error's location)."""
    route = request.scope.get("route")
    params = route.dependant.body_params if isinstance(route, APIRoute) else []
    single = len(params) == 1 and not getattr(params[0].field_info, "embed", False)
    annotation = params[0].field_info.annotation if single else None
    if isinstance(annotation, type) and issubclass(annotation, pydantic.BaseModel):
        return annotation
    return None


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


def _field_errors(exc: RequestValidationError, model: type[pydantic.BaseModel] | None,
                  ) -> list[FieldError]:
    errors = []
    for err in exc.errors():
        if err.get("type") == "json_invalid":
            errors.append(_syntax_error(err, exc.body))
            continue
        source, *loc = err.get("loc", ()) or ("body",)
        problems = journey_problems({**err, "loc": loc})
        if problems is not None:
            errors += [FieldError(field=_field_name((source, *where)), message=message)
                       for where, message in problems]
            continue
        # Only the body is read into a model, whose checks may name the field they are about.
        where, message = locate({**err, "loc": loc}, model if source == "body" else None)
        errors.append(FieldError(field=_field_name((source, *where)), message=message))
    return errors


def install(app: FastAPI) -> None:
    @app.exception_handler(RequestValidationError)
    async def on_validation(request: Request, exc: RequestValidationError) -> JSONResponse:
        errors = _field_errors(exc, _body_model(request))
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
