"""The exporter honours the OTel contract without a reachable broker."""

from __future__ import annotations

import logging

import pytest
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor, SpanExportResult
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from llmpulse.collectors import KafkaSpanExporter
from llmpulse.stream_jobs.decode import decode_request


def spans(n: int = 3, size: int = 10) -> list[ReadableSpan]:
    mem = InMemorySpanExporter()
    tp = TracerProvider()
    tp.add_span_processor(SimpleSpanProcessor(mem))
    for i in range(n):
        with tp.get_tracer("t").start_as_current_span(f"chat {i}") as s:
            s.set_attribute("gen_ai.request.model", "gpt-4o")
            s.set_attribute("pad", "x" * size)
    return list(mem.get_finished_spans())


@pytest.fixture(autouse=True)
def _quiet(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.ERROR)


def test_unreachable_broker_fails_the_export_and_counts_drops() -> None:
    """export() returns FAILURE, never raises, and the spans are counted as dropped."""
    ex = KafkaSpanExporter("127.0.0.1:1", producer_config={"bootstrap_timeout_ms": 300})
    assert ex.export(spans(3)) is SpanExportResult.FAILURE
    assert (ex.stats.spans_dropped, ex.stats.spans_exported) == (3, 0)
    ex.shutdown()


def test_shutdown_is_idempotent_and_final() -> None:
    """shutdown() twice is safe; export after it fails without touching Kafka."""
    ex = KafkaSpanExporter("127.0.0.1:1")
    ex.shutdown()
    ex.shutdown()
    assert ex.export(spans(1)) is SpanExportResult.FAILURE
    assert ex.force_flush() is True


def test_arguments_beat_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """Explicit arguments win over LLMPULSE_* variables, which win over defaults."""
    monkeypatch.setenv("LLMPULSE_KAFKA_BOOTSTRAP", "envhost:9092")
    monkeypatch.setenv("LLMPULSE_TOPIC", "env_topic")
    monkeypatch.setenv("LLMPULSE_CAPTURE_CONTENT", "true")
    assert KafkaSpanExporter().bootstrap_servers == "envhost:9092"
    assert KafkaSpanExporter().capture_content is True
    ex = KafkaSpanExporter("arg:1", topic="arg_topic", capture_content=False)
    assert (ex.bootstrap_servers, ex.topic, ex.capture_content) == ("arg:1", "arg_topic", False)
    monkeypatch.delenv("LLMPULSE_TOPIC")
    assert KafkaSpanExporter().topic == "otlp_spans"


def test_large_batches_are_split_under_the_message_limit() -> None:
    """A batch bigger than max_message_bytes becomes several OTLP messages, none lost."""
    ex = KafkaSpanExporter("127.0.0.1:1", max_message_bytes=20_000)
    batch = spans(40, size=2_000)
    chunks = ex._chunks(batch)
    assert len(chunks) > 1
    assert all(len(p) <= 20_000 for p, _ in chunks)
    assert sum(n for _, n in chunks) == 40
    names = [
        s.name
        for p, _ in chunks
        for rs in decode_request(p).resource_spans
        for ss in rs.scope_spans
        for s in ss.spans
    ]
    assert names == [s.name for s in batch]
