"""How one OpenRouter chat completion response is read: the email, the model that answered and
the usage, or the ProviderError the response means (which reason, whether retrying can help)."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from email.utils import parsedate_to_datetime

import httpx
import pydantic
from pydantic import BaseModel, ConfigDict, Field, field_validator

from content_generator.domain import COST_QUANTUM, EmailContent, FailureReason
from content_generator.output import InvalidOutputError, parse_json_object, validate_email
from content_generator.providers.base import ProviderError, Usage

_PERMANENT: dict[int, FailureReason] = {
    400: "bad_request", 401: "bad_key", 402: "out_of_credits", 403: "moderation",
}
_TRANSIENT = frozenset({408, 429})
MAX_ERROR_TEXT = 500


def classify(status: int) -> tuple[FailureReason, bool]:
    """(reason, retryable) for an HTTP status or an error code in a 200 body."""
    if status in _PERMANENT:
        return _PERMANENT[status], False
    if status in _TRANSIENT or status >= 500:
        return "unavailable", True
    return "bad_request", False  # e.g. 404 for a model slug that does not exist


def retry_after_seconds(value: str | None) -> float | None:
    """`Retry-After` as seconds: a number of seconds or an HTTP date."""
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - datetime.now(UTC)).total_seconds())


# The parts of OpenRouter's response we read; anything else in it is ignored.
class _Wire(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)


class _ErrorObject(_Wire):
    code: int | str | None = None
    message: str = ""

    def status(self) -> int | None:
        try:
            return int(self.code) if self.code is not None else None
        except ValueError:
            return None


class _Message(_Wire):
    content: str | None = None
    refusal: str | None = None


class _Choice(_Wire):
    message: _Message | None = None
    finish_reason: str | None = None
    error: _ErrorObject | None = None


class _Usage(_Wire):
    prompt_tokens: int = Field(default=0, ge=0)
    completion_tokens: int = Field(default=0, ge=0)
    cost: Decimal = Field(default=Decimal(0), ge=0)

    @field_validator("cost")
    @classmethod
    def _as_stored(cls, cost: Decimal) -> Decimal:
        # The precision the database keeps, so events and rows carry the same figure.
        return cost.quantize(COST_QUANTUM)


class _Body(_Wire):
    model: str | None = Field(default=None, min_length=1, max_length=200)
    choices: list[_Choice] = Field(default_factory=list)
    usage: _Usage | None = None
    error: _ErrorObject | None = None


def _error_text(response: httpx.Response) -> str:
    try:
        error = _Body.model_validate_json(response.content).error
    except pydantic.ValidationError:
        error = None
    text = error.message if error and error.message else response.text
    return text[:MAX_ERROR_TEXT]


def read_completion(
    response: httpx.Response, requested_model: str
) -> tuple[EmailContent, str, Usage]:
    """(email, model that answered, usage) from one response, or the ProviderError it means."""
    status = response.status_code
    if status != 200:
        reason, retryable = classify(status)
        raise ProviderError(
            f"HTTP {status}: {_error_text(response)}", reason=reason, retryable=retryable,
            http_status=status,
            retry_after=retry_after_seconds(response.headers.get("retry-after")),
        )
    try:
        body = _Body.model_validate_json(response.content)
    except pydantic.ValidationError as exc:
        raise ProviderError(
            f"malformed response: {exc.error_count()} problem(s)", reason="invalid_output",
            retryable=True, http_status=status,
        ) from exc
    model = body.model or requested_model
    usage = Usage(**body.usage.model_dump()) if body.usage else Usage()

    def fail(message: str, reason: FailureReason, retryable: bool) -> ProviderError:
        return ProviderError(message[:MAX_ERROR_TEXT], reason=reason, retryable=retryable,
                             http_status=status, model=model, usage=usage)

    choice = body.choices[0] if body.choices else None
    # A failure after generation started still comes with HTTP 200.
    error = body.error or (choice.error if choice else None)
    if error is not None:
        code = error.status()
        reason, retryable = classify(code) if code else ("unavailable", True)
        raise fail(f"error in a 200 body ({error.code}): {error.message}", reason, retryable)
    if choice is None or choice.message is None:
        raise fail("answer without a message", "invalid_output", True)
    content = choice.message.content or ""
    if not content.strip():
        if choice.message.refusal:
            raise fail(f"the model refused: {choice.message.refusal}", "moderation", False)
        raise fail("empty answer", "invalid_output", True)
    try:
        email = validate_email(parse_json_object(content))
    except InvalidOutputError as exc:
        cut = " (cut off by max_tokens)" if choice.finish_reason == "length" else ""
        raise fail(f"unusable answer{cut}: {exc}", "invalid_output", True) from exc
    return email, model, usage
