"""OTel SDK -> real OpenTelemetry Collector (kafka exporter) -> Kafka -> worker -> ClickHouse."""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path

import pytest
from kafka import KafkaConsumer, TopicPartition
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

from llmpulse.stream_jobs.broker.otelcol_config import otlp_to_kafka
from tests.conftest import sql, topic_values
from tests.integration.conftest import running_worker
from tests.interop.conftest import (
    batch_codecs,
    collector,
    dead_letters,
    send_to_collector,
    stored,
)

pytestmark = pytest.mark.integration

CODECS = {"gzip": 1, "snappy": 2, "lz4": 3, "zstd": 4}
#: Encodings the kafka exporter writes that are not OTLP, and the dead-letter reasons
#: they may get (protobuf of another schema can fail to parse, or parse into fields
#: OTLP does not define).
WRONG_ENCODINGS = {
    "jaeger_proto": {"wrong_encoding", "malformed_protobuf"},
    "zipkin_proto": {"wrong_encoding", "malformed_protobuf"},
    "jaeger_json": {"wrong_encoding"},
    "zipkin_json": {"wrong_encoding"},  # a JSON array (it was read as protobuf)
}


def test_otlp_proto_stores_every_call_exactly_once(
    kafka: str, topic: str, tmp_path: Path, otelcol: Path
) -> None:
    """`encoding: otlp_proto`: every call one row, tokens exact, no dead letter."""
    dsn = f"chdb://{tmp_path / 'chdb'}"
    with running_worker(kafka, topic, tmp_path) as worker:
        with collector(otelcol, tmp_path, lambda p: otlp_to_kafka(kafka, topic, p)) as proc:
            sent = send_to_collector(proc, "svc-proto", traces=20, calls_per_trace=5)
            assert proc.stop() == 0, proc.tail()  # drains the batch processor and queue
        worker.wait_caught_up(timeout=120)
    got = stored(dsn, "svc-proto")
    assert got == {
        "rows": sent.calls,
        "spans": sent.calls,
        "input_tokens": sent.input_tokens,
        "output_tokens": sent.output_tokens,
    }
    assert dead_letters(dsn) == []


def test_every_producer_compression_lands(
    kafka: str, topic: str, tmp_path: Path, otelcol: Path, tmp_path_factory: pytest.TempPathFactory
) -> None:
    """`producer.compression` gzip, snappy, lz4, zstd: the batches on disk carry that
    codec, and the worker stores every call of each."""
    dsn = f"chdb://{tmp_path / 'chdb'}"
    sent = {}
    with running_worker(kafka, topic, tmp_path) as worker:
        for codec in CODECS:
            make = lambda p, c=codec: otlp_to_kafka(kafka, topic, p, compression=c)  # noqa: E731
            with collector(otelcol, tmp_path, make) as proc:
                before = batch_codecs(tmp_path_factory.getbasetemp(), topic)
                sent[codec] = send_to_collector(proc, f"svc-{codec}", traces=5, calls_per_trace=4)
                assert proc.stop() == 0, proc.tail()
            after = batch_codecs(tmp_path_factory.getbasetemp(), topic)
            written = [c for at, c in after.items() if at not in before]
            assert written and set(written) == {CODECS[codec]}, (codec, written)
        worker.wait_caught_up(timeout=120)
    for codec, s in sent.items():
        got = stored(dsn, f"svc-{codec}")
        assert (got["rows"], got["input_tokens"], got["output_tokens"]) == (
            s.calls,
            s.input_tokens,
            s.output_tokens,
        ), codec
    assert dead_letters(dsn) == []


def test_otlp_json_lands(kafka: str, topic: str, tmp_path: Path, otelcol: Path) -> None:
    """`encoding: otlp_json` (protobuf JSON of ExportTraceServiceRequest) is stored too."""
    dsn = f"chdb://{tmp_path / 'chdb'}"
    with running_worker(kafka, topic, tmp_path) as worker:
        make = lambda p: otlp_to_kafka(kafka, topic, p, encoding="otlp_json")  # noqa: E731
        with collector(otelcol, tmp_path, make) as proc:
            sent = send_to_collector(proc, "svc-json", traces=5, calls_per_trace=3)
            assert proc.stop() == 0, proc.tail()
        worker.wait_caught_up(timeout=120)
    assert topic_values(kafka, topic, idle_ms=2000)[0].startswith(b'{"resourceSpans"')
    got = stored(dsn, "svc-json")
    assert dead_letters(dsn) == []
    assert got == {
        "rows": sent.calls,
        "spans": sent.calls,
        "input_tokens": sent.input_tokens,
        "output_tokens": sent.output_tokens,
    }


def test_a_wrong_encoding_is_dead_lettered_whole(
    kafka: str, topic: str, tmp_path: Path, otelcol: Path
) -> None:
    """Jaeger and Zipkin encodings: no row; every message dead-lettered once at decode,
    with a reason that says so and a detail naming the exporter's `encoding` setting."""
    dsn = f"chdb://{tmp_path / 'chdb'}"
    written: dict[str, set[tuple[int, int]]] = {}
    with running_worker(kafka, topic, tmp_path) as worker:
        for encoding in WRONG_ENCODINGS:
            before = end_offsets(kafka, topic)
            make = lambda p, e=encoding: otlp_to_kafka(kafka, topic, p, encoding=e)  # noqa: E731
            with collector(otelcol, tmp_path, make) as proc:
                send_to_collector(proc, f"svc-{encoding}", traces=3, calls_per_trace=2)
                assert proc.stop() == 0, proc.tail()
            after = end_offsets(kafka, topic)
            written[encoding] = {(p, o) for p in after for o in range(before[p], after[p])}
            assert written[encoding], encoding
        worker.wait_caught_up(timeout=120)
    for encoding in WRONG_ENCODINGS:
        assert stored(dsn, f"svc-{encoding}")["rows"] == 0, encoding
    rows = sql(
        dsn,
        "SELECT source_partition AS p, source_offset AS o, reason, stage, "
        "detail FROM llmpulse.dead_letters FINAL",
    )
    letters = {(int(r["p"]), int(r["o"])): r for r in rows}
    assert len(letters) == len(rows) == sum(len(w) for w in written.values())
    for encoding, offsets in written.items():
        reasons = {letters[at]["reason"] for at in offsets}
        print(encoding, len(offsets), "messages:", reasons, letters[min(offsets)]["detail"][:90])
        allowed = WRONG_ENCODINGS[encoding]
        assert reasons <= allowed and {letters[at]["stage"] for at in offsets} == {"decode"}, (
            encoding,
            reasons,
        )
        assert all("encoding" in letters[at]["detail"] for at in offsets), encoding


def test_partition_traces_by_id_keeps_each_trace_on_one_partition(
    kafka: str, topic: str, tmp_path: Path, otelcol: Path
) -> None:
    """`partition_traces_by_id: true` on a 2-partition topic: one trace per message,
    keyed by its hex id, each trace on one partition; every call stored."""
    dsn = f"chdb://{tmp_path / 'chdb'}"
    with running_worker(kafka, topic, tmp_path) as worker:
        make = lambda p: otlp_to_kafka(kafka, topic, p, partition_traces_by_id=True)  # noqa: E731
        with collector(otelcol, tmp_path, make) as proc:
            sent = send_to_collector(proc, "svc-keyed", traces=16, calls_per_trace=3)
            assert proc.stop() == 0, proc.tail()
        worker.wait_caught_up(timeout=120)
    partitions: dict[str, set[int]] = defaultdict(set)
    consumer = KafkaConsumer(
        topic, bootstrap_servers=kafka, auto_offset_reset="earliest", consumer_timeout_ms=2000
    )
    try:
        for message in consumer:
            request = ExportTraceServiceRequest.FromString(message.value)
            ids = {
                s.trace_id.hex()
                for rs in request.resource_spans
                for ss in rs.scope_spans
                for s in ss.spans
            }
            assert len(ids) == 1 and message.key == next(iter(ids)).encode(), (ids, message.key)
            partitions[next(iter(ids))].add(message.partition)
    finally:
        consumer.close()
    assert set(partitions) == sent.trace_ids
    assert all(len(p) == 1 for p in partitions.values()), partitions
    assert {p for ps in partitions.values() for p in ps} == {0, 1}  # 16 traces use both
    got = stored(dsn, "svc-keyed")
    assert (got["rows"], got["input_tokens"]) == (sent.calls, sent.input_tokens)


def end_offsets(kafka: str, topic: str) -> dict[int, int]:
    """The end offset of each partition of ``topic``."""
    consumer = KafkaConsumer(bootstrap_servers=kafka)
    try:
        parts = [TopicPartition(topic, p) for p in sorted(consumer.partitions_for_topic(topic))]
        return {tp.partition: int(off) for tp, off in consumer.end_offsets(parts).items()}
    finally:
        consumer.close()
