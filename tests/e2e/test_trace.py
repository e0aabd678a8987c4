"""One email's trace, from the API call through NATS and the timers to the SMTP send.

The services export their spans over OTLP/HTTP, as they would to a collector, to a small
receiver run by the test that decodes what arrives."""

from __future__ import annotations

import gzip
import mailbox
import threading
import time
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)
from opentelemetry.proto.trace.v1.trace_pb2 import Span as SpanProto

from devstack.ports import LOOPBACK
from devstack.stack import SERVICES
from testkit.fake_openrouter import FakeOpenRouter, Reply
from testkit.system import api_client, running_system

pytestmark = pytest.mark.e2e

RECIPIENT = "ada@example.com"
GENERATED = {
    "subject": "Traced",
    "preheader": "Followed end to end",
    "body_html": "<p>Hello,</p><p>Followed.</p>",
    "body_text": "Hello,\n\nFollowed.",
}
# The `service.name` each service's resource carries.
SERVICE_NAMES = {"campaign-api", "scheduler", "content-generator", "mailer"}


@dataclass(frozen=True)
class ReceivedSpan:
    service: str
    name: str
    kind: int
    trace_id: str
    attributes: dict[str, Any]


class OtlpReceiver:
    """Accepts `POST /v1/traces` (protobuf, plain or compressed) and keeps every span."""

    def __init__(self) -> None:
        self._spans: list[ReceivedSpan] = []
        self._lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                if self.path != "/v1/traces":
                    self.send_error(404)
                    return
                encoding = (self.headers.get("Content-Encoding") or "").lower()
                if encoding == "gzip":
                    body = gzip.decompress(body)
                elif encoding == "deflate":
                    body = zlib.decompress(body)
                request = ExportTraceServiceRequest()
                request.ParseFromString(body)
                receiver._add(request)
                answer = ExportTraceServiceResponse().SerializeToString()
                self.send_response(200)
                self.send_header("Content-Type", "application/x-protobuf")
                self.send_header("Content-Length", str(len(answer)))
                self.end_headers()
                self.wfile.write(answer)

            def log_message(self, *_: Any) -> None:  # the exporters post every 200 ms
                pass

        self._server = ThreadingHTTPServer((LOOPBACK, 0), Handler)
        self.endpoint = f"http://{LOOPBACK}:{self._server.server_address[1]}"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    def __enter__(self) -> OtlpReceiver:
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._server.shutdown()
        self._server.server_close()

    def _add(self, request: ExportTraceServiceRequest) -> None:
        received = []
        for resource_spans in request.resource_spans:
            resource = {a.key: a.value.string_value for a in resource_spans.resource.attributes}
            for scope_spans in resource_spans.scope_spans:
                for span in scope_spans.spans:
                    received.append(ReceivedSpan(
                        service=resource.get("service.name", ""), name=span.name,
                        kind=span.kind, trace_id=span.trace_id.hex(),
                        attributes={a.key: _value(a.value) for a in span.attributes},
                    ))
        with self._lock:
            self._spans.extend(received)

    def spans(self) -> list[ReceivedSpan]:
        with self._lock:
            return list(self._spans)


def _value(value: Any) -> Any:
    kind = value.WhichOneof("value")
    return getattr(value, kind) if kind else None


@pytest.fixture(scope="module")
def traced_run() -> Iterator[OtlpReceiver]:
    """A campaign of one recipient, run to its first mail; the receiver of the run's spans."""
    with OtlpReceiver() as receiver, FakeOpenRouter() as fake_llm:
        fake_llm.script(Reply(GENERATED))
        otel = {"OTEL_EXPORTER_OTLP_ENDPOINT": receiver.endpoint,
                "OTEL_BSP_SCHEDULE_DELAY": "200"}
        with running_system("cb-trace-", fake_llm, extra_env=otel) as stack:
            with api_client(stack) as api:
                created = api.post("/api/campaigns/", json={
                    "name": "Traced", "description": "One email followed end to end",
                    "schedule_type": "weekly", "weekly_emails": 1, "weekly_days": [1],
                    "total_months": 1, "ai_agent_id": "openai/gpt-4",
                    "recipient_emails": [RECIPIENT],
                })
            assert created.status_code == 201, created.text
            assert stack.maildir is not None
            _wait_for_mail(stack.maildir, timeout=60)
            yield receiver


def _wait_for_mail(maildir: Path, *, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while len(mailbox.Maildir(maildir, create=False)) < 1:
        if time.monotonic() > deadline:
            pytest.fail(f"no message delivered within {timeout} s")
        time.sleep(0.25)


def _is_campaign_post(span: ReceivedSpan) -> bool:
    return (span.service == "campaign-api" and span.kind == SpanProto.SPAN_KIND_SERVER
            and span.name.startswith("POST /api/campaigns"))


def _chain(spans: list[ReceivedSpan]) -> dict[str, list[ReceivedSpan]]:
    """The spans each link of the chain is recognised by, whatever trace they are in."""
    return {
        "api request": [s for s in spans if _is_campaign_post(s)],
        "schedule email": [s for s in spans
                           if s.service == "scheduler" and s.name == "schedule email"],
        "generator consumes email.due": [s for s in spans if s.service == "content-generator"
                                         and s.name == "consume email.due"],
        "llm call": [s for s in spans if s.service == "content-generator"
                     and s.name == "llm call"],
        "smtp send": [s for s in spans if s.service == "mailer" and s.name == "smtp send"],
    }


def test_one_email_is_one_trace_from_the_api_to_the_smtp_send(
    traced_run: OtlpReceiver,
) -> None:
    receiver = traced_run
    # Each service exports in batches; the last links may still be on their way.
    deadline = time.monotonic() + 30
    while True:
        chain = _chain(receiver.spans())
        if all(chain.values()) or time.monotonic() > deadline:
            break
        time.sleep(0.25)
    missing = [link for link, found in chain.items() if not found]
    assert not missing, f"no span for {missing}; got {_names(receiver.spans())}"

    # One campaign, one request, one email: each link appears once and all in one trace.
    (request,) = chain["api request"]
    traces = {link: {s.trace_id for s in found} for link, found in chain.items()}
    assert all(ids == {request.trace_id} for ids in traces.values()), traces

    (send,) = chain["smtp send"]
    assert send.attributes["messaging.recipient_domain"] == "example.com"
    assert RECIPIENT not in {str(v) for v in send.attributes.values()}
    assert send.attributes["email.message_id"]
    (call,) = chain["llm call"]
    assert call.attributes["gen_ai.request.model"] == "openai/gpt-4"
    assert call.attributes["llm.outcome"] == "ok"

    in_trace = {s.service for s in receiver.spans() if s.trace_id == request.trace_id}
    assert in_trace == SERVICE_NAMES


def test_every_service_names_itself_in_its_spans(traced_run: OtlpReceiver) -> None:
    assert {s.service for s in traced_run.spans()} == SERVICE_NAMES
    assert len(SERVICE_NAMES) == len(SERVICES)  # one name per service the stack runs


def _names(spans: list[ReceivedSpan]) -> list[tuple[str, str]]:
    return sorted({(s.service, s.name) for s in spans})
