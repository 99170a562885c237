"""End to end through a real worker process: rate, CPU, memory, freshness."""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any

from kafka import KafkaProducer
from llmpulse.stream_jobs.bench.payloads import messages
from llmpulse.stream_jobs.settings import WorkerSettings
from llmpulse.stream_jobs.worker import ensure_topics
from llmpulse.stream_jobs.worker_process import WorkerProcess, sql_in_child

__all__ = ["end_to_end", "freshness"]

_CLK = os.sysconf("SC_CLK_TCK")


def _cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / _CLK


def _peak_rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def _produce(bootstrap: str, topic: str, payloads: list[bytes]) -> None:
    producer = KafkaProducer(
        bootstrap_servers=bootstrap, linger_ms=5, acks=1, max_request_size=16 * 1024 * 1024
    )
    for p in payloads:
        producer.send(topic, p)
    producer.flush()
    producer.close()


def end_to_end(bootstrap: str, folder: Path, payloads: list[bytes], spans: int) -> dict[str, Any]:
    """Pre-fill a topic, then time one worker from start to every offset committed."""
    topic = f"bench_{int(time.time())}"
    ensure_topics(
        WorkerSettings(kafka_bootstrap=bootstrap, topic=topic, dead_letter_topic=f"{topic}.dlq")
    )
    _produce(bootstrap, topic, payloads)
    dsn = f"chdb://{folder / 'chdb'}"
    worker = WorkerProcess(bootstrap, dsn, folder / "worker", topic=topic, group_id="bench")
    worker.start()
    assert worker.proc is not None
    pid = worker.proc.pid
    cpu0, t0 = _cpu_seconds(pid), time.monotonic()
    worker.wait_caught_up(timeout=1800)
    wall, cpu = time.monotonic() - t0, _cpu_seconds(pid) - cpu0
    rss = _peak_rss_mb(pid)
    worker.stop()
    stored = sql_in_child(
        dsn,
        "SELECT count() AS n, uniqExact(service_name, request_model) AS series "
        "FROM llmpulse.llm_calls FINAL",
    )[0]
    return {
        "spans": spans,
        "messages": len(payloads),
        "stored_calls": stored["n"],
        "series": stored["series"],
        "wall_s": wall,
        "worker_cpu_s": cpu,
        "spans_per_s_per_worker": spans / wall,
        "spans_per_s_per_busy_core": spans / cpu if cpu else float("nan"),
        "worker_peak_rss_mb": rss,
        "topic": topic,
        "dsn": dsn,
    }


def freshness(bootstrap: str, folder: Path, rate: float, seconds: float = 15.0) -> dict[str, Any]:
    """Span end -> row stored (ingested_at), p50/p99, producing at ``rate`` spans/s."""
    topic = f"fresh_{int(time.time())}"
    ensure_topics(
        WorkerSettings(kafka_bootstrap=bootstrap, topic=topic, dead_letter_topic=f"{topic}.dlq")
    )
    dsn = f"chdb://{folder / 'fresh'}"
    worker = WorkerProcess(
        bootstrap,
        dsn,
        folder / "fresh-worker",
        topic=topic,
        group_id="fresh",
        extra_env={"LLMPULSE_BATCH_MAX_SECONDS": "0.2"},
    )
    worker.start()
    producer = KafkaProducer(bootstrap_servers=bootstrap, linger_ms=0, acks=1)
    per_message = 256
    interval = per_message / rate
    t_end = time.monotonic() + seconds
    sent = 0
    next_at = time.monotonic()
    while time.monotonic() < t_end:
        payload = next(
            messages(
                per_message,
                series=200,
                per_message=per_message,
                seed=sent,
                window_s=0.001,
                end_ns=time.time_ns(),
            )
        )
        producer.send(topic, payload)
        sent += per_message
        next_at += interval
        time.sleep(max(0.0, next_at - time.monotonic()))
    producer.flush()
    producer.close()
    worker.wait_caught_up(timeout=300)
    worker.stop()
    row = sql_in_child(
        dsn,
        "SELECT quantile(0.5)(lag) AS p50, quantile(0.99)(lag) AS p99, "
        "count() AS n FROM (SELECT dateDiff('millisecond', end_time, ingested_at) "
        "AS lag FROM llmpulse.llm_calls FINAL)",
    )[0]
    return {
        "target_rate_spans_per_s": rate,
        "achieved_rate_spans_per_s": sent / seconds,
        "rows": row["n"],
        "freshness_p50_ms": row["p50"],
        "freshness_p99_ms": row["p99"],
    }
