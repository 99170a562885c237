"""`llmpulse bench`'s end-to-end and freshness runs, small, on the real broker."""

from __future__ import annotations

from pathlib import Path

import pytest

from llmpulse.stream_jobs.bench.e2e import end_to_end, freshness
from llmpulse.stream_jobs.bench.payloads import messages

pytestmark = pytest.mark.integration


def test_end_to_end_run_stores_and_rolls_up_every_span(kafka: str, tmp_path: Path) -> None:
    """Every span is stored once and rolled up; analytics catch-up is timed after commit."""
    spans = 3_000
    payloads = list(messages(spans, series=60, per_message=512, rate=60_000.0, window_s=1.0))
    e = end_to_end(kafka, tmp_path, payloads, spans, runs=1)
    assert e["stored_calls"] == e["rolled_up_calls"] == spans
    assert e["series"] == 60
    assert 0 < e["worker_cpu_s"] <= e["with_analytics_cpu_s"]
    assert e["wall_s"] < e["with_analytics_wall_s"]
    assert e["spans_per_s_per_worker"] == pytest.approx(spans / e["wall_s"])
    split = e["with_analytics_cpu_split_s"]
    assert split["worker"] > 0 and split["engine"] > 0 and split["merges"] >= 0
    # Roles split the process's CPU (threads that ended early count in the total only).
    assert sum(split.values()) <= e["with_analytics_cpu_s"] + 0.05
    without = e["with_analytics_spans_per_s_per_core_without_merges"]
    assert without >= e["with_analytics_spans_per_s_per_busy_core"]


def test_freshness_run_measures_every_row_it_sent(kafka: str, tmp_path: Path) -> None:
    """A short paced run: all rows stored, lag percentiles ordered and below a minute."""
    f = freshness(kafka, tmp_path, rate=2_560.0, seconds=2.0)
    assert f["rows"] == 20 * 256
    assert 0 <= f["freshness_p50_ms"] <= f["freshness_p99_ms"] < 60_000
    assert 0 < f["busy_cores"] <= 2.5  # this machine has two cores (+ tick rounding)
    assert f["spans_per_s_per_busy_core"] == pytest.approx(f["rows"] / f["worker_cpu_s"])


def test_exporter_run_times_the_exporters_part_inside_each_span(kafka: str) -> None:
    """Three setups in interleaved turns: every span timed, the exporter's part (its
    processors) a fraction of the whole span, and every span of the llmpulse turns on
    the topic (warm-up included), none dropped."""
    from kafka import KafkaConsumer

    from llmpulse.stream_jobs.bench.exporter import exporter_overhead
    from llmpulse.stream_jobs.decode import decode_request

    r = exporter_overhead(kafka, rate=500.0, seconds=0.8, rounds=2)
    for name in ("sdk_only", "llmpulse_kafka", "otlp_http_stock"):
        f = r[name]
        assert f["spans"] == 2 * 200  # two turns of 0.4 s at 500 spans/s
        assert 0 < f["exporter_part_p50_us"] < f["app_thread_p50_us"]
        assert f["exporter_part_p99_us"] >= f["exporter_part_p50_us"]
        assert 0 <= f["export_threads_cpu_pct"] < 100
    assert r["llmpulse_kafka"]["dropped"] == 0
    consumer = KafkaConsumer(
        "bench_exporter",
        bootstrap_servers=kafka,
        auto_offset_reset="earliest",
        consumer_timeout_ms=3000,
    )
    spans = 0
    for record in consumer:
        request = decode_request(record.value)
        spans += sum(len(ss.spans) for rs in request.resource_spans for ss in rs.scope_spans)
    consumer.close()
    assert spans == 2 * (200 + 200)  # each turn: 200 warm-up spans, then 200 timed
