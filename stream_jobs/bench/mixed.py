"""A stream with a large share of malformed records, on the real broker.

Garbage messages (never valid OTLP), good messages of three LLM spans, and good
messages carrying one extra bad span; afterwards every good span must be stored
and every bad record be in the dead-letter topic and table, with its reason.
"""

from __future__ import annotations

import json
import os
import random
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from kafka import KafkaConsumer, KafkaProducer
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue

from llmpulse.stream_jobs.analytics.links import COUNTED
from llmpulse.stream_jobs.broker.local import broker_unless
from llmpulse.stream_jobs.settings import WorkerSettings
from llmpulse.stream_jobs.worker import ensure_topics
from llmpulse.stream_jobs.worker_process import WorkerProcess, sql_in_child

__all__ = ["MixedResult", "mixed_stream"]


@dataclass
class MixedResult:
    messages: int
    good_spans: int
    garbage_messages: int
    bad_spans: int
    stored_calls: int
    rejects: dict[str, int]
    dead_letter_topic: int
    worker_exit: int | None

    @property
    def ok(self) -> bool:
        return (
            self.stored_calls == self.good_spans
            and self.rejects
            == {"malformed_protobuf": self.garbage_messages, "negative_tokens": self.bad_spans}
            and self.dead_letter_topic == self.garbage_messages + self.bad_spans
            and self.worker_exit == 0
        )


def _request(rng: random.Random, bad: bool) -> bytes:
    req = ExportTraceServiceRequest()
    rs = req.resource_spans.add()
    rs.resource.attributes.append(
        KeyValue(key="service.name", value=AnyValue(string_value="mixed"))
    )
    ss = rs.scope_spans.add()
    now = time.time_ns() - rng.randrange(3600 * 10**9)
    for i in range(4 if bad else 3):
        s = ss.spans.add(
            trace_id=os.urandom(16),
            span_id=os.urandom(8),
            name="chat",
            start_time_unix_nano=now,
            end_time_unix_nano=now + 10**8,
        )
        tokens = -1 if bad and i == 3 else rng.randrange(1, 999)
        s.attributes.extend(
            [
                KeyValue(key="gen_ai.request.model", value=AnyValue(string_value="gpt-4o-mini")),
                KeyValue(key="gen_ai.usage.input_tokens", value=AnyValue(int_value=tokens)),
            ]
        )
    return req.SerializeToString()


def mixed_stream(
    messages: int = 100_000,
    bad_share: float = 0.4,
    kafka: str | None = None,
    folder: Path | None = None,
    seed: int = 4,
) -> MixedResult:
    """Produce the stream, run a worker over it, and count what landed where."""
    rng = random.Random(seed)
    with tempfile.TemporaryDirectory(prefix="llmpulse-mixed-") as tmp:
        base = folder or Path(tmp)
        kafka, broker = broker_unless(kafka, base / "kafka")
        try:
            topic = f"mixed_{rng.getrandbits(32):x}"
            ensure_topics(
                WorkerSettings(kafka_bootstrap=kafka, topic=topic, dead_letter_topic=f"{topic}.dlq")
            )
            producer = KafkaProducer(bootstrap_servers=kafka, linger_ms=5)
            good = garbage = bad = 0
            for _ in range(messages):
                r = rng.random()
                if r < bad_share:  # field 1 with wire type 7 (does not exist), then noise
                    producer.send(topic, b"\x0f" + os.urandom(rng.randrange(1, 300)))
                    garbage += 1
                else:
                    with_bad = r < bad_share + (1 - bad_share) / 4
                    producer.send(topic, _request(rng, with_bad))
                    good += 3
                    bad += with_bad
            producer.flush()
            producer.close()
            dsn = f"chdb://{base / 'chdb'}"
            worker = WorkerProcess(
                kafka, dsn, base / "worker", topic=topic, group_id="mixed"
            ).start()
            worker.wait_caught_up(timeout=3600)
            code = worker.stop()
            consumer = KafkaConsumer(
                f"{topic}.dlq",
                bootstrap_servers=kafka,
                auto_offset_reset="earliest",
                consumer_timeout_ms=10_000,
            )
            dlq = sum(1 for m in consumer if json.loads(m.value)["reason"])
            consumer.close()
        finally:
            if broker is not None:
                broker.stop()
        calls = sql_in_child(
            dsn, f"SELECT count() n FROM llmpulse.llm_calls FINAL WHERE {COUNTED}"
        )[0]["n"]
        rejects = {
            r["reason"]: r["n"]
            for r in sql_in_child(
                dsn,
                "SELECT reason, sum(span_count) n FROM llmpulse.dead_letters FINAL GROUP BY reason",
            )
        }
        return MixedResult(messages, good, garbage, bad, calls, rejects, dlq, code)
