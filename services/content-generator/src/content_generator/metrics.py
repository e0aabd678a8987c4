"""Prometheus metrics of the calls made to write emails."""

from __future__ import annotations

from collections.abc import Iterable

from prometheus_client import Counter, Histogram

from content_generator.providers.base import LlmCall

LLM_CALLS = Counter(
    "llm_calls_total", "Calls to an email provider", ["provider", "model", "outcome"]
)
LLM_TOKENS = Counter("llm_tokens_total", "Tokens used", ["provider", "kind"])
LLM_COST = Counter(
    "llm_cost_total", "Credits spent, as the provider reports them", ["provider", "model"]
)
LLM_SECONDS = Histogram(
    "llm_call_seconds", "Duration of one call", ["provider", "model", "outcome"],
    buckets=(0.1, 0.5, 1, 2, 5, 10, 20, 30, 60, 120),
)


def observe(calls: Iterable[LlmCall]) -> None:
    for call in calls:
        LLM_CALLS.labels(call.provider, call.model, call.status).inc()
        LLM_TOKENS.labels(call.provider, "prompt").inc(call.usage.prompt_tokens)
        LLM_TOKENS.labels(call.provider, "completion").inc(call.usage.completion_tokens)
        LLM_COST.labels(call.provider, call.model).inc(float(call.usage.cost))
        LLM_SECONDS.labels(call.provider, call.model, call.status).observe(
            call.latency_ms / 1000
        )
