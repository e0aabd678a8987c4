"""Traces follow an event from the HTTP request that emitted it, through the outbox relay and
NATS, into the consuming handler; handlers log with the event's ids; consumer lag is sampled
from JetStream; /readyz waits for migrations."""

from __future__ import annotations

import asyncio
import contextlib
import subprocess
import sys
import uuid
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import httpx
import nats.js.errors
import pytest
import structlog
from nats.js import JetStreamContext
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind
from prometheus_client import REGISTRY
from sqlalchemy.ext.asyncio import AsyncEngine
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from contracts import CampaignPaused
from contracts.streams import ConsumerSpec
from servicekit import migrations
from servicekit import outbox as outbox_module
from servicekit.broker import ensure_consumer
from servicekit.consumer import Consumer, Handlers
from servicekit.db import UnitOfWork
from servicekit.health import migrations_check
from servicekit.lag import sample_once
from servicekit.outbox import OutboxRelay
from servicekit.tracing import configure_tracing, instrument_asgi, tracer

MakeEvent = Callable[..., CampaignPaused]
PROGRAMS = Path(__file__).parent / "programs"


@pytest.fixture(scope="module")
def exporter() -> InMemorySpanExporter:
    exporter = InMemorySpanExporter()
    provider = configure_tracing("servicekit-tests", record=True)
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    return exporter


@pytest.fixture
def spans(exporter: InMemorySpanExporter) -> InMemorySpanExporter:
    exporter.clear()
    return exporter


@pytest.fixture
async def paused_consumer(js: JetStreamContext) -> AsyncIterator[ConsumerSpec]:
    """A durable of the test's own on the system stream the relay publishes to."""
    spec = ConsumerSpec(service=f"sktrace{uuid.uuid4().hex[:8]}", stream="CAMPAIGNS",
                        filter_subjects=("campaign.paused",), ack_wait_seconds=5, batch_size=1)
    await ensure_consumer(js, spec)
    yield spec
    with contextlib.suppress(nats.js.errors.NotFoundError):
        await js.delete_consumer(spec.stream, spec.durable)


def api(engine: AsyncEngine, event: CampaignPaused) -> Starlette:
    async def create(_: Request) -> JSONResponse:
        async with UnitOfWork(engine) as uow:
            uow.publish(event)
            await uow.commit()
        return JSONResponse({}, status_code=201)

    app = Starlette(routes=[Route("/api/campaigns/", create, methods=["POST"])])
    instrument_asgi(app)
    return app


@pytest.mark.usefixtures("quiet_streams")
async def test_one_trace_from_the_http_request_to_the_handler(
    engine: AsyncEngine, js: JetStreamContext, paused_consumer: ConsumerSpec,
    make_event: MakeEvent, spans: InMemorySpanExporter,
) -> None:
    event = make_event()
    seen_in_handler: list[dict[str, object]] = []
    handled = asyncio.Event()

    async def send(event: CampaignPaused, uow: UnitOfWork) -> None:
        with tracer.start_as_current_span("smtp send"):
            seen_in_handler.append(structlog.contextvars.get_contextvars())
        handled.set()

    transport = httpx.ASGITransport(app=api(engine, event))
    async with httpx.AsyncClient(transport=transport, base_url="http://api") as http:
        assert (await http.post("/api/campaigns/")).status_code == 201
    assert await OutboxRelay(engine, js).publish_batch() == 1
    handlers = Handlers()
    handlers.on(CampaignPaused)(send)
    consumer = asyncio.create_task(Consumer(paused_consumer, js, engine, handlers).run())
    try:
        await asyncio.wait_for(handled.wait(), 10)
    finally:
        consumer.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await consumer

    finished = spans.get_finished_spans()
    by_name = {s.name: s for s in finished}
    request = next(s for s in finished if s.kind is SpanKind.SERVER)
    publish = by_name["publish campaign.paused"]
    consume = by_name["consume campaign.paused"]
    smtp = by_name["smtp send"]
    assert {s.context.trace_id for s in (request, publish, consume, smtp)} == {
        request.context.trace_id}
    # Each hop is the child of the one before: request → relay publish → consume → send.
    assert parent_of(publish) == request.context.span_id
    assert parent_of(consume) == publish.context.span_id
    assert parent_of(smtp) == consume.context.span_id
    assert (publish.kind, consume.kind) == (SpanKind.PRODUCER, SpanKind.CONSUMER)

    (context,) = seen_in_handler
    assert context["correlation_id"] == str(event.correlation_id)
    assert context["workspace_id"] == str(event.workspace_id)
    assert context["campaign_id"] == str(event.payload.campaign_id)
    # Bound around the handler only, not left behind for the next event.
    assert "campaign_id" not in structlog.contextvars.get_contextvars()


def parent_of(span: ReadableSpan) -> int | None:
    return span.parent.span_id if span.parent else None


@pytest.mark.usefixtures("quiet_streams")
async def test_where_no_span_is_recorded_an_event_carries_the_trace_it_was_emitted_in(
    engine: AsyncEngine, js: JetStreamContext, make_event: MakeEvent,
    spans: InMemorySpanExporter, monkeypatch: pytest.MonkeyPatch,
) -> None:
    # A publish span that nobody records would cost more than the publish: left out, the
    # event goes with the emitting span's context and the consumer continues from there.
    monkeypatch.setattr(outbox_module, "recorded", lambda: False)
    event = make_event()
    with tracer.start_as_current_span("emit") as emitting:
        async with UnitOfWork(engine) as uow:
            uow.publish(event)
            await uow.commit()
    assert await OutboxRelay(engine, js).publish_batch() == 1

    published = await js.get_last_msg("CAMPAIGNS", event.subject)
    context = emitting.get_span_context()
    assert published.headers is not None
    assert published.headers["traceparent"] == (
        f"00-{context.trace_id:032x}-{context.span_id:016x}-{context.trace_flags:02x}")
    assert published.headers["Nats-Msg-Id"] == str(event.event_id)
    assert [s.name for s in spans.get_finished_spans()] == ["emit"]


@pytest.mark.usefixtures("quiet_streams")
async def test_an_event_emitted_outside_any_trace_is_published_without_a_span(
    engine: AsyncEngine, js: JetStreamContext, make_event: MakeEvent,
    spans: InMemorySpanExporter,
) -> None:
    # Timers emit in bulk (the scheduler's ticks): a producer span per event would cost more
    # than the publish and join nothing; the consumer's span starts the trace instead.
    async with UnitOfWork(engine) as uow:
        uow.publish(make_event())
        await uow.commit()
    assert await OutboxRelay(engine, js).publish_batch() == 1

    assert spans.get_finished_spans() == ()


async def test_consumer_lag_is_sampled_from_jetstream(
    js: JetStreamContext, durable: ConsumerSpec,
) -> None:
    subject = durable.filter_subjects[0].replace(">", "event")
    for _ in range(3):
        await js.publish(subject, b"{}")

    await sample_once(js, [durable])

    labels = {"consumer": durable.durable}
    assert REGISTRY.get_sample_value("consumer_pending_messages", labels) == 3
    assert REGISTRY.get_sample_value("consumer_ack_pending_messages", labels) == 0


async def test_readiness_waits_for_the_migrations_of_the_code(
    engine: AsyncEngine, database_url: str, monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.syspath_prepend(str(PROGRAMS))
    check = migrations_check(engine, "sk_migrated")

    assert await check() == "migrations: not applied"
    await asyncio.to_thread(migrations.upgrade, "sk_migrated", database_url, "0001")
    assert await check() == "migrations: database at ['0001'], code expects ['0002']"
    await asyncio.to_thread(migrations.upgrade, "sk_migrated", database_url)
    assert await check() is None


async def test_readiness_names_a_package_without_migrations(engine: AsyncEngine) -> None:
    check = migrations_check(engine, "no_such_service")
    problem = await check()
    assert problem is not None
    assert problem.startswith("migrations: cannot read no_such_service's migrations")


_UNRECORDED = """
from opentelemetry.trace import SpanKind
from servicekit.tracing import configure_tracing, current_trace_headers, span_from_headers

configure_tracing("unexported")
parent = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"
with span_from_headers("work", {"traceparent": parent}, kind=SpanKind.CONSUMER) as span:
    print(span.is_recording(), current_trace_headers()["traceparent"])
"""


def test_without_an_endpoint_spans_are_not_recorded_yet_the_trace_travels() -> None:
    # A process of its own: the tracer provider is global, and this module's is set already.
    done = subprocess.run([sys.executable, "-c", _UNRECORDED], capture_output=True, text=True,
                          check=True)
    recording, traceparent = done.stdout.split()
    assert recording == "False"
    version, trace_id, span_id, _ = traceparent.split("-")
    assert (version, trace_id) == ("00", "0af7651916cd43dd8448eb211c80319c")
    assert span_id != "b7ad6b7169203331"  # a span of its own, child of the one received
