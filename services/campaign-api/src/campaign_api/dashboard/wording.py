"""Validation errors in the words a person filling in the form reads, not pydantic's.

The API answers with pydantic's messages, which name types and constraints ("Input should be
greater than or equal to 1"); the form shows the same rule as an instruction ("At least 1.").
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from campaign_api.dashboard.numbers import number

_BY_TYPE = {
    "missing": "Required.",
    "int_parsing": "Enter a whole number.",
    "int_from_float": "Enter a whole number.",
    "int_type": "Enter a whole number.",
    "time_parsing": "Enter a time such as 09:30.",
    "time_type": "Enter a time such as 09:30.",
    "datetime_parsing": "Enter a date.",
    "datetime_from_date_parsing": "Enter a date.",
    "literal_error": "Choose one of the options.",
}
_PATTERNS = {"ai_agent_id": "Use a model name such as openai/gpt-4o-mini: letters, digits and "
             ". _ : / @ - only."}
# Messages of the API's own checks that name its fields, as the form calls them.
_RULES = {
    "give total_months or total_emails": "Give the campaign a length: a number of emails or "
                                         "months.",
    "total_months or total_emails: one of them is required":
        "Give the campaign a length: a number of emails or months.",
    "at least one recipient, or a list or segment in audience, is required":
        "Add at least one recipient, or choose a list or segment to send to.",
}


def plain(error: Mapping[str, Any], api_field: str) -> str:
    """One pydantic error (`ValidationError.errors()` item) for the form field `api_field`."""
    kind = str(error.get("type", ""))
    ctx = error.get("ctx") or {}
    # A text checked after its own validator reports as "too_short" of a "Value", a list as
    # one of a "List": characters for the one, items for the other.
    unit = "" if ctx.get("field_type") == "List" else "character"
    if kind in ("string_too_short", "too_short"):
        limit = int(ctx.get("min_length", 1))
        return "Required." if limit <= 1 else f"At least {number(limit, unit)}."
    if kind in ("string_too_long", "too_long"):
        return f"At most {number(int(ctx.get('max_length', 0)), unit)}."
    if kind in ("greater_than_equal", "greater_than"):
        return f"At least {ctx.get('ge', ctx.get('gt'))}."
    if kind in ("less_than_equal", "less_than"):
        return f"At most {ctx.get('le', ctx.get('lt'))}."
    if kind == "string_pattern_mismatch":
        return _PATTERNS.get(api_field.split(".")[0], "Keep it on one line.")
    if kind in _BY_TYPE:
        return _BY_TYPE[kind]
    return sentence(str(error.get("msg", "Not valid.")))


def sentence(message: str) -> str:
    """A message of our own checks as a sentence: no "Value error, " and no field name."""
    message = message.removeprefix("Value error, ").strip()
    if message.startswith("value is not a valid email address"):
        return "Enter an email address such as ada@example.com."
    if message in _RULES:
        return _RULES[message]
    if not message:
        return "Not valid."
    message = message[0].upper() + message[1:]
    return message if message.endswith((".", "?", "!")) else message + "."
