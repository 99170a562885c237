"""Our Kafka span exporter -> Kafka -> a real Collector's kafka receiver -> OTLP/HTTP;
and the build itself, as `llmpulse collector fetch` reports it."""

from __future__ import annotations

import gzip
import http.server
import subprocess
import sys
import time
from pathlib import Path

import pytest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)

from llmpulse.collectors import KafkaSpanExporter
from llmpulse.stream_jobs.broker.otelcol_config import kafka_to_otlp_http
from tests.conftest import loopback_http
from tests.interop.conftest import collector, send_calls

pytestmark = pytest.mark.integration


def test_the_collectors_kafka_receiver_reads_what_our_exporter_writes(
    kafka: str, topic: str, tmp_path: Path, otelcol: Path
) -> None:
    """KafkaSpanExporter's messages are otlp_proto to the Collector: every span and its
    gen_ai attributes come out of its OTLP/HTTP exporter."""
    received: list[ExportTraceServiceRequest] = []

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers["Content-Length"]))
            if self.headers.get("Content-Encoding") == "gzip":
                body = gzip.decompress(body)
            received.append(ExportTraceServiceRequest.FromString(body))
            out = ExportTraceServiceResponse().SerializeToString()
            self.send_response(200)
            self.send_header("Content-Type", "application/x-protobuf")
            self.send_header("Content-Length", str(len(out)))
            self.end_headers()
            self.wfile.write(out)

    exporter = KafkaSpanExporter(kafka, topic=topic)
    sent = send_calls(exporter, "svc-ours", traces=6, calls_per_trace=4)
    assert exporter.stats.spans_dropped == 0
    spans_sent = sent.calls + len(sent.trace_ids)  # each trace also has its root span
    with loopback_http(Handler) as url:
        make = lambda p: kafka_to_otlp_http(  # noqa: E731
            kafka, topic, p, f"{url}/v1/traces", group_id=f"otelcol-{topic}"
        )
        with collector(otelcol, tmp_path, make) as proc:
            deadline = time.monotonic() + 60
            while _spans(received) < spans_sent and time.monotonic() < deadline:
                time.sleep(0.2)
            assert _spans(received) == spans_sent, proc.tail()
    spans = [
        (rs.resource, s)
        for req in received
        for rs in req.resource_spans
        for ss in rs.scope_spans
        for s in ss.spans
    ]
    services = {
        a.value.string_value for r, _ in spans for a in r.attributes if a.key == "service.name"
    }
    assert services == {"svc-ours"}
    assert {s.trace_id.hex() for _, s in spans} == sent.trace_ids
    chats = [s for _, s in spans if s.name.startswith("chat")]
    assert len(chats) == sent.calls
    attrs = [{a.key: a.value for a in s.attributes} for s in chats]
    assert {a["gen_ai.request.model"].string_value for a in attrs} == {"gpt-4o-mini"}
    assert sum(a["gen_ai.usage.input_tokens"].int_value for a in attrs) == sent.input_tokens
    assert sum(a["gen_ai.usage.output_tokens"].int_value for a in attrs) == sent.output_tokens


def _spans(received: list[ExportTraceServiceRequest]) -> int:
    return sum(
        len(ss.spans) for req in received for rs in req.resource_spans for ss in rs.scope_spans
    )


def test_collector_fetch_reports_the_built_binary(otelcol: Path) -> None:
    """`llmpulse collector fetch` reuses the build; its components are the manifest's."""
    out = subprocess.run(
        [sys.executable, "-m", "llmpulse.stream_jobs.cli", "collector", "fetch"],
        capture_output=True,
        text=True,
        check=True,
        timeout=120,
    )
    assert out.stdout.strip() == f"OpenTelemetry Collector in {otelcol}"
    usage = subprocess.run(
        [sys.executable, "-m", "llmpulse.stream_jobs.cli", "collector", "--help"],
        capture_output=True,
        text=True,
        check=True,
    )
    assert "usage: llmpulse collector" in usage.stdout and "ocb" in usage.stdout
    version = subprocess.run([str(otelcol), "--version"], capture_output=True, text=True)
    assert version.stdout.strip() == "otelcol-llmpulse version 0.165.0"
    components = subprocess.run([str(otelcol), "components"], capture_output=True, text=True)
    for module in (
        "receiver/otlpreceiver v0.165.0",
        "processor/batchprocessor v0.165.0",
        "exporter/otlphttpexporter v0.165.0",
        "exporter/kafkaexporter v0.165.1",
        "receiver/kafkareceiver v0.165.1",
    ):
        assert module in components.stdout, module
