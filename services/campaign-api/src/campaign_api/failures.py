"""What a use case can refuse with. The REST layer and the dashboard each render these their
own way (a problem document, a page); neither needs to know the other."""

from __future__ import annotations

from typing import Any

import pydantic

from campaign_api.schemas import FieldError
from campaign_api.validation import journey_problems, locate


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
    def from_validation(cls, exc: pydantic.ValidationError,
                        model: type[pydantic.BaseModel]) -> Invalid:
        """`exc` from validating `model`, whose fields its model-level checks may name."""
        errors = [e for err in exc.errors() for e in _errors(err, model)]
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


def _errors(err: Any, model: type[pydantic.BaseModel]) -> list[FieldError]:
    found = journey_problems(err) or [locate(err, model)]
    # A definition's schedule fields are top-level fields of the API's bodies.
    return [FieldError(field=".".join(str(p) for p in loc if p != "schedule") or "body",
                       message=message) for loc, message in found]
