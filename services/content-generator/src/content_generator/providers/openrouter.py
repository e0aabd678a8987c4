"""OpenRouter chat completions: one POST per attempt, transient faults retried with backoff.

Faults and what becomes of them (OpenRouter's documented statuses):
- 408, 429, 5xx, timeouts, dropped connections, an error in a 200 body, empty or unusable
  answers: retried here a few times (exponential backoff with jitter, at least `Retry-After`
  when the server sends one); if they persist, ProviderError(retryable=True).
- 400, 401, 402, 403 (and other 4xx): asking again cannot help, ProviderError(retryable=False)
  at once, with the reason `content.failed` reports.

Around each attempt: a circuit breaker per model (after a run of failures the model is left
out of the request, so the campaign's fallbacks answer, until a trial call after a cool-down
succeeds; with every model's circuit open no request is made at all), and an optional rate limit
per model (calls per second, across all emails of this process).

How a response is read, and which fault it means: `openrouter_responses`.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import httpx
import structlog
from aiolimiter import AsyncLimiter
from opentelemetry.trace import SpanKind
from tenacity import (
    AsyncRetrying,
    RetryCallState,
    retry_if_exception,
    stop_after_attempt,
    wait_exponential_jitter,
)
from tenacity.stop import stop_base
from tenacity.wait import wait_base

from content_generator.domain import CircuitBreaker, EmailContent
from content_generator.prompts import EMAIL_SCHEMA
from content_generator.providers.base import (
    Completion,
    EmailRequest,
    LlmCall,
    ProviderError,
)
from content_generator.providers.openrouter_responses import MAX_ERROR_TEXT, read_completion
from servicekit.tracing import tracer

log = structlog.get_logger(__name__)


@dataclass(frozen=True)
class RetryPolicy:
    attempts: int = 3
    initial_wait: float = 0.5
    max_wait: float = 10.0
    # A longer Retry-After is not waited out while holding the event: the provider gives up
    # and the consumer's redelivery backoff takes over.
    max_retry_after: float = 15.0

    def longest_waits(self) -> float:
        """The most time spent waiting between attempts of one email."""
        return (self.attempts - 1) * max(self.max_wait, self.max_retry_after)


class _Backoff(wait_base):
    """Exponential backoff with jitter, but never shorter than the server's Retry-After."""

    def __init__(self, policy: RetryPolicy) -> None:
        self._backoff = wait_exponential_jitter(
            multiplier=policy.initial_wait, max=policy.max_wait, jitter=policy.initial_wait
        )

    def __call__(self, retry_state: RetryCallState) -> float:
        backoff = self._backoff(retry_state)
        exc = _exception(retry_state)
        if isinstance(exc, ProviderError) and exc.retry_after is not None:
            return max(exc.retry_after, backoff)
        return backoff


class _StopOnLongRetryAfter(stop_base):
    def __init__(self, limit: float) -> None:
        self._limit = limit

    def __call__(self, retry_state: RetryCallState) -> bool:
        exc = _exception(retry_state)
        return isinstance(exc, ProviderError) and (exc.retry_after or 0.0) > self._limit


def _exception(retry_state: RetryCallState) -> BaseException | None:
    outcome = retry_state.outcome
    return outcome.exception() if outcome is not None and outcome.failed else None


def _retryable(exc: BaseException) -> bool:
    return isinstance(exc, ProviderError) and exc.retryable


def _log_retry(retry_state: RetryCallState) -> None:
    exc = _exception(retry_state)
    log.warning(
        "openrouter.retry", attempt=retry_state.attempt_number, error=str(exc),
        wait_seconds=round(retry_state.upcoming_sleep, 2),
    )


def _elapsed_ms(started: float) -> int:
    return round((time.monotonic() - started) * 1000)


class OpenRouterProvider:
    name = "openrouter"

    def __init__(
        self,
        client: httpx.AsyncClient | Sequence[httpx.AsyncClient],
        *,
        api_key: str,
        base_url: str,
        timeout: float,
        app_url: str = "",
        app_title: str = "",
        max_tokens: int = 2000,
        retry: RetryPolicy = RetryPolicy(),
        breaker: CircuitBreaker | None = None,
        calls_per_second: float | None = None,
        max_in_flight: int | None = None,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        # Several clients take turns: httpx's pool does work quadratic in its connections on
        # every request, which at a hundred connections costs more CPU than the call itself.
        clients = [client] if isinstance(client, httpx.AsyncClient) else list(client)
        self._clients = itertools.cycle(clients)
        self._url = base_url.rstrip("/") + "/chat/completions"
        self._headers = {"Authorization": f"Bearer {api_key}"}
        if app_url:
            self._headers["HTTP-Referer"] = app_url
        if app_title:
            self._headers["X-Title"] = app_title
        # httpx's timeouts bound each read; asyncio's bounds the whole attempt.
        self._timeout = timeout
        self._http_timeout = httpx.Timeout(timeout, connect=min(10.0, timeout))
        self._max_tokens = max_tokens
        self._retry = retry
        # Per replica: each process keeps its own view of which models are failing.
        self._breaker = breaker or CircuitBreaker()
        self._calls_per_second = calls_per_second
        self._limiters: dict[str, AsyncLimiter] = {}
        # Calls in flight across every email and preview of this process; emails wait for a
        # slot here, not in the consumer, so that slots never idle while others store theirs.
        self._slots = asyncio.Semaphore(max_in_flight) if max_in_flight else None
        self.max_in_flight = max_in_flight
        self._clock = clock

    def _limiter(self, model: str) -> AsyncLimiter | None:
        if self._calls_per_second is None:
            return None
        if model not in self._limiters:
            # A bucket of one second's calls: short bursts pass, a steady flow is held to rate.
            rate = self._calls_per_second
            self._limiters[model] = AsyncLimiter(max(1.0, rate), max(1.0, rate) / rate)
        return self._limiters[model]

    def _open_models(self, models: list[str]) -> list[str]:
        """The models whose circuit lets a call through, in the campaign's order."""
        now = self._clock()
        return [m for m in models if self._breaker.allows(m, now)]

    def request_body(self, request: EmailRequest) -> dict[str, Any]:
        brief = request.brief
        body: dict[str, Any] = {
            "model": brief.model,
            "messages": request.prompt.messages(),
            "response_format": {"type": "json_schema", "json_schema": EMAIL_SCHEMA},
            "max_tokens": self._max_tokens,
            "usage": {"include": True},
        }
        if brief.fallback_models:
            body["models"] = [brief.model, *brief.fallback_models]
        return body

    async def write(self, request: EmailRequest) -> Completion:
        body = self.request_body(request)
        calls: list[LlmCall] = []
        started = time.monotonic()
        retrying = AsyncRetrying(
            stop=stop_after_attempt(self._retry.attempts)
            | _StopOnLongRetryAfter(self._retry.max_retry_after),
            wait=_Backoff(self._retry),
            retry=retry_if_exception(_retryable),
            before_sleep=_log_retry,
            reraise=True,
        )
        models = [str(body["model"]), *body.get("models", [])[1:]]
        try:
            async for attempt in retrying:
                with attempt:
                    email, model = await self._guarded_attempt(body, models, calls)
        except ProviderError as exc:
            exc.calls = tuple(calls)
            raise
        return Completion(email, self.name, model, tuple(calls), _elapsed_ms(started))

    async def _guarded_attempt(
        self, body: dict[str, Any], models: list[str], calls: list[LlmCall]
    ) -> tuple[EmailContent, str]:
        """One attempt at the models whose circuit is closed (or half-open), at the model's
        rate; the outcome feeds the circuit breaker."""
        available = self._open_models(models)
        if not available:
            wait = self._breaker.reopens_in(tuple(models), self._clock())
            raise ProviderError(
                f"circuit open for every model ({', '.join(models)}); next trial in "
                f"{wait:.0f} s", reason="unavailable", retryable=True, retry_after=wait,
            )
        attempt_body = {**body, "model": available[0]}
        attempt_body.pop("models", None)
        if len(available) > 1:
            attempt_body["models"] = available
        limiter = self._limiter(available[0])
        if limiter is not None:
            await limiter.acquire()
        try:
            email, model = await self._attempt(attempt_body, calls)
        except ProviderError as exc:
            if exc.retryable:
                self._judge(available, exc.model, answer_ok=False)
            else:
                # The model was reachable; the request or the account is at fault.
                for reached in available:
                    self._breaker.succeeded(reached)
            raise
        self._judge(available, model, answer_ok=True)
        return email, model

    def _judge(self, tried: list[str], answered: str | None, *, answer_ok: bool) -> None:
        """Feeds one attempt's outcome to the breaker. OpenRouter moves down the list only
        when a model fails, so every model before the one that answered failed; with no answer
        at all, every model listed did."""
        now = self._clock()
        position = tried.index(answered) if answered in tried else len(tried)
        for model in tried[:position]:
            self._breaker.failed(model, now)
        if answered is not None and answered in tried:
            if answer_ok:
                self._breaker.succeeded(answered)
            else:
                self._breaker.failed(answered, now)  # a bad answer is its model's fault
        for model in tried[position + 1:]:
            self._breaker.settle(model)

    async def _attempt(
        self, body: dict[str, Any], calls: list[LlmCall]
    ) -> tuple[EmailContent, str]:
        requested = str(body["model"])
        with tracer.start_as_current_span(
            "llm call", kind=SpanKind.CLIENT,
            attributes={"gen_ai.system": "openrouter", "gen_ai.request.model": requested},
        ) as span:
            try:
                email, model = await self._timed_attempt(body, requested, calls)
            except ProviderError as exc:
                span.set_attribute("llm.outcome", exc.reason)
                if exc.model:
                    span.set_attribute("gen_ai.response.model", exc.model)
                raise
            span.set_attribute("llm.outcome", "ok")
            span.set_attribute("gen_ai.response.model", model)
            return email, model

    async def _timed_attempt(
        self, body: dict[str, Any], requested: str, calls: list[LlmCall]
    ) -> tuple[EmailContent, str]:
        async with self._slots or contextlib.nullcontext():
            return await self._exchange(body, requested, calls)

    async def _exchange(
        self, body: dict[str, Any], requested: str, calls: list[LlmCall]
    ) -> tuple[EmailContent, str]:
        started = time.monotonic()
        try:
            try:
                async with asyncio.timeout(self._timeout):
                    response = await next(self._clients).post(
                        self._url, json=body, headers=self._headers, timeout=self._http_timeout
                    )
            except (TimeoutError, httpx.TimeoutException) as exc:
                raise ProviderError(f"no answer within {self._timeout:g} s", reason="unavailable",
                                    retryable=True) from exc
            except httpx.TransportError as exc:
                raise ProviderError(f"connection failed: {exc!r}"[:MAX_ERROR_TEXT],
                                    reason="unavailable", retryable=True) from exc
            email, model, usage = read_completion(response, requested)
        except ProviderError as exc:
            calls.append(LlmCall(
                self.name, exc.model or requested, "error", exc.usage, _elapsed_ms(started),
                exc.http_status, f"{exc.reason}: {exc.message}",
            ))
            raise
        latency = _elapsed_ms(started)
        calls.append(LlmCall(self.name, model, "ok", usage, latency, response.status_code))
        return email, model
