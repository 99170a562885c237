"""A real OpenTelemetry Collector (built once with ocb) between the OTel SDK, Kafka
and the worker: helpers to run one, send LLM calls through it, read what landed."""

from __future__ import annotations

import struct
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SpanExporter
from opentelemetry.trace import SpanKind

from llmpulse.stream_jobs.broker.collector import CollectorBuild, CollectorProcess
from llmpulse.stream_jobs.broker.local import free_port
from tests import otlp
from tests.conftest import sql

pytestmark = pytest.mark.integration


@pytest.fixture(scope="session")
def otelcol() -> Path:
    """The collector binary: built on the first run (minutes), reused after; no skip."""
    return CollectorBuild().fetch(say=print)


@contextmanager
def collector(
    binary: Path, folder: Path, make_config: Callable[[int], dict[str, Any]]
) -> Iterator[CollectorProcess]:
    """A collector running ``make_config(otlp_http_port)``; stopped (drained) at the end
    unless the test stopped it first, and it must exit cleanly."""
    port = free_port()
    proc = CollectorProcess(
        make_config(port), port, binary=binary, workdir=folder / f"otelcol-{port}"
    )
    proc.start()
    try:
        yield proc
    finally:
        code = proc.stop()
        assert code == 0, f"collector exited with {code}:\n{proc.tail()}"


@dataclass
class Sent:
    """What the SDK emitted: LLM calls (child spans) under one root span per trace."""

    calls: int = 0
    input_tokens: int = 0
    output_tokens: int = 0
    trace_ids: set[str] = field(default_factory=set)


def send_calls(
    exporter: SpanExporter, service: str, traces: int = 10, calls_per_trace: int = 3
) -> Sent:
    """Emit ``traces`` traces through the real SDK's BatchSpanProcessor and ``exporter``;
    each has a non-LLM root span and ``calls_per_trace`` gen_ai chat spans."""
    provider = TracerProvider(resource=Resource.create({"service.name": service}))
    provider.add_span_processor(
        BatchSpanProcessor(exporter, max_queue_size=65536, schedule_delay_millis=100)
    )
    tracer = provider.get_tracer("llmpulse.interop")
    sent = Sent()
    for t in range(traces):
        with tracer.start_as_current_span("handle request") as root:
            sent.trace_ids.add(format(root.get_span_context().trace_id, "032x"))
            for c in range(calls_per_trace):
                inp, out = 100 + 7 * t + c, 10 + c
                attrs = otlp.gen_ai(model="gpt-4o-mini", inp=inp, out=out)
                with tracer.start_as_current_span(
                    "chat gpt-4o-mini", kind=SpanKind.CLIENT, attributes=attrs
                ):
                    pass
                sent.calls += 1
                sent.input_tokens += inp
                sent.output_tokens += out
    assert provider.force_flush(30_000), "the SDK did not flush its spans"
    provider.shutdown()
    return sent


def send_to_collector(proc: CollectorProcess, service: str, **kw: int) -> Sent:
    """:func:`send_calls` with the stock OTLP/HTTP exporter to the collector's receiver."""
    return send_calls(OTLPSpanExporter(endpoint=proc.otlp_http_endpoint), service, **kw)


def stored(dsn: str, service: str) -> dict[str, int]:
    """Rows (no FINAL: duplicates would count), distinct spans and token sums for a service."""
    rows = sql(
        dsn,
        "SELECT count() AS rows, uniqExact(span_id) AS spans, "
        "sum(input_tokens) AS input_tokens, sum(output_tokens) AS output_tokens "
        f"FROM llmpulse.llm_calls WHERE service_name = '{service}'",
    )
    return {k: int(v or 0) for k, v in rows[0].items()}


def dead_letters(dsn: str) -> list[dict[str, Any]]:
    return sql(
        dsn,
        "SELECT reason, stage, count() AS n, sum(span_count) AS spans "
        "FROM llmpulse.dead_letters FINAL GROUP BY reason, stage ORDER BY reason, stage",
    )


def batch_codecs(basetemp: Path, topic: str) -> dict[tuple[str, int], int]:
    """The compression codec (attributes & 7: 0 none, 1 gzip, 2 snappy, 3 lz4, 4 zstd)
    of every record batch the broker wrote for ``topic``, read from its log segments,
    by (segment, byte position). The session broker's folder is ``<basetemp>/kafka<N>``."""
    codecs: dict[tuple[str, int], int] = {}
    for segment in sorted(basetemp.glob(f"kafka*/kraft/{topic}-*/*.log")):
        data = segment.read_bytes()
        pos = 0
        while pos + 23 <= len(data):
            (length,) = struct.unpack_from(">i", data, pos + 8)
            if length <= 0:
                break
            (attributes,) = struct.unpack_from(">h", data, pos + 21)
            codecs[(str(segment), pos)] = attributes & 7
            pos += 12 + length
    return codecs
