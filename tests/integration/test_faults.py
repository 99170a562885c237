"""Faults on real parts: a locked store, a broker restart, a poisoned mixed stream."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import pytest
from kafka import KafkaProducer
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor

from llmpulse.collectors import KafkaSpanExporter, llm_call
from llmpulse.stream_jobs.broker import LocalBroker
from llmpulse.stream_jobs.lag import LagProbe
from llmpulse.stream_jobs.settings import WorkerSettings
from llmpulse.stream_jobs.worker import ensure_topics
from llmpulse.stream_jobs.worker_process import WorkerProcess
from tests import otlp
from tests.conftest import summary, topic_values
from tests.integration.conftest import FAST_FAILOVER

pytestmark = pytest.mark.integration

HOLD = """
import sys, time, clickhouse_connect
c = clickhouse_connect.get_client(dsn=sys.argv[1]); c.command("SELECT 1")
print("held", flush=True); time.sleep(float(sys.argv[2]))
"""


def _topics_and_producer(kafka: str, topic: str) -> KafkaProducer:
    """The worker's topics created, and a producer to feed the input topic."""
    ensure_topics(
        WorkerSettings(kafka_bootstrap=kafka, topic=topic, dead_letter_topic=f"{topic}.dlq")
    )
    return KafkaProducer(bootstrap_servers=kafka)


def test_worker_waits_for_a_locked_store_and_commits_nothing_meanwhile(
    kafka: str, topic: str, tmp_path: Path
) -> None:
    """While another process holds the data folder the worker retries, then catches up."""
    producer = _topics_and_producer(kafka, topic)
    for i in range(30):
        producer.send(topic, otlp.request([otlp.span(otlp.gen_ai(inp=100 + i)) for _ in range(10)]))
    producer.flush()
    producer.close()
    dsn = f"chdb://{tmp_path / 'chdb'}"
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLD, dsn, "10"], stdout=subprocess.PIPE, text=True
    )
    assert holder.stdout is not None and holder.stdout.readline().strip() == "held"
    worker = WorkerProcess(
        kafka, dsn, tmp_path / "worker", topic=topic, group_id="locked", extra_env=FAST_FAILOVER
    ).start(wait=False)
    probe = LagProbe(kafka, "locked", topic)
    try:
        time.sleep(5)
        assert worker.alive()
        assert probe.progress()[0] == 0  # nothing committed while the store is unavailable
        holder.wait(30)
        worker.wait_ready(120)
        worker.wait_caught_up(timeout=120)
    finally:
        probe.close()
        assert worker.stop() == 0
    log = worker.log_path.read_text()
    assert "unavailable" in log and "retrying in" in log
    got = summary(dsn)
    assert got["calls"] == 300
    assert got["input_tokens"] == sum(10 * (100 + i) for i in range(30))


def test_exporter_buffers_through_a_broker_restart(tmp_path: Path) -> None:
    """Spans ended while the broker is down are delivered after it returns; none dropped."""
    broker = LocalBroker(tmp_path / "kafka")
    info = broker.start()
    topic = "restart_test"
    exporter = KafkaSpanExporter(info.bootstrap, topic=topic)
    tp = TracerProvider()
    tp.add_span_processor(BatchSpanProcessor(exporter, schedule_delay_millis=100))
    ends: list[float] = []

    def emit(n: int) -> None:
        for _ in range(n):
            t = time.perf_counter()
            with llm_call("gpt-4o", "openai", tracer_provider=tp) as call:
                call.set_usage(input_tokens=10, output_tokens=1)
            ends.append(time.perf_counter() - t)

    try:
        emit(200)
        tp.force_flush()
        exporter.force_flush()
        broker.stop()
        emit(300)  # the broker is down
        time.sleep(2)
        assert broker.start(port=info.port).port == info.port
        tp.force_flush()
        assert exporter.force_flush(60_000)
        from llmpulse.stream_jobs.decode import decode_request

        delivered = sum(
            len(ss.spans)
            for v in topic_values(info.bootstrap, topic)
            for rs in decode_request(v).resource_spans
            for ss in rs.scope_spans
        )
    finally:
        tp.shutdown()
        broker.stop()
    assert exporter.stats.spans_dropped == 0
    assert delivered == 500
    assert max(ends) < 0.5  # the app thread never waited on the broker


def test_mixed_stream_with_many_malformed_records(kafka: str, tmp_path: Path) -> None:
    """6,000 messages, 40 % garbage: no crash, every good span stored, every bad one rejected."""
    from llmpulse.stream_jobs.bench.mixed import mixed_stream

    result = mixed_stream(6000, bad_share=0.4, kafka=kafka, folder=tmp_path)
    assert result.garbage_messages > 2000 and result.bad_spans > 500
    assert result.stored_calls == result.good_spans
    assert result.rejects == {
        "malformed_protobuf": result.garbage_messages,
        "negative_tokens": result.bad_spans,
    }
    assert result.dead_letter_topic == result.garbage_messages + result.bad_spans
    assert result.worker_exit == 0 and result.ok


def test_repeated_sigkill_during_traffic_keeps_every_total_exact(
    kafka: str, tmp_path: Path
) -> None:
    """The soak, scaled for CI, in hostile mode: killed mid-traffic again and again while
    hostile messages flow, the good totals stay exact and every hostile span is counted."""
    from llmpulse.stream_jobs.bench.soak import soak

    result = soak(
        events=4000,
        seconds=16,
        kill_every=4,
        kafka=kafka,
        folder=tmp_path,
        say=lambda _m: None,
        hostile_every=0.5,
    )
    assert set(result["hostile_sent"]) == {
        "retry_past_uint16",
        "ttft_infinite",
        "ends_in_2533",
        "superscript_tokens",
        "idless_spans",
        "deep_kvlist",
        "garbage",
    }
    assert result["kills"] >= 2
    assert result["checks"] == {k: True for k in result["checks"]}
    assert result["dropped_by_exporter"] == 0


def test_exporter_drops_beyond_its_buffer_are_counted(tmp_path: Path) -> None:
    """With the broker down, what fits the buffer waits; the rest is dropped and counted."""
    broker = LocalBroker(tmp_path / "kafka")
    info = broker.start()
    exporter = KafkaSpanExporter(info.bootstrap, topic="overflow", max_buffer_bytes=60_000)
    tp = TracerProvider()
    tp.add_span_processor(
        BatchSpanProcessor(exporter, max_export_batch_size=20, schedule_delay_millis=50)
    )

    def emit(n: int) -> None:
        for _ in range(n):
            with llm_call("gpt-4o", "openai", tracer_provider=tp) as call:
                call.span.set_attribute("pad", "x" * 500)
            tp.force_flush()

    try:
        emit(1)  # metadata known
        exporter.force_flush()
        broker.stop()
        emit(400)
        assert exporter.buffered_bytes <= 60_000
        dropped = exporter.stats.spans_dropped
        assert dropped > 0
        broker.start(port=info.port)
        assert exporter.force_flush(60_000)
        tp.shutdown()
    finally:
        broker.stop()
    assert exporter.stats.spans_exported + exporter.stats.spans_dropped == 401
    assert exporter.stats.spans_dropped == dropped  # nothing else lost after the restart


def test_dead_clickhouse_server_is_retried_without_consuming(
    kafka: str, topic: str, tmp_path: Path
) -> None:
    """A server DSN on a dead port: the worker logs and retries, commits nothing."""
    from llmpulse.stream_jobs.broker.local import free_port

    producer = _topics_and_producer(kafka, topic)
    producer.send(topic, otlp.request([otlp.span(otlp.gen_ai())]))
    producer.flush()
    producer.close()
    dsn = f"http://writer:topsecret@127.0.0.1:{free_port()}"
    worker = WorkerProcess(kafka, dsn, tmp_path / "worker", topic=topic, group_id="deadch").start(
        wait=False
    )
    probe = LagProbe(kafka, "deadch", topic)
    try:
        time.sleep(6)
        assert worker.alive()
        assert probe.progress() == (0, 1)
    finally:
        probe.close()
        worker.stop()
    log = worker.log_path.read_text()
    assert log.count("unavailable") >= 2 and "retrying in" in log
    assert "topsecret" not in log and "writer:***@" in log


def test_worker_started_before_its_broker_waits_for_it(tmp_path: Path) -> None:
    """No broker yet: the worker waits (it exited after 30 s), then stores what comes."""
    from llmpulse.stream_jobs.broker.local import free_port

    port = free_port()
    bootstrap = f"127.0.0.1:{port}"
    dsn = f"chdb://{tmp_path / 'chdb'}"
    topic = "late_broker"
    worker = WorkerProcess(
        bootstrap, dsn, tmp_path / "worker", topic=topic, group_id="late", extra_env=FAST_FAILOVER
    ).start(wait=False)
    broker = LocalBroker(tmp_path / "kafka")
    try:
        time.sleep(35)
        assert worker.alive()
        broker.start(port=port)
        producer = KafkaProducer(bootstrap_servers=bootstrap)
        producer.send(topic, otlp.request([otlp.span(otlp.gen_ai()) for _ in range(4)]))
        producer.flush()
        producer.close()
        worker.wait_ready(120)
        worker.wait_caught_up(timeout=120)
        assert worker.stop() == 0
    finally:
        worker.stop()
        broker.stop()
    log = worker.log_path.read_text()
    assert f"Kafka {bootstrap} unavailable" in log
    assert log.count("unavailable") <= 12  # backoff: a handful of lines, not one per 10 ms
    assert summary(dsn)["calls"] == 4
