"""OpenTelemetry traces that follow one piece of work across services.

The W3C trace context (`traceparent`, `tracestate`) travels with each event: the unit of work
stores the current one in the outbox row's headers, the relay publishes it as NATS message
headers, and the consumer continues the trace around the handler. Spans are recorded and
exported over OTLP only when an endpoint is configured; without one they are not recorded
(a fraction of the cost), yet their trace context still travels and still names the trace in
log lines.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, MutableMapping
from contextlib import contextmanager
from typing import Any

from opentelemetry import propagate, trace
from opentelemetry.context import Context
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.instrumentation.asgi import OpenTelemetryMiddleware
from opentelemetry.sdk.resources import SERVICE_NAME, Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor
from opentelemetry.sdk.trace.sampling import ALWAYS_OFF
from opentelemetry.trace import Span, SpanKind
from starlette.applications import Starlette

# Only these headers carry trace context; anything else in a message stays out of it.
_TRACE_HEADERS = ("traceparent", "tracestate")
# Probes and scrapes every few seconds would drown the traces worth reading.
_UNTRACED_URLS = "healthz,readyz,metrics"

tracer = trace.get_tracer("servicekit")
_recorded = True  # until configure_tracing says otherwise


def configure_tracing(
    service: str, *, otlp_endpoint: str = "", record: bool = False
) -> TracerProvider:
    """Install the process's tracer provider; with an endpoint, spans go there over OTLP/HTTP.

    Without an endpoint spans are not recorded, unless `record` asks for it (a caller that
    adds a span processor of its own). An endpoint given as `OTEL_EXPORTER_OTLP_ENDPOINT` is
    the collector's base URL, so the traces path is appended as the OpenTelemetry
    specification says. The provider is global and set once: a second service started in the
    same process (a test) shares it."""
    current = trace.get_tracer_provider()
    if isinstance(current, TracerProvider):
        return current
    global _recorded
    _recorded = bool(otlp_endpoint or record)
    # None leaves the sampler to OTEL_TRACES_SAMPLER, by default every span of a sampled trace.
    sampler = None if _recorded else ALWAYS_OFF
    provider = TracerProvider(resource=Resource.create({SERVICE_NAME: service}),
                              sampler=sampler)
    if otlp_endpoint:
        url = otlp_endpoint.rstrip("/") + "/v1/traces"
        provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter(endpoint=url)))
    trace.set_tracer_provider(provider)
    return provider


def recorded() -> bool:
    """Whether this process records spans; where none is, a span that only passes a trace on
    (a publish) can be left out."""
    return _recorded


def current_trace_headers() -> dict[str, str]:
    """The current span's context as W3C headers; empty outside any span."""
    carrier: dict[str, str] = {}
    propagate.inject(carrier)
    return {k: v for k, v in carrier.items() if k in _TRACE_HEADERS}


def context_from_headers(headers: Mapping[str, str] | None) -> Context:
    carrier = {k.lower(): v for k, v in (headers or {}).items() if k.lower() in _TRACE_HEADERS}
    return propagate.extract(carrier)


@contextmanager
def span_from_headers(
    name: str, headers: Mapping[str, str] | None, *, kind: SpanKind,
    attributes: Mapping[str, str] | None = None,
) -> Iterator[Span]:
    """A span continuing the trace the headers carry (a new trace when they carry none)."""
    with tracer.start_as_current_span(
        name, context=context_from_headers(headers), kind=kind, attributes=attributes
    ) as span:
        yield span


def add_trace_ids(
    _: object, __: str, event_dict: MutableMapping[str, Any]
) -> MutableMapping[str, Any]:
    """structlog processor: log lines written inside a span name its trace, to jump from a
    log line to the trace and back."""
    context = trace.get_current_span().get_span_context()
    if context.is_valid:
        event_dict.setdefault("trace_id", format(context.trace_id, "032x"))
        event_dict.setdefault("span_id", format(context.span_id, "016x"))
    return event_dict


def instrument_asgi(app: Starlette) -> None:
    """Trace every HTTP request of a Starlette or FastAPI app; the request's span becomes the
    parent of whatever the request publishes through a unit of work."""
    app.add_middleware(OpenTelemetryMiddleware, excluded_urls=_UNTRACED_URLS)
