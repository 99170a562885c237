"""Bad input on the real broker: each case has its outcome; good records all land."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from kafka import KafkaProducer

from tests import otlp
from tests.conftest import sql, topic_values
from tests.integration.conftest import running_worker

pytestmark = pytest.mark.integration


def test_rejects_go_to_dead_letter_topic_and_table_good_records_stay(
    kafka: str, topic: str, tmp_path: Path
) -> None:
    """Malformed, non-LLM, missing model, bad counts, huge attrs, duplicates, each as defined."""
    good = [otlp.span(otlp.gen_ai(inp=1000 + i, out=10)) for i in range(20)]
    dup_tid, dup_sid = os.urandom(16), os.urandom(8)
    dup = otlp.span(otlp.gen_ai(inp=7, out=7), trace_id=dup_tid, span_id=dup_sid)
    dup_again = otlp.span(otlp.gen_ai(inp=7, out=7), trace_id=dup_tid, span_id=dup_sid)
    messages = [
        b"\x00\x01garbage that is not protobuf\xff\xff\xff",
        otlp.request([good[0], otlp.span({"http.request.method": "GET"}), good[1]]),
        otlp.request([otlp.span({"gen_ai.operation.name": "chat"}), good[2]]),  # no model
        otlp.request([otlp.span(otlp.gen_ai(inp=-3)), good[3]]),
        otlp.request([otlp.span(otlp.gen_ai(out=10**9)), good[4]]),
        otlp.request([otlp.span(otlp.gen_ai("m" * 10_000)), good[5]]),
        otlp.request([otlp.span(otlp.gen_ai(**{"gen_ai.usage.input_tokens": "many"}))]),
        otlp.request([dup, dup_again, *good[6:12]]),  # duplicate inside one message
        otlp.request([dup, *good[12:20]]),  # the same span again in another message
        otlp.request([otlp.span(otlp.gen_ai(**{"junk": "x" * 9_000_000}))]),  # > 8 MiB
    ]
    producer = KafkaProducer(bootstrap_servers=kafka, max_request_size=16 * 1024 * 1024)
    with running_worker(kafka, topic, tmp_path) as worker:
        for m in messages:
            producer.send(topic, m, partition=0)
        producer.flush()
        worker.wait_caught_up(timeout=120)
    producer.close()

    dsn = f"chdb://{tmp_path / 'chdb'}"
    calls = sql(dsn, "SELECT count() n, sum(input_tokens) i FROM llmpulse.llm_calls FINAL")[0]
    assert calls["n"] == 21  # 20 good + one copy of the duplicated span
    assert int(calls["i"]) == sum(1000 + i for i in range(20)) + 7
    expected = {
        "malformed_protobuf": 1,
        "missing_model": 1,
        "negative_tokens": 1,
        "absurd_tokens": 1,
        "oversized_attribute": 1,
        "wrong_type": 1,
        "duplicate_span": 1,
        "oversized_message": 1,
    }
    rows = sql(dsn, "SELECT reason, count() n FROM llmpulse.dead_letters FINAL GROUP BY reason")
    assert {r["reason"]: r["n"] for r in rows} == expected
    batches = sql(dsn, "SELECT sum(non_llm_spans) s, count() n FROM llmpulse.ingest_batches FINAL")
    assert (int(batches[0]["s"]), batches[0]["n"]) == (1, len(messages))

    dlq = [json.loads(v) for v in topic_values(kafka, f"{topic}.dlq")]
    assert sorted(d["reason"] for d in dlq) == sorted(expected)
    assert all(d["detail"] and d["source_topic"] == topic for d in dlq)
