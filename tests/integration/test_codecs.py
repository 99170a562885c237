"""Every Kafka compression codec on the real broker; a batch bomb costs its batch only."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest
from aiokafka import AIOKafkaProducer

from tests import otlp
from tests.conftest import sql, topic_values
from tests.integration.conftest import running_worker

pytestmark = pytest.mark.integration


async def produce(kafka: str, topic: str, codec: str, batches: list[list[bytes]]) -> None:
    """Each inner list is sent and flushed as one compressed record batch."""
    producer = AIOKafkaProducer(
        bootstrap_servers=kafka,
        compression_type=codec,
        max_request_size=256 * 1024 * 1024,
        max_batch_size=256 * 1024 * 1024,
        linger_ms=50,
    )
    await producer.start()
    try:
        for values in batches:
            futures = [await producer.send(topic, v, partition=0) for v in values]
            await producer.flush()
            await asyncio.gather(*futures)
    finally:
        await producer.stop()


def test_every_codec_lands_and_a_decompression_bomb_is_dead_lettered_unread(
    kafka: str, topic: str, tmp_path: Path
) -> None:
    """The Collector's `producer.compression: lz4|snappy|zstd` crashed the worker at
    every start; a 160 MB batch of zeros (gzip: 160 kB) was inflated whole."""
    codecs = ["gzip", "snappy", "lz4", "zstd"]
    sent = 0
    with running_worker(kafka, topic, tmp_path) as worker:
        assert worker.proc is not None
        for n, codec in enumerate(codecs):
            values = [
                otlp.request([otlp.span(otlp.gen_ai(inp=100 + n, out=10)) for _ in range(5)])
                for _ in range(4)
            ]
            asyncio.run(produce(kafka, topic, codec, [values]))
            sent += 20
        bomb = [b"\0" * (160 * 1024 * 1024)]
        after = [otlp.request([otlp.span(otlp.gen_ai(inp=7, out=7))])]
        asyncio.run(produce(kafka, topic, "gzip", [bomb, after]))
        worker.wait_caught_up(timeout=180)
        status = Path(f"/proc/{worker.proc.pid}/status").read_text()
        peak_kb = int(next(x for x in status.splitlines() if x.startswith("VmHWM")).split()[1])
    dsn = f"chdb://{tmp_path / 'chdb'}"
    calls = sql(dsn, "SELECT count() n, sum(input_tokens) i FROM llmpulse.llm_calls FINAL")[0]
    assert calls["n"] == sent + 1
    assert int(calls["i"]) == sum((100 + n) * 20 for n in range(4)) + 7
    dead = sql(dsn, "SELECT reason, stage, detail FROM llmpulse.dead_letters FINAL")
    assert [(d["reason"], d["stage"]) for d in dead] == [("unreadable_batch", "fetch")]
    assert "inflates past 67108864 bytes" in dead[0]["detail"]
    dlq = [json.loads(v) for v in topic_values(kafka, f"{topic}.dlq")]
    assert [d["reason"] for d in dlq] == ["unreadable_batch"]
    # Never inflated whole: the worker stays far below the bomb's 160 MB (+ its 64 MiB cap).
    assert peak_kb < 900 * 1024, f"peak resident {peak_kb} kB"
