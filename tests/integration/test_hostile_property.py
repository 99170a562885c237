"""Generated values at and beyond every column type's limits, through the real broker,
worker and engine: every span reaches a counted outcome and every table agrees."""

from __future__ import annotations

import time
import uuid
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from kafka import KafkaProducer

from tests import otlp
from tests.conftest import sql
from tests.integration.conftest import running_worker

pytestmark = pytest.mark.integration

LIMITS = [0, 1, -1, 2**15, 2**16 - 1, 2**16, 2**31 - 1, 2**31, 2**32, 2**63 - 1, -(2**63)]
INTS = st.sampled_from(LIMITS) | st.integers(-(2**63), 2**63 - 1)
FLOATS = st.floats(allow_nan=True, allow_infinity=True) | st.sampled_from([1e308, -0.0, 5e-324])
TEXT = st.text(st.characters(blacklist_categories=("Cs",)), max_size=300)
VALUES = INTS | FLOATS | TEXT | st.booleans()
KEYS = st.sampled_from(
    [
        "gen_ai.usage.input_tokens",
        "gen_ai.usage.output_tokens",
        "gen_ai.usage.cache_read.input_tokens",
        "gen_ai.usage.reasoning.output_tokens",
        "llmpulse.retry.attempt",
        "llmpulse.time_to_first_token_ms",
        "gen_ai.response.time_to_first_chunk",
        "gen_ai.request.model",
        "gen_ai.response.model",
        "llmpulse.team",
        "llmpulse.risk_tier",
        "gen_ai.provider.name",
        "error.type",
    ]
)
NOW = time.time_ns()


@st.composite
def spans(draw: st.DrawFn) -> Any:
    attrs = otlp.gen_ai(inp=draw(st.integers(0, 5000)), out=draw(st.integers(0, 500)))
    attrs.update(draw(st.dictionaries(KEYS, VALUES, max_size=4)))
    if draw(st.booleans()):
        attrs = {"http.request.method": "GET"}  # a non-LLM span
    start = NOW - draw(st.sampled_from([60, 3600, 86_400 * 399, 86_400 * 401, -7200])) * 10**9
    duration = draw(st.sampled_from([0.0, 1.0, 500.0, 86_400_000.0, 86_400_001.0, 1.6e13]))
    return otlp.span(attrs, start_ns=start, duration_ms=duration, error=draw(st.booleans()))


MESSAGES = st.lists(st.lists(spans(), min_size=1, max_size=12), min_size=15, max_size=30)


@settings(
    max_examples=2,
    deadline=None,
    phases=(Phase.explicit, Phase.reuse, Phase.generate),  # shrinking a worker run: hours
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(batches=MESSAGES, garbage=st.lists(st.binary(max_size=200), max_size=3))
def test_every_span_is_accounted_for_and_every_table_agrees(
    kafka: str, tmp_path: Path, batches: list[list[Any]], garbage: list[bytes]
) -> None:
    """calls + dead-lettered + non-LLM = spans, per message; rollups = llm_calls."""
    topic, folder = f"prop_{uuid.uuid4().hex[:8]}", tmp_path / uuid.uuid4().hex[:8]
    payloads = [otlp.request(b) for b in batches] + garbage
    producer = KafkaProducer(bootstrap_servers=kafka)
    with running_worker(kafka, topic, folder) as worker:
        for p in payloads:
            producer.send(topic, p, partition=0)
        producer.flush()
        worker.wait_caught_up(timeout=180)  # no stall: every offset committed
    producer.close()
    dsn = f"chdb://{folder / 'chdb'}"
    per_message = sql(
        dsn,
        """
        SELECT b.source_offset AS o, b.spans AS spans, b.non_llm_spans AS non_llm,
               b.rejected AS rejected, ifNull(c.n, 0) AS calls, ifNull(d.n, 0) AS dead
        FROM llmpulse.ingest_batches AS b FINAL
        LEFT JOIN (SELECT source_offset, count() AS n FROM llmpulse.llm_calls FINAL
                   GROUP BY source_offset) AS c ON c.source_offset = b.source_offset
        LEFT JOIN (SELECT source_offset, sum(span_count) AS n FROM llmpulse.dead_letters FINAL
                   GROUP BY source_offset) AS d ON d.source_offset = b.source_offset
        ORDER BY o""",
    )
    assert len(per_message) == len(payloads)
    for row in per_message:
        assert int(row["dead"]) == int(row["rejected"]), row
        if int(row["spans"]):  # message-level rejects count one message, no span
            assert int(row["calls"]) + int(row["rejected"]) + int(row["non_llm"]) == int(
                row["spans"]
            ), row
    totals = sql(
        dsn,
        """
        SELECT (SELECT count() FROM llmpulse.llm_calls FINAL) AS calls,
               (SELECT sum(cost_usd) FROM llmpulse.llm_calls FINAL) AS cost,
               (SELECT sum(calls) FROM llmpulse.cost_1m FINAL) AS cost_1m_calls,
               (SELECT sum(cost_usd) FROM llmpulse.cost_1m FINAL) AS cost_1m_cost,
               (SELECT sum(calls) FROM llmpulse.latency_1m FINAL) AS latency_calls,
               (SELECT sum(calls) FROM llmpulse.transaction_costs FINAL) AS tx_calls,
               (SELECT sum(cost_usd) FROM llmpulse.transaction_costs FINAL) AS tx_cost""",
    )[0]
    calls = int(totals["calls"])
    assert int(totals["cost_1m_calls"]) == calls == int(totals["latency_calls"])
    assert int(totals["tx_calls"]) == calls
    assert totals["cost"] == totals["cost_1m_cost"] == totals["tx_cost"]
