"""``llmpulse demo``: the whole pipeline on embedded defaults, start to summary.

1. start a local Kafka broker (unless one is given), 2. start the worker on an
embedded ClickHouse folder, 3. emit realistic traffic through the real OTel SDK
and the Kafka exporter, 4. wait until the worker has committed every message
(offsets are committed only after rows are durable), 5. stop the worker, read
the summary back from ClickHouse, stop what was started.
"""

from __future__ import annotations

import json
import shutil
import sys
import time
from pathlib import Path
from typing import Any

from llmpulse.collectors import KafkaSpanExporter
from llmpulse.stream_jobs.broker.local import broker_unless
from llmpulse.stream_jobs.clickhouse import connect
from llmpulse.stream_jobs.demo.traffic import TrafficGenerator
from llmpulse.stream_jobs.summary import summarise
from llmpulse.stream_jobs.worker import ensure_topics
from llmpulse.stream_jobs.worker_process import WorkerProcess, say

__all__ = ["run_demo"]

TOPIC = "otlp_spans"
GROUP = "llmpulse-demo"


def run_demo(
    events: int = 5000,
    seed: int = 7,
    kafka: str | None = None,
    out_dir: Path = Path("demo-output"),
    quiet: bool = False,
) -> dict[str, Any]:
    """Run the demo; return the summary (also written to ``out_dir/summary.json``)."""
    from tqdm import tqdm

    from llmpulse.stream_jobs.settings import WorkerSettings

    out_dir.mkdir(parents=True, exist_ok=True)
    for owned in ("chdb", "worker", "kafka"):  # a fresh run every time: compare totals
        shutil.rmtree(out_dir / owned, ignore_errors=True)
    started = time.monotonic()
    if kafka is None:
        say(quiet, "▶ starting a local Kafka broker (first run fetches it with Maven) ...")
    kafka, broker = broker_unless(kafka, out_dir / "kafka")
    say(quiet, f"  Kafka {kafka} ready")
    dsn = f"chdb://{(out_dir / 'chdb').resolve()}"
    worker = WorkerProcess(kafka, dsn, out_dir / "worker", topic=TOPIC, group_id=GROUP)
    try:
        ensure_topics(
            WorkerSettings(kafka_bootstrap=kafka, topic=TOPIC, dead_letter_topic=f"{TOPIC}.dlq")
        )
        say(quiet, f"▶ starting the worker (embedded ClickHouse in {out_dir / 'chdb'}) ...")
        worker.start()
        exporter = KafkaSpanExporter(bootstrap_servers=kafka, topic=TOPIC)
        gen = TrafficGenerator(exporter, seed=seed)
        with tqdm(
            total=events, desc="emit LLM calls", unit="call", disable=quiet, file=sys.stderr
        ) as bar:

            def emitted_more(made: int) -> None:
                bar.update(made)

            emitted = gen.run(events, progress=emitted_more)
        exporter.shutdown()
        with tqdm(desc="worker stores", unit="msg", disable=quiet, file=sys.stderr) as bar:

            def progress(done: int, end: int) -> None:
                bar.total = end
                bar.n = done
                bar.refresh()

            worker.wait_caught_up(timeout=max(120.0, events / 200), on_progress=progress)
    finally:
        worker.stop()
        if broker is not None:
            broker.stop()
    client = connect(dsn)
    stored = summarise(client)
    from datetime import UTC, datetime

    from llmpulse.stream_jobs.report import write_report_files

    report_files = write_report_files(
        client, "llmpulse", datetime.now(UTC).date(), out_dir / "report"
    )
    from datetime import timedelta

    from llmpulse.stream_jobs.grafana.picture import draw_key_panels

    now = datetime.now(UTC)
    report_files["panels"] = draw_key_panels(
        connect(dsn, database="llmpulse"),
        now - timedelta(hours=1, minutes=5),
        now,
        out_dir / "panels.png",
    )
    emitted_d = emitted.as_dict()
    checks = {
        "calls": emitted.calls == stored["calls"],
        "input_tokens": emitted.input_tokens == stored["input_tokens"],
        "output_tokens": emitted.output_tokens == stored["output_tokens"],
        "cost_usd": emitted_d["cost_usd"].rstrip("0").rstrip(".")
        == stored["cost_usd"].rstrip("0").rstrip("."),
        "rejects": emitted.bad_spans == sum(r["count"] for r in stored["rejects"]),
        "stacked_spans": emitted.stacked_spans == stored["linked_spans"],
        "tool_spans": emitted.tool_spans == stored["agent_spans"],
    }
    summary = {
        "ok": all(checks.values()),
        "checks": checks,
        "emitted": emitted_d,
        "stored": stored,
        "exporter": exporter.stats.__dict__,
        "seconds": round(time.monotonic() - started, 1),
        "out_dir": str(out_dir),
        "report_files": {k: str(v) for k, v in report_files.items()},
    }
    (out_dir / "summary.json").write_text(json.dumps(summary, indent=2, default=str))
    if not quiet:
        print(render(summary))
    return summary


def render(summary: dict[str, Any]) -> str:
    """A human summary of the demo run."""
    s, e = summary["stored"], summary["emitted"]
    lat = s.get("latency_ms") or {}
    lines = [
        "",
        "llmpulse demo — read back from ClickHouse",
        "=" * 60,
        f"calls stored      {s['calls']:>10,}   (emitted {e['calls']:,})",
        f"transactions      {s['transactions']:>10,}",
        f"input tokens      {s['input_tokens']:>10,}   "
        f"(cache read {s['cache_read_tokens']:,}, cache write {s['cache_creation_tokens']:,})",
        f"output tokens     {s['output_tokens']:>10,}   (reasoning {s['reasoning_tokens']:,})",
        f"cost              ${float(s['cost_usd']):>10,.4f}  "
        f"(emitted ${float(e['cost_usd']):,.4f})",
        f"errors / retries  {s['errors']:>10,} / {s['retries']:,}",
        f"unpriced calls    {s['unpriced']:>10,}   (unknown model or no usage: flagged, not free)",
    ]
    if lat:
        lines.append(
            f"latency p50/p95/p99  {lat['p50']:,.0f} / {lat['p95']:,.0f} / {lat['p99']:,.0f} ms"
        )
    lines += ["", "cost by model:"]
    for m in s["by_model"]:
        lines.append(
            f"  {m['model']:<28} {m['provider']:<11} {m['calls']:>6,} calls  "
            f"${float(m['cost_usd']):>9,.4f}  p95 {m['p95_ms']:>8,.0f} ms"
        )
    lines += ["", "cost by team:"]
    for t in s["by_team"]:
        lines.append(
            f"  {t['team']:<14} {t['calls']:>6,} calls  ${float(t['cost_usd']):>9,.4f}"
            f"  errors {t['errors']:,}"
        )
    lines += ["", f"rejected (dead-letter topic + table): {sum(r['count'] for r in s['rejects'])}"]
    for r in s["rejects"]:
        lines.append(f"  {r['reason']:<22} at {r['stage']:<10} {r['count']:>6,}")
    lines.append(f"non-LLM spans skipped: {s['non_llm_spans']:,} in {s['messages']:,} messages")
    lines.append(
        f"stacked spans linked to their call: {s['linked_spans']:,} "
        f"(emitted {e['stacked_spans']:,}); tool spans kept: {s['agent_spans']:,}"
    )
    lines += _render_analytics(s.get("analytics") or {})
    verdict = (
        "OK: stored totals equal emitted totals"
        if summary["ok"]
        else f"MISMATCH: {[k for k, v in summary['checks'].items() if not v]}"
    )
    lines += ["", verdict, f"({summary['seconds']}s; summary.json in {summary['out_dir']})"]
    files = summary.get("report_files") or {}
    if files:
        lines.append(f"finance daily report (today so far): {files.get('html')}")
        lines.append(f"key dashboard panels: {files.get('panels')}")
    return "\n".join(lines)


def _render_analytics(a: dict[str, Any]) -> list[str]:
    if not a:
        return []
    p50 = a["transaction_cost_p50_usd"] or 0
    p95 = a["transaction_cost_p95_usd"] or 0
    lines = [
        "",
        f"transactions {a['transactions']:,}: cost per transaction p50 ${p50:.5f}, "
        f"p95 ${p95:.5f}; retry waste ${float(a['retry_waste_usd']):.4f} "
        f"({a['transactions_with_retries']:,} transactions retried)",
        "latency by requested model, from merged sketches (p50 / p95 / p99 ms, ttft p95):",
    ]
    for m in a["latency_by_model"]:
        lines.append(
            f"  {m['model']:<24} {m['calls']:>6,} calls {m['p50_ms'] or 0:>8,.0f} "
            f"{m['p95_ms'] or 0:>8,.0f} {m['p99_ms'] or 0:>8,.0f}   "
            f"ttft {m['ttft_p95_ms'] or 0:>6,.0f}"
        )
    lines.append(f"drift events: {len(a['drift_events'])}")
    for d in a["drift_events"]:
        lines.append(f"  {d['minute'][11:16]}  {d['service']}/{d['model']}: {d['detail']}")
    return lines
