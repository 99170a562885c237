"""The app side: cost per LLM span on the app thread, and the export threads' CPU.

Measured for the llmpulse Kafka exporter and, in the same run, for the stock OTLP
HTTP exporter sending to a local HTTP receiver (in a child process, so its CPU is
not counted). Spans are emitted at a steady rate, like a busy service.

Two figures per span on the app thread: the whole span (the OTel SDK creating it,
checking its attributes, ending it, plus the exporter's part), and the exporter's
part alone: the time spent in the span processor the exporter brings
(``install()``'s batch queue with its transaction tagging), timed around its
``on_start``/``on_end`` calls. The SDK's own share is the same whichever exporter
is used, and is what an app pays with a no-op exporter.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from opentelemetry.context import Context
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import ReadableSpan, Span, SpanProcessor, TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SpanExporter, SpanExportResult

from llmpulse.collectors import KafkaSpanExporter
from llmpulse.collectors.context import TransactionBatchSpanProcessor
from llmpulse.stream_jobs.bench.e2e import stat_cpu_seconds
from llmpulse.stream_jobs.broker.local import free_port
from llmpulse.stream_jobs.settings import WorkerSettings
from llmpulse.stream_jobs.worker import ensure_topics

__all__ = ["exporter_overhead"]

_RECEIVER = """
import http.server, sys
class H(http.server.BaseHTTPRequestHandler):
    def do_POST(self):
        self.rfile.read(int(self.headers.get('Content-Length', 0)))
        self.send_response(200); self.send_header('Content-Length', '0'); self.end_headers()
    def log_message(self, *a): pass
http.server.ThreadingHTTPServer(('127.0.0.1', int(sys.argv[1])), H).serve_forever()
"""


class _NoExport(SpanExporter):
    def export(self, spans: Any) -> SpanExportResult:
        return SpanExportResult.SUCCESS


class _Timed(SpanProcessor):
    """The exporter's span processor, with the app thread's time in it summed."""

    def __init__(self, processor: SpanProcessor) -> None:
        self.processor = processor
        self.ns = 0

    def on_start(self, span: Span, parent_context: Context | None = None) -> None:
        t = time.perf_counter_ns()
        self.processor.on_start(span, parent_context=parent_context)
        self.ns += time.perf_counter_ns() - t

    def on_end(self, span: ReadableSpan) -> None:
        t = time.perf_counter_ns()
        self.processor.on_end(span)
        self.ns += time.perf_counter_ns() - t

    def shutdown(self) -> None:
        self.processor.shutdown()

    def force_flush(self, timeout_millis: int = 30_000) -> bool:
        return self.processor.force_flush(timeout_millis)


@dataclass
class _Pooled:
    """One setup's figures over all its rounds."""

    costs: list[np.ndarray] = field(default_factory=list)
    own: list[np.ndarray] = field(default_factory=list)
    export_cpu_s: float = 0.0
    wall_s: float = 0.0
    dropped: int = 0

    def figures(self) -> dict[str, float]:
        costs, own = np.concatenate(self.costs), np.concatenate(self.own)
        return {
            "app_thread_p50_us": float(np.percentile(costs, 50) / 1e3),
            "app_thread_p99_us": float(np.percentile(costs, 99) / 1e3),
            "exporter_part_p50_us": float(np.percentile(own, 50) / 1e3),
            "exporter_part_p99_us": float(np.percentile(own, 99) / 1e3),
            # (thread CPU is counted in clock ticks: never below zero)
            "export_threads_cpu_pct": max(0.0, 100 * self.export_cpu_s / self.wall_s),
            "spans": len(costs),
        }


_ATTRS: dict[str, Any] = {
    "gen_ai.operation.name": "chat",
    "gen_ai.provider.name": "openai",
    "gen_ai.request.model": "gpt-4o-mini",
    "gen_ai.response.model": "gpt-4o-mini-x",
    "gen_ai.usage.input_tokens": 812,
    "gen_ai.usage.output_tokens": 96,
    "gen_ai.response.finish_reasons": ("stop",),
    "server.address": "api.openai.com",
}


def _run(
    exporter: SpanExporter, rate: float, seconds: float, tag_transactions: bool, into: _Pooled
) -> None:
    tp = TracerProvider(resource=Resource.create({"service.name": "bench-app"}))
    batch = TransactionBatchSpanProcessor if tag_transactions else BatchSpanProcessor
    timed = _Timed(batch(exporter, max_export_batch_size=512))  # as install() sets up
    tp.add_span_processor(timed)
    tracer = tp.get_tracer("bench")
    for _ in range(200):  # warm up
        with tracer.start_as_current_span("chat gpt-4o-mini", attributes=_ATTRS):
            pass
    tp.force_flush()
    n = int(rate * seconds)
    costs, own = np.empty(n), np.empty(n)
    process, app_thread = "/proc/self/stat", f"/proc/self/task/{os.getpid()}/stat"
    total0, main0 = stat_cpu_seconds(process), stat_cpu_seconds(app_thread)
    start = time.monotonic()
    for i in range(n):
        before = timed.ns
        t = time.perf_counter_ns()
        with tracer.start_as_current_span("chat gpt-4o-mini", attributes=_ATTRS):
            pass
        costs[i] = time.perf_counter_ns() - t
        own[i] = timed.ns - before
        delay = start + (i + 1) / rate - time.monotonic()
        if delay > 0:
            time.sleep(delay)
    wall = time.monotonic() - start
    tp.force_flush()
    total, main = stat_cpu_seconds(process) - total0, stat_cpu_seconds(app_thread) - main0
    tp.shutdown()
    into.costs.append(costs)
    into.own.append(own)
    into.export_cpu_s += total - main
    into.wall_s += wall


def exporter_overhead(
    bootstrap: str, rate: float = 1000.0, seconds: float = 6.0, rounds: int = 3
) -> dict[str, Any]:
    """The SDK alone, the llmpulse exporter and the stock one at ``rate`` spans/s for
    ``seconds`` each, taken in ``rounds`` turns (the machine's speed drifts: each
    setup gets a share of every moment), a fresh exporter per turn."""
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

    topic = "bench_exporter"
    ensure_topics(WorkerSettings(kafka_bootstrap=bootstrap, topic=topic))
    port = free_port()
    receiver = subprocess.Popen([sys.executable, "-c", _RECEIVER, str(port)])
    pooled = {name: _Pooled() for name in ("sdk_only", "llmpulse_kafka", "otlp_http_stock")}
    try:
        time.sleep(0.5)
        for _ in range(rounds):
            _run(_NoExport(), rate, seconds / rounds, False, pooled["sdk_only"])
            ours = KafkaSpanExporter(bootstrap, topic=topic)
            _run(ours, rate, seconds / rounds, True, pooled["llmpulse_kafka"])
            pooled["llmpulse_kafka"].dropped += ours.stats.spans_dropped
            stock = OTLPSpanExporter(endpoint=f"http://127.0.0.1:{port}/v1/traces")
            _run(stock, rate, seconds / rounds, False, pooled["otlp_http_stock"])
    finally:
        receiver.terminate()
        receiver.wait(10)
    out: dict[str, Any] = {name: p.figures() for name, p in pooled.items()}
    out["llmpulse_kafka"]["dropped"] = pooled["llmpulse_kafka"].dropped
    return out
