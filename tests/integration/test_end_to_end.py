"""Exporter → real Kafka → worker process → embedded ClickHouse: totals are exact."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import pytest
from llmpulse.collectors import KafkaSpanExporter
from llmpulse.stream_jobs.demo.traffic import TrafficGenerator

from tests.conftest import sql, summary
from tests.integration.conftest import running_worker

pytestmark = pytest.mark.integration


def test_stored_calls_tokens_and_cost_equal_what_was_emitted(
    kafka: str, topic: str, tmp_path: Path
) -> None:
    """Realistic traffic (3 conventions, cache/reasoning tokens, retries) lands exactly."""
    exporter = KafkaSpanExporter(kafka, topic=topic)
    with running_worker(kafka, topic, tmp_path) as worker:
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
    assert sum(r["count"] for r in got["rejects"]) == emitted.bad_spans
    by_model = {m["model"]: m["calls"] for m in got["by_model"]}
    assert sum(by_model.values()) == emitted.calls
    conventions = sql(
        f"chdb://{tmp_path / 'chdb'}",
        "SELECT DISTINCT convention FROM llmpulse.llm_calls ORDER BY convention",
    )
    assert [r["convention"] for r in conventions] == [
        "gen_ai",
        "gen_ai_deprecated",
        "openinference",
    ]
