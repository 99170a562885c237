"""Crash and replay: a SIGKILLed worker and a full re-read neither lose nor double count."""

from __future__ import annotations

import signal
import time
from decimal import Decimal
from pathlib import Path

import pytest

from llmpulse.collectors import KafkaSpanExporter
from llmpulse.stream_jobs.demo.traffic import TrafficGenerator
from llmpulse.stream_jobs.lag import LagProbe
from llmpulse.stream_jobs.settings import WorkerSettings
from llmpulse.stream_jobs.worker import ensure_topics
from llmpulse.stream_jobs.worker_process import WorkerProcess
from tests.conftest import summary
from tests.integration.conftest import FAST_FAILOVER, running_worker

pytestmark = pytest.mark.integration


def test_sigkill_then_restart_then_full_replay_keeps_totals_exact(
    kafka: str, topic: str, tmp_path: Path
) -> None:
    """Kill -9 mid-stream, restart, then re-read everything with a new group: same totals."""
    ensure_topics(
        WorkerSettings(kafka_bootstrap=kafka, topic=topic, dead_letter_topic=f"{topic}.dlq")
    )
    exporter = KafkaSpanExporter(kafka, topic=topic)
    emitted = TrafficGenerator(exporter, seed=5).run(4000)
    exporter.shutdown()
    assert exporter.stats.spans_dropped == 0
    dsn = f"chdb://{tmp_path / 'chdb'}"

    with running_worker(kafka, topic, tmp_path) as first:
        probe = LagProbe(kafka, "llmpulse-test", topic)
        deadline = time.monotonic() + 60
        while probe.progress()[0] == 0 and time.monotonic() < deadline:
            time.sleep(0.05)
        probe.close()
        first.stop(signal.SIGKILL)  # no clean shutdown: buffered batch is lost in flight
        first.proc = None  # the context manager must not expect exit code 0 now
        second = WorkerProcess(
            kafka,
            dsn,
            tmp_path / "worker2",
            topic=topic,
            group_id="llmpulse-test",
            extra_env=FAST_FAILOVER,
        ).start()
        second.wait_caught_up(timeout=120)
        assert second.stop() == 0
    after_crash = summary(dsn)

    with running_worker(kafka, topic, tmp_path, group="llmpulse-replay") as replay:
        replay.wait_caught_up(timeout=120)
    after_replay = summary(dsn)

    for got in (after_crash, after_replay):
        assert got["calls"] == emitted.calls
        assert got["input_tokens"] == emitted.input_tokens
        assert got["output_tokens"] == emitted.output_tokens
        assert Decimal(got["cost_usd"]) == Decimal(emitted.cost_pico) / 10**12
        assert sum(r["count"] for r in got["rejects"]) == emitted.bad_spans
