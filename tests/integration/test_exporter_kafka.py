"""The exporter's bytes on a real broker decode to exactly the spans sent."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest
from kafka import KafkaConsumer
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor

from llmpulse.collectors import KafkaSpanExporter, llm_call, transaction
from llmpulse.collectors.context import TransactionSpanProcessor
from llmpulse.stream_jobs.decode import attributes, decode_request

pytestmark = pytest.mark.integration


def consume(kafka: str, topic: str, expect: int) -> list[bytes]:
    consumer = KafkaConsumer(
        topic, bootstrap_servers=kafka, auto_offset_reset="earliest", consumer_timeout_ms=15_000
    )
    out = []
    for msg in consumer:
        out.append(msg.value)
        if len(out) >= expect:
            break
    consumer.close()
    return out


def spans_of(payloads: list[bytes]) -> list[tuple[dict, dict, object]]:
    out = []
    for p in payloads:
        for rs in decode_request(p).resource_spans:
            res = attributes(rs.resource.attributes)
            for ss in rs.scope_spans:
                out.extend((res, attributes(s.attributes), s) for s in ss.spans)
    return out


def test_one_batch_is_one_otlp_message_with_every_span(kafka: str, topic: str) -> None:
    """300 spans in one BatchSpanProcessor batch arrive as one message, ids intact."""
    exporter = KafkaSpanExporter(kafka, topic=topic)
    tp = TracerProvider(resource=Resource.create({"service.name": "shop"}))
    tp.add_span_processor(TransactionSpanProcessor())
    tp.add_span_processor(
        BatchSpanProcessor(exporter, max_export_batch_size=512, schedule_delay_millis=60_000)
    )
    sent = []
    with transaction("order-9", risk_tier="high", team="payments") as tx:
        for i in range(300):
            with tx.attempt(i % 2), llm_call("gpt-4o", "openai", tracer_provider=tp) as call:
                call.set_usage(input_tokens=100 + i, output_tokens=i)
                call.span.set_attribute("gen_ai.input.messages", "my secret prompt")
                sent.append(call.span.get_span_context())
    tp.force_flush()
    exporter.force_flush()
    assert exporter.stats.spans_exported == 300 and exporter.stats.spans_dropped == 0
    got = spans_of(consume(kafka, topic, 1))
    assert len(got) == 300
    assert [s.span_id for _, _, s in got] == [c.span_id.to_bytes(8, "big") for c in sent]
    for i, (res, attrs, _) in enumerate(got):
        assert res["service.name"] == "shop"
        assert attrs["gen_ai.usage.input_tokens"] == 100 + i
        assert attrs["llmpulse.transaction.id"] == "order-9"
        assert attrs["llmpulse.retry.attempt"] == i % 2
        assert "gen_ai.input.messages" not in attrs  # content stripped by default
    tp.shutdown()


def test_zero_code_setup_through_otel_traces_exporter(kafka: str, topic: str) -> None:
    """An app configured only by environment variables exports through Kafka."""
    app = (
        "from opentelemetry.sdk._configuration import _import_exporters\n"
        "from opentelemetry.sdk.trace import TracerProvider\n"
        "from opentelemetry.sdk.trace.export import BatchSpanProcessor\n"
        "span_exporters, _, _ = _import_exporters(['llmpulse_kafka'], [], [])\n"
        "tp = TracerProvider()\n"
        "for cls in span_exporters.values(): tp.add_span_processor(BatchSpanProcessor(cls()))\n"
        "with tp.get_tracer('x').start_as_current_span('chat') as s:\n"
        "    s.set_attribute('gen_ai.request.model', 'gpt-4o-mini')\n"
        "tp.shutdown()\n"
    )
    env = {**os.environ, "LLMPULSE_KAFKA_BOOTSTRAP": kafka, "LLMPULSE_TOPIC": topic}
    subprocess.run([sys.executable, "-c", app], env=env, check=True, timeout=60)
    (only,) = spans_of(consume(kafka, topic, 1))
    assert only[1]["gen_ai.request.model"] == "gpt-4o-mini"


def test_install_one_liner_with_opt_in_content(kafka: str, topic: str) -> None:
    """install() in a fresh app process: opted-in content arrives PII-scrubbed, and the
    span carries the business transaction it started in."""
    app = (
        "import llmpulse.collectors as lp\n"
        f"ex = lp.install(service_name='billing', kafka='{kafka}', topic='{topic}',\n"
        "                 capture_content=True)\n"
        "with lp.transaction('order-9', team='payments') as tx, tx.attempt(1):\n"
        "    with lp.llm_call('gpt-4o', 'openai') as c:\n"
        "        c.span.set_attribute('gen_ai.input.messages', 'mail me at ann@corp.example')\n"
        "from opentelemetry import trace; trace.get_tracer_provider().shutdown()\n"
    )
    subprocess.run([sys.executable, "-c", app], check=True, timeout=60)
    (only,) = spans_of(consume(kafka, topic, 1))
    res, attrs, _ = only
    assert res["service.name"] == "billing"
    assert attrs["gen_ai.input.messages"] == "mail me at [EMAIL]"
    assert attrs["llmpulse.transaction.id"] == "order-9"
    assert attrs["llmpulse.team"] == "payments" and attrs["llmpulse.retry.attempt"] == 1
