"""The app side: cost per LLM span on the app thread, and the export threads' CPU.

Measured for the llmpulse Kafka exporter and, in the same run, for the stock OTLP
HTTP exporter sending to a local HTTP receiver (in a child process, so its CPU is
not counted). Spans are emitted at a steady rate, like a busy service.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
from llmpulse.collectors import KafkaSpanExporter
from llmpulse.collectors.context import TransactionSpanProcessor
from llmpulse.stream_jobs.broker.local import free_port
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SpanExporter, SpanExportResult

__all__ = ["exporter_overhead"]

_CLK = os.sysconf("SC_CLK_TCK")
_RECEIVER = """
import http.server, sys
class H(http.server.BaseHTTPRequestHandler):
    def do_POST(self):
        self.rfile.read(int(self.headers.get('Content-Length', 0)))
        self.send_response(200); self.send_header('Content-Length', '0'); self.end_headers()
    def log_message(self, *a): pass
http.server.ThreadingHTTPServer(('127.0.0.1', int(sys.argv[1])), H).serve_forever()
"""


def _cpu(path: str) -> float:
    fields = Path(path).read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / _CLK


class _NoExport(SpanExporter):
    def export(self, spans: Any) -> SpanExportResult:
        return SpanExportResult.SUCCESS


def _run(
    exporter: SpanExporter, rate: float, seconds: float, tag_transactions: bool = False
) -> dict[str, float]:
    tp = TracerProvider(resource=Resource.create({"service.name": "bench-app"}))
    if tag_transactions:  # what install() sets up
        tp.add_span_processor(TransactionSpanProcessor())
    tp.add_span_processor(BatchSpanProcessor(exporter, max_export_batch_size=512))
    tracer = tp.get_tracer("bench")
    attrs: dict[str, Any] = {
        "gen_ai.operation.name": "chat",
        "gen_ai.provider.name": "openai",
        "gen_ai.request.model": "gpt-4o-mini",
        "gen_ai.response.model": "gpt-4o-mini-x",
        "gen_ai.usage.input_tokens": 812,
        "gen_ai.usage.output_tokens": 96,
        "gen_ai.response.finish_reasons": ("stop",),
        "server.address": "api.openai.com",
    }
    for _ in range(200):  # warm up
        with tracer.start_as_current_span("chat gpt-4o-mini", attributes=attrs):
            pass
    tp.force_flush()
    n = int(rate * seconds)
    costs = np.empty(n)
    total0, main0 = _cpu("/proc/self/stat"), _cpu(f"/proc/self/task/{os.getpid()}/stat")
    start = time.monotonic()
    for i in range(n):
        t = time.perf_counter_ns()
        with tracer.start_as_current_span("chat gpt-4o-mini", attributes=attrs):
            pass
        costs[i] = time.perf_counter_ns() - t
        delay = start + (i + 1) / rate - time.monotonic()
        if delay > 0:
            time.sleep(delay)
    wall = time.monotonic() - start
    tp.force_flush()
    total, main = (
        _cpu("/proc/self/stat") - total0,
        _cpu(f"/proc/self/task/{os.getpid()}/stat") - main0,
    )
    tp.shutdown()
    return {
        "app_thread_p50_us": float(np.percentile(costs, 50) / 1e3),
        "app_thread_p99_us": float(np.percentile(costs, 99) / 1e3),
        "export_threads_cpu_pct": 100 * (total - main) / wall,
        "spans": n,
    }


def exporter_overhead(bootstrap: str, rate: float = 1000.0, seconds: float = 6.0) -> dict[str, Any]:
    """Both exporters at ``rate`` spans/s for ``seconds`` each."""
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

    out: dict[str, Any] = {"sdk_only": _run(_NoExport(), rate, seconds)}
    ours = KafkaSpanExporter(bootstrap, topic="bench_exporter")
    out["llmpulse_kafka"] = _run(ours, rate, seconds, tag_transactions=True)
    out["llmpulse_kafka"]["dropped"] = ours.stats.spans_dropped
    port = free_port()
    receiver = subprocess.Popen([sys.executable, "-c", _RECEIVER, str(port)])
    try:
        time.sleep(0.5)
        stock = OTLPSpanExporter(endpoint=f"http://127.0.0.1:{port}/v1/traces")
        out["otlp_http_stock"] = _run(stock, rate, seconds)
    finally:
        receiver.terminate()
        receiver.wait(10)
    return out
