"""Which field a validation error is about, for the REST API, the use cases and the dashboard.

A validator that checks several fields at once (a model validator) is reported by pydantic at the
model's own location, so the check names its field in its text: `ValueError("weekly_days: ...")`,
which pydantic words as "Value error, weekly_days: ...". The name in the text wins when it is a
field of the model the check ran on, or a dotted path into one (`recipients.0.email`); any other
text before a colon ("unknown zone 'X': ...", "a URL such as https://...") is only a message, and
the location pydantic gives stands.
"""

from __future__ import annotations

import re
import types
from collections.abc import Mapping, Sequence
from typing import Annotated, Any, Union, get_args, get_origin

import pydantic

from rules.journeys import InvalidJourney

Loc = tuple[str | int, ...]

_PREFIX = "Value error, "
_SEGMENT = re.compile(r"[A-Za-z_][A-Za-z0-9_]*|[0-9]+")


def locate(error: Mapping[str, Any], model: type[pydantic.BaseModel] | None) -> tuple[Loc, str]:
    """The location and message of one `ValidationError.errors()` item from validating `model`:
    a value error that names a field of the model it was raised in is put under that field."""
    loc: Loc = tuple(error.get("loc", ()))
    message = str(error.get("msg", "invalid"))
    if error.get("type") != "value_error":
        return loc, message
    return named(loc, message, model)


def journey_problems(error: Mapping[str, Any]) -> list[tuple[Loc, str]] | None:
    """A journey graph refused as a whole (`rules.journeys.InvalidJourney` in the error's
    context) as one error per problem, each under its step (`journey.steps.3`) or the
    journey's own field (`journey.start`), its message naming the step's id; None for any
    other error."""
    found = (error.get("ctx") or {}).get("error")
    if not isinstance(found, InvalidJourney):
        return None
    loc: Loc = tuple(error.get("loc", ()))
    return [((*loc, "steps", p.index), f'step "{p.step}": {p.message}')
            if p.index is not None else ((*loc, p.where), p.message)
            for p in found.problems]


def named(loc: Sequence[str | int], message: str,
          model: type[pydantic.BaseModel] | None) -> tuple[Loc, str]:
    """`message` is the text of a ValueError raised at `loc` inside `model` (pydantic's
    "Value error, " before it or not, and never kept: it is pydantic's wording, not ours). When
    it starts with a field of the model at `loc`, or a dotted path into one, and a colon, the
    error is that field's, with the rest as its message; otherwise it stays at `loc`."""
    where = tuple(loc)
    message = message.removeprefix(_PREFIX)
    head, colon, rest = message.partition(": ")
    path = _path(head) if colon else None
    owner = _model(_at(model, where)) if model is not None and path else None
    if path and owner is not None and _leads_into(owner, path):
        return (*where, *path), rest
    return where, message


def _path(text: str) -> Loc | None:
    parts = text.split(".")
    if not all(_SEGMENT.fullmatch(p) for p in parts):
        return None
    return tuple(int(p) if p.isdigit() else p for p in parts)


def _leads_into(model: type[pydantic.BaseModel], path: Loc) -> bool:
    # Only a field of the model itself may start the path: an index or a key means nothing there.
    first = path[0]
    if not isinstance(first, str) or first not in model.model_fields:
        return False
    return _at(model, path) is not None


def _at(annotation: Any, loc: Loc) -> Any:
    """The type found at `loc` inside a value of `annotation`, or None when nothing can be."""
    for part in loc:
        annotation = _inner(annotation, part)
        if annotation is None:
            return None
    return annotation


def _inner(annotation: Any, part: str | int) -> Any:
    if annotation is Any:
        return Any
    origin, args = get_origin(annotation), get_args(annotation)
    if origin is Annotated:
        return _inner(args[0], part)
    if origin in (Union, types.UnionType):
        found = (_inner(arg, part) for arg in args if arg is not type(None))
        return next((inner for inner in found if inner is not None), None)
    if isinstance(annotation, type) and issubclass(annotation, pydantic.BaseModel):
        field = annotation.model_fields.get(part) if isinstance(part, str) else None
        return field.annotation if field is not None else None
    if origin in (list, tuple, set, frozenset) and isinstance(part, int):
        return args[0] if args else Any
    if origin is dict and isinstance(part, str):
        return args[1] if len(args) == 2 else Any
    return None


def _model(annotation: Any) -> type[pydantic.BaseModel] | None:
    """The model a value of `annotation` is, when it is one (optional or annotated)."""
    if isinstance(annotation, type) and issubclass(annotation, pydantic.BaseModel):
        return annotation
    if get_origin(annotation) in (Annotated, Union, types.UnionType):
        models = (_model(arg) for arg in get_args(annotation) if arg is not type(None))
        return next((m for m in models if m is not None), None)
    return None
