"""End to end through real worker processes: rate, CPU, memory, freshness."""

from __future__ import annotations

import os
import signal
import statistics
import time
from pathlib import Path
from typing import Any

from kafka import KafkaProducer

from llmpulse.stream_jobs.analytics.links import COUNTED
from llmpulse.stream_jobs.bench.payloads import messages
from llmpulse.stream_jobs.settings import WorkerSettings
from llmpulse.stream_jobs.worker import ensure_topics
from llmpulse.stream_jobs.worker_process import WorkerProcess, sql_in_child

__all__ = ["end_to_end", "freshness", "stat_cpu_seconds"]

_CLK = os.sysconf("SC_CLK_TCK")


def stat_cpu_seconds(stat: Path | str) -> float:
    """User + system CPU seconds from a /proc ``stat`` file (a process's or a thread's)."""
    fields = Path(stat).read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / _CLK


def _cpu_seconds(pid: int) -> float:
    return stat_cpu_seconds(f"/proc/{pid}/stat")


def _thread_cpu(pid: int) -> dict[str, float]:
    """CPU seconds of the process's threads by role: ``worker`` (Python threads: Kafka
    fetch, the compiled path, Faust), ``engine`` (the embedded ClickHouse engine's
    query threads: inserts, analytics) and ``merges`` (its background merges)."""
    tasks = Path(f"/proc/{pid}/task")
    main = (tasks / str(pid) / "comm").read_text().strip()
    out = {"worker": 0.0, "engine": 0.0, "merges": 0.0}
    for task in tasks.iterdir():
        try:
            comm = (task / "comm").read_text().strip()
            cpu = stat_cpu_seconds(task / "stat")
        except OSError:  # the thread ended meanwhile
            continue
        role = "worker" if comm == main else "merges" if comm.startswith("MergeMutat") else "engine"
        out[role] += cpu
    return out


def _minus(a: dict[str, float], b: dict[str, float]) -> dict[str, float]:
    return {k: a[k] - b.get(k, 0.0) for k in a}


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


def _stop_and_measure(worker: WorkerProcess, pid: int) -> tuple[float, dict[str, float]]:
    """SIGTERM (the worker brings analytics up to date, then exits); its CPU at exit,
    in total and by thread role (as last seen: threads vanish with the process)."""
    assert worker.proc is not None
    worker.proc.send_signal(signal.SIGTERM)
    cpu, split = _cpu_seconds(pid), _thread_cpu(pid)
    while worker.proc.poll() is None:
        try:
            cpu = _cpu_seconds(pid)
            # Counters only grow: a thread that already ended must not lower its role.
            split = {k: max(v, split[k]) for k, v in _thread_cpu(pid).items()}
        except (OSError, IndexError):
            break
        time.sleep(0.01)
    return cpu, split


def end_to_end(
    bootstrap: str, folder: Path, payloads: list[bytes], spans: int, runs: int = 3
) -> dict[str, Any]:
    """Pre-fill a topic, then time ``runs`` workers on it, one after the other, each
    from start to every offset committed, and on to the stop that leaves rollups,
    transactions and drift up to date; figures are the median run's (and each run's)."""
    topic = f"bench_{time.time_ns()}"
    ensure_topics(
        WorkerSettings(kafka_bootstrap=bootstrap, topic=topic, dead_letter_topic=f"{topic}.dlq")
    )
    _produce(bootstrap, topic, payloads)
    results = [_one_run(bootstrap, folder, topic, f"{topic}-{i}", spans) for i in range(runs)]
    out: dict[str, Any] = {"spans": spans, "messages": len(payloads), "topic": topic}
    # CPU splits are the median run's own (medians taken role by role would not add up).
    key_rate = "with_analytics_spans_per_s_per_busy_core"
    middle = sorted(results, key=lambda r: r[key_rate])[len(results) // 2]
    for key, first in results[0].items():
        if isinstance(first, dict):
            out[key] = middle[key]
        else:
            out[key] = statistics.median(r[key] for r in results)
    out["runs"] = results
    return out


def _one_run(bootstrap: str, folder: Path, topic: str, name: str, spans: int) -> dict[str, Any]:
    dsn = f"chdb://{folder / name}"
    worker = WorkerProcess(bootstrap, dsn, folder / f"{name}-worker", topic=topic, group_id=name)
    worker.start()
    assert worker.proc is not None
    pid = worker.proc.pid
    cpu0, split0, t0 = _cpu_seconds(pid), _thread_cpu(pid), time.monotonic()
    worker.wait_caught_up(timeout=1800)
    wall, cpu = time.monotonic() - t0, _cpu_seconds(pid) - cpu0
    split = _minus(_thread_cpu(pid), split0)
    rss = _peak_rss_mb(pid)
    cpu_end, split_end = _stop_and_measure(worker, pid)
    cpu_all, split_all = cpu_end - cpu0, _minus(split_end, split0)
    wall_all = time.monotonic() - t0
    # The engine's background merges run on their own schedule (a ClickHouse server
    # does them on its own cores): the rate without them is reported beside the total.
    no_merges = cpu_all - split_all["merges"]
    worker.stop()
    stored = sql_in_child(
        dsn,
        "SELECT count() AS n, uniqExact(service_name, request_model) AS series, "
        "(SELECT sum(calls) FROM llmpulse.cost_1m FINAL) AS rolled_up "
        f"FROM llmpulse.llm_calls FINAL WHERE {COUNTED}",
    )[0]
    return {
        "stored_calls": stored["n"],
        "rolled_up_calls": stored["rolled_up"],
        "series": stored["series"],
        "wall_s": wall,
        "worker_cpu_s": cpu,
        "spans_per_s_per_worker": spans / wall,
        "spans_per_s_per_busy_core": spans / cpu if cpu else float("nan"),
        "with_analytics_wall_s": wall_all,
        "with_analytics_cpu_s": cpu_all,
        "with_analytics_spans_per_s_per_worker": spans / wall_all,
        "with_analytics_spans_per_s_per_busy_core": spans / cpu_all if cpu_all else float("nan"),
        "cpu_split_s": split,
        "with_analytics_cpu_split_s": split_all,
        "with_analytics_spans_per_s_per_core_without_merges": (
            spans / no_merges if no_merges > 0 else float("nan")
        ),
        "worker_peak_rss_mb": rss,
    }


def freshness(bootstrap: str, folder: Path, rate: float, seconds: float = 20.0) -> dict[str, Any]:
    """Span end -> row stored (ingested_at), p50/p99, producing at ``rate`` spans/s.

    Messages are built before the clock starts (building them costs more than the
    worker spends on them) with event times ``interval`` apart, then sent on that
    schedule; span end times are shifted by the schedule's start in the query.
    """
    topic = f"fresh_{time.time_ns()}"
    ensure_topics(
        WorkerSettings(kafka_bootstrap=bootstrap, topic=topic, dead_letter_topic=f"{topic}.dlq")
    )
    dsn = f"chdb://{folder / topic}"
    per_message = 256
    count = max(1, int(rate * seconds / per_message))
    interval = per_message / rate
    base = time.time_ns()
    payloads = list(
        messages(
            count * per_message,
            series=200,
            per_message=per_message,
            seed=7,
            window_s=0.001,
            rate=rate,
            end_ns=base + int(count * interval * 1e9),
        )
    )
    worker = WorkerProcess(
        bootstrap,
        dsn,
        folder / f"{topic}-worker",
        topic=topic,
        group_id=topic,
        extra_env={"LLMPULSE_BATCH_MAX_SECONDS": "0.2"},
    )
    worker.start()
    producer = KafkaProducer(
        bootstrap_servers=bootstrap, linger_ms=0, acks=1, max_request_size=4 * 1024 * 1024
    )
    # Steady state only: one message an hour old first, and the clock starts once it is
    # committed (the consumer has joined its group and taken its partitions).
    hour_ago = base - 3600 * 10**9
    warm_up = messages(per_message, series=200, per_message=per_message, seed=8, end_ns=hour_ago)
    producer.send(topic, next(warm_up))
    producer.flush()
    worker.wait_caught_up(timeout=120)
    assert worker.proc is not None
    started_ns, cpu0 = time.time_ns(), _cpu_seconds(worker.proc.pid)
    t0 = time.monotonic()
    for k, payload in enumerate(payloads):
        time.sleep(max(0.0, t0 + k * interval - time.monotonic()))
        producer.send(topic, payload)
    producer.flush()
    sent_for = time.monotonic() - t0
    producer.close()
    worker.wait_caught_up(timeout=300)
    # At a steady rate the worker is never behind: analytics refresh on their interval.
    cpu, wall = _cpu_seconds(worker.proc.pid) - cpu0, time.monotonic() - t0
    worker.stop()
    # message k's spans end at base + (k + 1) * interval and leave at started + k * interval
    shift_ms = (started_ns - base) / 1e6 - interval * 1000
    row = sql_in_child(
        dsn,
        "SELECT quantile(0.5)(lag) AS p50, quantile(0.99)(lag) AS p99, "
        "count() AS n FROM (SELECT dateDiff('millisecond', end_time, ingested_at) "
        f"- {shift_ms:.3f} AS lag FROM llmpulse.llm_calls FINAL "
        f"WHERE toUnixTimestamp64Micro(end_time) >= {base // 1000 - 1_000_000})",
    )[0]
    return {
        "target_rate_spans_per_s": rate,
        "achieved_rate_spans_per_s": count * per_message / max(sent_for, interval),
        "rows": row["n"],
        "freshness_p50_ms": row["p50"],
        "freshness_p99_ms": row["p99"],
        "worker_cpu_s": cpu,
        "busy_cores": cpu / wall,
        "spans_per_s_per_busy_core": count * per_message / cpu if cpu else float("nan"),
    }
