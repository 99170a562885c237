"""The test doubles behave as the real exporter and sink do, without Kafka or ClickHouse."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator, Sequence
from datetime import UTC, datetime
from typing import Any

import pytest
from opentelemetry import trace
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor, SpanExportResult
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from llmpulse.collectors import KafkaSpanExporter, install, llm_call, transaction
from llmpulse.collectors.context import TransactionBatchSpanProcessor
from llmpulse.collectors.testing import InMemoryKafkaExporter, install_in_memory
from llmpulse.schemas.content import CONTENT_EVENTS, is_content_key
from llmpulse.stream_jobs import BatchResult, Ingest, MemorySink, Message, Pipeline
from llmpulse.stream_jobs.fastpath import native_available
from tests import otlp

CONTENT = {
    "gen_ai.input.messages": '[{"role": "user", "content": "mail bob@example.com"}]',
    "gen_ai.output.messages": '[{"role": "assistant", "content": "call +44 20 7946 0958"}]',
    "gen_ai.prompt.0.content": "card 4111 1111 1111 1111",
    "llm.input_messages.0.message.content": "key sk-abcdefghijklmnop1234",
    "input.value": "bob@example.com",
}
USAGE = {
    "gen_ai.operation.name": "chat",
    "gen_ai.provider.name": "openai",
    "gen_ai.request.model": "gpt-4o-mini",
    "gen_ai.usage.input_tokens": 1200,
    "gen_ai.usage.output_tokens": 80,
}


@pytest.fixture
def provider() -> Iterator[TracerProvider]:
    """A test's own SDK provider (the global one can be set only once per process)."""
    tp = TracerProvider()
    yield tp
    tp.shutdown()


def _llm_spans(tp: TracerProvider, n: int = 2) -> None:
    tracer = tp.get_tracer("app")
    for i in range(n):
        with tracer.start_as_current_span(f"chat {i}", attributes={**USAGE, **CONTENT}) as s:
            s.add_event("gen_ai.user.message", {"content": "hi, I am bob@example.com"})
            s.add_event("retry", {"gen_ai.prompt": "again", "attempt": 1})


def _also_capture(tp: TracerProvider) -> InMemorySpanExporter:
    """The SDK's own in-memory exporter beside ours: the spans as the SDK handed them over."""
    sdk = InMemorySpanExporter()
    tp.add_span_processor(SimpleSpanProcessor(sdk))
    return sdk


def _real_bytes(spans: Sequence[ReadableSpan], capture: bool) -> bytes:
    return KafkaSpanExporter("127.0.0.1:1", capture_content=capture).encode(spans)


# ------------------------------------------------------------------ the exporter
@pytest.mark.parametrize("capture", [False, True])
def test_messages_are_the_bytes_the_real_exporter_would_send(
    provider: TracerProvider, capture: bool
) -> None:
    """Redaction and encoding are the real exporter's: the same bytes, byte for byte."""
    exporter = install_in_memory(tracer_provider=provider, capture_content=capture)
    sdk = _also_capture(provider)
    _llm_spans(provider)
    assert provider.force_flush()
    (message,) = exporter.get_messages()
    assert message.value == _real_bytes(sdk.get_finished_spans(), capture)
    assert (message.topic, message.partition, message.offset) == ("otlp_spans", 0, 0)


def test_content_is_stripped_unless_captured(provider: TracerProvider) -> None:
    """Content attributes and events never leave the app by default; the rest does."""
    exporter = install_in_memory(tracer_provider=provider)
    _llm_spans(provider)
    provider.force_flush()
    for attrs in exporter.get_span_attributes():
        assert attrs == USAGE
    for span in exporter.get_spans():
        assert [e.name for e in span.events] == ["retry"]
        assert [kv.key for kv in span.events[0].attributes] == ["attempt"]
    assert not any(is_content_key(k) for a in exporter.get_span_attributes() for k in a)


def test_captured_content_is_scrubbed(provider: TracerProvider) -> None:
    """capture_content=True exports content with PII replaced."""
    exporter = install_in_memory(tracer_provider=provider, capture_content=True)
    _llm_spans(provider, n=1)
    provider.force_flush()
    (attrs,) = exporter.get_span_attributes()
    assert attrs["gen_ai.prompt.0.content"] == "card [CARD]"
    assert attrs["llm.input_messages.0.message.content"] == "key [API_KEY]"
    assert attrs["input.value"] == "[EMAIL]"
    assert "bob@example.com" not in repr(attrs)
    (span,) = exporter.get_spans()
    assert [e.name for e in span.events] == ["gen_ai.user.message", "retry"]
    assert "gen_ai.user.message" in CONTENT_EVENTS


def test_capture_follows_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """LLMPULSE_CAPTURE_CONTENT and LLMPULSE_TOPIC apply as to the real exporter."""
    monkeypatch.setenv("LLMPULSE_CAPTURE_CONTENT", "true")
    monkeypatch.setenv("LLMPULSE_TOPIC", "app_spans")
    exporter = InMemoryKafkaExporter()
    assert (exporter.capture_content, exporter.topic) == (True, "app_spans")
    assert InMemoryKafkaExporter(topic="t", capture_content=False).capture_content is False


def test_transactions_tag_every_span_inside(provider: TracerProvider) -> None:
    """install()'s processor tags spans with the transaction and the retry attempt."""
    exporter = install_in_memory(tracer_provider=provider)
    with transaction("order-123", risk_tier="high", team="payments", feature="refunds") as tx:
        with tx.attempt(1), llm_call("gpt-4o", "openai", tracer_provider=provider):
            pass
        with llm_call("gpt-4o", "openai", tracer_provider=provider):
            pass
    with llm_call("gpt-4o", "openai", tracer_provider=provider):
        pass
    provider.force_flush()
    retried, first, outside = exporter.get_span_attributes()
    tags = {
        "llmpulse.transaction.id": "order-123",
        "llmpulse.risk_tier": "high",
        "llmpulse.team": "payments",
        "llmpulse.feature": "refunds",
    }
    assert retried.items() >= {**tags, "llmpulse.retry.attempt": 1}.items()
    assert first.items() >= tags.items() and "llmpulse.retry.attempt" not in first
    assert not any(k.startswith("llmpulse.") for k in outside)


def test_large_batches_are_split_and_counted(provider: TracerProvider) -> None:
    """A batch over max_message_bytes becomes several messages; stats count them all."""
    exporter = InMemoryKafkaExporter(max_message_bytes=600)
    provider.add_span_processor(TransactionBatchSpanProcessor(exporter))
    _llm_spans(provider, n=8)
    provider.force_flush()
    messages = exporter.get_messages()
    assert len(messages) > 1
    assert [m.offset for m in messages] == list(range(len(messages)))
    assert len(exporter.get_spans()) == 8
    stats = exporter.stats
    assert (stats.spans_exported, stats.messages_sent, stats.spans_dropped) == (8, len(messages), 0)
    assert exporter.buffered_bytes == 0


def test_clear_forgets_messages_but_offsets_go_on(provider: TracerProvider) -> None:
    """clear() empties the exporter; the next message takes the next offset, as on a topic."""
    exporter = install_in_memory(tracer_provider=provider)
    _llm_spans(provider, n=1)
    provider.force_flush()
    exporter.clear()
    assert exporter.get_messages() == () and exporter.get_spans() == ()
    _llm_spans(provider, n=1)
    provider.force_flush()
    assert [m.offset for m in exporter.get_messages()] == [1]


def test_shutdown_is_safe_twice_and_final() -> None:
    """After shutdown() export fails and keeps nothing, as the real exporter's contract says."""
    exporter = InMemoryKafkaExporter()
    sdk = InMemorySpanExporter()
    tp = TracerProvider()
    tp.add_span_processor(SimpleSpanProcessor(sdk))
    _llm_spans(tp, n=1)
    exporter.shutdown()
    exporter.shutdown()
    assert exporter.export(sdk.get_finished_spans()) is SpanExportResult.FAILURE
    assert exporter.get_messages() == ()
    assert exporter.force_flush() is True


def _processors(tp: TracerProvider) -> list[Any]:
    return list(tp._active_span_processor._span_processors)


@pytest.mark.parametrize("service_name", ["checkout", None])
def test_install_in_memory_sets_up_what_install_does(
    monkeypatch: pytest.MonkeyPatch, service_name: str | None
) -> None:
    """With no SDK provider yet, both create the same resource and the same processor."""
    monkeypatch.setenv("OTEL_SERVICE_NAME", "from-env")
    created: list[Any] = []
    monkeypatch.setattr(trace, "get_tracer_provider", trace.ProxyTracerProvider)
    monkeypatch.setattr(trace, "set_tracer_provider", created.append)
    args: dict[str, Any] = {
        "environment": "prod",
        "team": "payments",
        "resource_attributes": {"service.version": "1.2"},
    }
    real = install(service_name, "127.0.0.1:1", **args)
    double = install_in_memory(service_name, **args)
    real_tp, double_tp = created
    try:
        assert double_tp.resource.attributes == real_tp.resource.attributes
        assert double_tp.resource.attributes["service.name"] == (service_name or "from-env")
        assert [type(p) for p in _processors(double_tp)] == [TransactionBatchSpanProcessor]
        assert [type(p) for p in _processors(real_tp)] == [TransactionBatchSpanProcessor]
        assert type(real) is KafkaSpanExporter and isinstance(double, KafkaSpanExporter)
    finally:
        real_tp.shutdown()
        double_tp.shutdown()


def test_install_in_memory_joins_the_global_sdk_provider(
    monkeypatch: pytest.MonkeyPatch, provider: TracerProvider
) -> None:
    """With an SDK provider already global, it is joined, as install() joins it."""
    monkeypatch.setattr(trace, "get_tracer_provider", lambda: provider)
    monkeypatch.setattr(trace, "set_tracer_provider", lambda _: pytest.fail("replaced"))
    exporter = install_in_memory("ignored")
    _llm_spans(provider, n=1)
    provider.force_flush()
    assert len(exporter.get_spans()) == 1


def test_resource_attributes_are_exported() -> None:
    """Each span comes with its resource's attributes."""
    tp = TracerProvider(resource=_service("checkout"))
    exporter = install_in_memory(tracer_provider=tp)
    _llm_spans(tp, n=1)
    tp.force_flush()
    assert exporter.get_resource_attributes()[0]["service.name"] == "checkout"
    tp.shutdown()


def _service(name: str) -> Resource:
    return Resource.create({"service.name": name})


# ---------------------------------------------------------------------- the sink
PATHS = [
    "python",
    pytest.param("native", marks=pytest.mark.skipif(not native_available(), reason="not built")),
]


@pytest.fixture(params=PATHS)
def pipeline(request: pytest.FixtureRequest) -> Pipeline:
    """Both ways through the pipeline: the Python reference path and the compiled one."""
    return Pipeline(native=request.param == "native")


def _handle(ingest: Ingest, *batches: list[Message]) -> list[BatchResult]:
    async def run() -> list[BatchResult]:
        return [await ingest.handle(batch) for batch in batches]

    try:
        return asyncio.run(run())
    finally:
        ingest.close()


def _messages(*payloads: bytes, first_offset: int = 0) -> list[Message]:
    return [Message("otlp_spans", 0, first_offset + i, p) for i, p in enumerate(payloads)]


def test_a_batch_handled_twice_is_stored_once(pipeline: Pipeline) -> None:
    """Ingest + the memory sink: a replayed batch adds no call, dead letter or batch row."""
    good = [otlp.span(otlp.gen_ai(inp=100 * i + 1)) for i in range(3)]
    bad = otlp.span(otlp.gen_ai(inp=-5))
    batch = _messages(otlp.request([*good, bad]), otlp.request([good[0]], service="other"))
    sink = MemorySink()
    first, again = _handle(Ingest(pipeline, sink), batch, batch)
    assert first.token == again.token
    assert len(sink.calls) == 4
    assert len(sink.rows("llm_calls")) == 4
    assert [d.reason for d in sink.dead_letters] == ["negative_tokens"]
    assert [(b["source_offset"], b["llm_spans"]) for b in sink.batches] == [(0, 4), (1, 1)]
    assert sink.writes == 2
    assert sink.blocks_deduplicated == 3  # calls, dead letters, batch rows
    assert sorted(c.input_tokens for c in sink.calls) == [1, 1, 101, 201]


def test_a_span_resent_in_another_batch_is_read_once(pipeline: Pipeline) -> None:
    """Other offsets, other token: kept twice as inserted, read once (as with FINAL)."""
    payload = otlp.request([otlp.span(otlp.gen_ai())])
    sink = MemorySink()
    _handle(Ingest(pipeline, sink), _messages(payload), _messages(payload, first_offset=1))
    assert len(sink.rows("llm_calls")) == 2
    assert len(sink.calls) == 1
    assert [b["source_offset"] for b in sink.batches] == [0, 1]


def test_a_failed_write_is_retried_and_kept_once(pipeline: Pipeline) -> None:
    """RetryLater from the sink: Ingest writes the same batch again, nothing is doubled."""
    sink = MemorySink()
    sink.fail_next()
    ingest = Ingest(pipeline, sink, max_backoff=0.5)
    _handle(ingest, _messages(otlp.request([otlp.span(otlp.gen_ai())])))
    assert (ingest.stats.write_retries, sink.writes, len(sink.calls)) == (1, 2, 1)


def test_app_spans_through_the_doubles_end_to_end(pipeline: Pipeline) -> None:
    """Real SDK spans → in-memory exporter → pipeline → memory sink, without Kafka."""
    tp = TracerProvider(resource=_service("checkout"))
    exporter = install_in_memory(tracer_provider=tp)
    with transaction("order-9", team="payments"):
        _llm_spans(tp, n=3)
    tp.force_flush()
    tp.shutdown()
    sink = MemorySink()
    messages = [Message(*m) for m in exporter.get_messages()]
    _handle(Ingest(pipeline, sink), messages, messages)
    assert len(sink.calls) == 3 and sink.dead_letters == []
    assert {(c.service_name, c.transaction_id, c.team) for c in sink.calls} == {
        ("checkout", "order-9", "payments")
    }


def test_visible_floor_is_the_start_of_the_write_under_way() -> None:
    """Between writes the floor is now; during one, the time the write began."""
    sink = MemorySink()
    before = datetime.now(UTC)
    assert before <= sink.visible_floor() <= datetime.now(UTC)
    seen: list[tuple[datetime, datetime]] = []

    class Slow(BatchResult):
        @property
        def token(self) -> str:  # read by write() once the write is under way
            time.sleep(0.05)
            seen.append((sink.visible_floor(), datetime.now(UTC)))
            return super().token

    start = datetime.now(UTC)
    sink.write(Slow(sources=[("t", 0, 0, 0, 0)]))
    ((floor, then),) = seen
    assert start <= floor and (then - floor).total_seconds() >= 0.04
