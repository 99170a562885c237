"""Exporter → real Kafka → worker process → embedded ClickHouse: totals are exact."""

from __future__ import annotations

import json
import subprocess
import sys
from decimal import Decimal
from pathlib import Path

import pytest

from llmpulse.collectors import KafkaSpanExporter
from llmpulse.stream_jobs.demo.traffic import TrafficGenerator
from tests.conftest import sql, summary, topic_values
from tests.integration.conftest import running_worker

pytestmark = pytest.mark.integration


def test_stored_calls_tokens_and_cost_equal_what_was_emitted(
    kafka: str, topic: str, tmp_path: Path
) -> None:
    """Realistic traffic (3 conventions, cache/reasoning tokens, retries) lands exactly."""
    exporter = KafkaSpanExporter(kafka, topic=topic)
    with running_worker(kafka, topic, tmp_path) as worker:
        assert worker.proc is not None  # re-executed itself once, same PID, allocator tuned
        environ = Path(f"/proc/{worker.proc.pid}/environ").read_bytes().split(b"\0")
        assert b"MALLOC_MMAP_THRESHOLD_=67108864" in environ
        assert b"MALLOC_ARENA_MAX=1" in environ
        emitted = TrafficGenerator(exporter, seed=11).run(1500)
        exporter.shutdown()
        assert exporter.stats.spans_dropped == 0
        worker.wait_caught_up(timeout=120)
    got = summary(f"chdb://{tmp_path / 'chdb'}")
    assert got["calls"] == emitted.calls
    for key in (
        "input_tokens",
        "output_tokens",
        "cache_read_tokens",
        "cache_creation_tokens",
        "reasoning_tokens",
        "errors",
        "retries",
        "unpriced",
        "transactions",
    ):
        assert got[key] == getattr(emitted, key), key
    assert Decimal(got["cost_usd"]) == Decimal(emitted.cost_pico) / 10**12
    assert got["non_llm_spans"] == emitted.non_llm_spans
    # A framework's span around some calls: stored, linked, not counted; tool spans kept.
    assert got["linked_spans"] == emitted.stacked_spans > 0
    assert got["agent_spans"] == emitted.tool_spans > 0
    assert sum(r["count"] for r in got["rejects"]) == emitted.bad_spans
    by_model = {m["model"]: m["calls"] for m in got["by_model"]}
    assert sum(by_model.values()) == emitted.calls
    conventions = sql(
        f"chdb://{tmp_path / 'chdb'}",
        "SELECT DISTINCT convention FROM llmpulse.llm_calls ORDER BY convention",
    )
    audit = sql(
        f"chdb://{tmp_path / 'chdb'}",
        "SELECT version, sha256, models FROM llmpulse.price_catalogues FINAL",
    )
    assert len(audit) == 1 and audit[0]["models"] >= 10 and len(audit[0]["sha256"]) == 64
    versions = sql(
        f"chdb://{tmp_path / 'chdb'}",
        "SELECT DISTINCT splitByChar('/', price_version)[1] AS v "
        "FROM llmpulse.llm_calls WHERE price_status = 'ok'",
    )
    assert [v["v"] for v in versions] == [audit[0]["version"]]  # every cost names its catalogue
    assert [r["convention"] for r in conventions] == [
        "gen_ai",
        "gen_ai_deprecated",
        "openinference",
    ]


def test_analytics_tables_agree_with_the_emitted_traffic(
    kafka: str, topic: str, tmp_path: Path
) -> None:
    """Rollups, transaction costs and drift are filled from exported spans, exactly."""
    exporter = KafkaSpanExporter(kafka, topic=topic)
    with running_worker(kafka, topic, tmp_path) as worker:
        emitted = TrafficGenerator(exporter, seed=2).run(5000)
        exporter.shutdown()
        worker.wait_caught_up(timeout=120)
    dsn = f"chdb://{tmp_path / 'chdb'}"
    cost = sql(
        dsn, "SELECT sum(calls) n, sum(cost_usd) c, sum(retries) r FROM llmpulse.cost_1m FINAL"
    )[0]
    assert (cost["n"], cost["r"]) == (emitted.calls, emitted.retries)
    assert Decimal(cost["c"]) == Decimal(emitted.cost_pico) / 10**12
    tx = sql(
        dsn, "SELECT count() n, sum(calls) c, sum(cost_usd) s FROM llmpulse.transaction_costs FINAL"
    )[0]
    assert (tx["n"], tx["c"]) == (emitted.transactions, emitted.calls)
    assert Decimal(tx["s"]) == Decimal(emitted.cost_pico) / 10**12
    lat = sql(dsn, "SELECT sum(calls) n FROM llmpulse.latency_1m FINAL")[0]
    assert lat["n"] == emitted.calls
    drift = sql(
        dsn, "SELECT service_name, model, metric FROM llmpulse.drift_events FINAL ORDER BY metric"
    )
    # The generator injects two incidents in support-bot half way through the hour.
    expected = {
        ("support-bot", "claude-sonnet-4", "response_model"),
        ("support-bot", "gpt-4o-mini", "latency_p50_ms"),
    }
    assert {(d["service_name"], d["model"], d["metric"]) for d in drift} == expected
    published = [json.loads(v) for v in topic_values(kafka, f"{topic}.drift")]
    assert {(e["service_name"], e["model"], e["metric"]) for e in published} == expected
    assert all(e["detail"] and e["kind"] for e in published)
    # Every dashboard panel's SQL, macros expanded, returns its columns, non-empty.
    check = subprocess.run(
        [sys.executable, "-m", "llmpulse.stream_jobs.cli", "grafana", "check", "--dsn", dsn],
        capture_output=True,
        text=True,
        check=False,
    )
    panels = json.loads(check.stdout)
    assert check.returncode == 0, check.stderr
    assert len(panels) >= 25 and all(p["ok"] and p["rows"] > 0 for p in panels)
