"""What a use case can refuse with. The REST layer and the dashboard each render these their
own way (a problem document, a page); neither needs to know the other."""

from __future__ import annotations

import re
from typing import Any

import pydantic

from campaign_api.schemas import FieldError


class Failure(Exception):  # noqa: N818 - reads as what it is
    status = 400
    title = "Bad request"

    def __init__(self, detail: str, errors: list[FieldError] | None = None) -> None:
        super().__init__(detail)
        self.detail = detail
        self.errors = errors or []


class NotFound(Failure):
    status = 404
    title = "Not found"


class Conflict(Failure):
    status = 409
    title = "Conflict"


class Invalid(Failure):
    status = 422
    title = "Invalid request"

    @classmethod
    def field(cls, field: str, message: str) -> Invalid:
        return cls(f"{field}: {message}", [FieldError(field=field, message=message)])

    @classmethod
    def from_validation(cls, exc: pydantic.ValidationError) -> Invalid:
        errors = [FieldError(field=_field(err), message=_message(err)) for err in exc.errors()]
        return cls("; ".join(f"{e.field}: {e.message}" for e in errors), errors)


class BadGateway(Failure):
    status = 502
    title = "Bad gateway"


class Unavailable(Failure):
    status = 503
    title = "Service unavailable"


class TimedOut(Failure):
    status = 504
    title = "Gateway timeout"


# "Value error, weekly_days: ..." from a model validator names its field first.
_NAMED = re.compile(r"^Value error, ([a-z_][a-z0-9_]*)[^:]*: (.*)$", re.DOTALL)


def _field(err: Any) -> str:
    named = _NAMED.match(str(err.get("msg", "")))
    if named and err.get("type") == "value_error":
        return named.group(1)
    # A definition's schedule fields are top-level fields of the API's bodies.
    parts = [str(p) for p in err.get("loc", ()) if p != "schedule"]
    return ".".join(parts) or "body"


def _message(err: Any) -> str:
    message = str(err.get("msg", "invalid"))
    named = _NAMED.match(message)
    if named and err.get("type") == "value_error":
        return named.group(2)
    return message
