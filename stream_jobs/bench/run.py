"""Run every benchmark once and print the figures (``--json`` for machines)."""

from __future__ import annotations

import json
import math
import tempfile
import time
from pathlib import Path
from typing import Any

from llmpulse.stream_jobs.bench.drift_eval import evaluate
from llmpulse.stream_jobs.bench.e2e import end_to_end, freshness
from llmpulse.stream_jobs.bench.exporter import exporter_overhead
from llmpulse.stream_jobs.bench.payloads import messages
from llmpulse.stream_jobs.bench.stages import sketch_accuracy, stage_rates
from llmpulse.stream_jobs.broker.local import broker_unless
from llmpulse.stream_jobs.fastpath import native_available
from llmpulse.stream_jobs.worker_process import say

__all__ = ["LIVE_RATE", "run_bench"]

#: Event time of the "live" run advances at this many spans/s (the target rate),
#: so each minute holds as many calls as a live stream at that rate would.
LIVE_RATE = 60_000.0


def run_bench(
    spans: int = 1_000_000,
    series: int = 10_000,
    kafka: str | None = None,
    quiet: bool = False,
    drift_streams: int = 20,
) -> dict[str, Any]:
    """Measure everything once; return the figures."""
    figures: dict[str, Any] = {
        "spans": spans,
        "series": series,
        "started": time.strftime("%Y-%m-%d %H:%M:%S"),
        "native": native_available(),
    }
    with tempfile.TemporaryDirectory(prefix="llmpulse-bench-") as tmp:
        folder = Path(tmp)
        if kafka is None:
            say(quiet, "▶ starting a local Kafka broker ...")
        kafka, broker = broker_unless(kafka, folder / "kafka")
        try:
            say(quiet, f"▶ building 2 x {spans:,} spans over {series:,} series ...")
            live = list(messages(spans, series=series, rate=LIVE_RATE, window_s=1.0))
            backlog = list(messages(spans, series=series, seed=2))
            sample = live[: max(1, min(len(live), 40))]
            sample_spans = min(spans, 512 * len(sample))
            say(quiet, "▶ stages alone (decode / normalise+price / insert) ...")
            figures["stages"] = stage_rates(sample, sample_spans)
            say(quiet, "▶ end to end through a worker process: live stream ...")
            e2e = end_to_end(kafka, folder, live, spans)
            figures["end_to_end"] = e2e
            say(quiet, "▶ end to end through a worker process: 30-minute backlog ...")
            figures["end_to_end_backlog"] = end_to_end(kafka, folder, backlog, spans)
            # Half the maximum rate a worker sustains end to end: with analytics kept up
            # to date (the committed-only rate defers them while it works a backlog).
            rate = max(1000.0, e2e["with_analytics_spans_per_s_per_worker"] / 2)
            say(quiet, f"▶ freshness at {rate:,.0f} spans/s (half the sustained rate) ...")
            figures["freshness"] = freshness(kafka, folder, rate)
            say(quiet, "▶ exporter overhead (llmpulse Kafka vs stock OTLP HTTP) at 1k spans/s ...")
            figures["exporter"] = exporter_overhead(kafka)
        finally:
            if broker is not None:
                broker.stop()
    say(quiet, "▶ sketch accuracy and drift detectors ...")
    figures["sketch"] = sketch_accuracy()
    figures["drift"] = [s.__dict__ for s in evaluate(streams=drift_streams)]
    return figures


def render(f: dict[str, Any]) -> str:
    st, e, fr, ex = f["stages"], f["end_to_end"], f["freshness"], f["exporter"]
    k, o = ex["llmpulse_kafka"], ex["otlp_http_stock"]
    lines = [
        f"llmpulse bench — {f['started']}, {f['spans']:,} spans, {f['series']:,} series",
        "",
        f"compiled hot path: {'on' if f.get('native') else 'NOT BUILT (Python path only)'}",
        "",
        "stages alone (one thread, best of 3)",
        f"  compiled path: decode+normalise+price {st['native_spans_per_s']:>12,.0f} spans/s",
        f"  Python reference path (same rows)     {st['python_spans_per_s']:>12,.0f} spans/s",
        f"    its protobuf decode alone (upb)     "
        f"{st['protobuf_decode_spans_per_s']:>12,.0f} spans/s",
        f"  insert only (embedded CH, Native)     {st['insert_rows_per_s']:>12,.0f} rows/s",
        f"  ceiling (compiled path + insert)      {st['ceiling_spans_per_s']:>12,.0f} spans/s",
        f"  analytics refresh of that             {st['analytics_refresh_s'] * 1000:>12,.0f} ms",
        "",
        "end to end: topic -> worker -> ClickHouse (broker on this machine)",
        *_e2e_lines(f"live stream (event time at {LIVE_RATE:,.0f} spans/s)", e),
        *_e2e_lines("30-minute backlog (random event times)", f["end_to_end_backlog"]),
        f"  worker peak memory        {e['worker_peak_rss_mb']:>12,.0f} MiB",
        "",
        f"freshness at {fr['achieved_rate_spans_per_s']:,.0f} spans/s: span end -> row stored "
        f"p50 {fr['freshness_p50_ms']:,.0f} ms, p99 {fr['freshness_p99_ms']:,.0f} ms "
        f"({fr['rows']:,} rows)",
        f"  steady load, analytics refreshing on their interval: {fr['busy_cores']:.2f} busy "
        f"cores, {fr['spans_per_s_per_busy_core']:,.0f} spans/s per busy core",
        "",
        "exporter at 1k spans/s          app thread per span, p50 / p99 (us)     export threads",
        "                                whole span       exporter's part        CPU",
        _exporter_line("SDK alone (no-op exporter)", ex["sdk_only"]),
        _exporter_line("llmpulse Kafka exporter", k) + f"  (dropped {k['dropped']})",
        _exporter_line("stock OTLP HTTP exporter", o),
        "",
        f"sketch quantiles vs exact (bound {f['sketch']['bound']:.0%}): lognormal max error "
        f"{f['sketch']['lognormal_max_rel_error']:.4%}, "
        f"pareto {f['sketch']['pareto_max_rel_error']:.4%}",
        "",
        "drift detectors (minutes; false alarms per 100k minutes)",
        f"  {'detector':<18}{'scenario':<32}{'delay p50':>10}{'p90':>6}"
        f"{'missed%':>9}{'FA/100k':>9}",
    ]
    for d in f["drift"]:
        p50 = "-" if math.isnan(d["delay_p50"]) else f"{d['delay_p50']:.0f}"
        p90 = "-" if math.isnan(d["delay_p90"]) else f"{d['delay_p90']:.0f}"
        lines.append(
            f"  {d['detector']:<18}{d['scenario']:<32}{p50:>10}{p90:>6}"
            f"{d['missed_pct']:>9.1f}{d['false_alarms_per_100k']:>9.1f}"
        )
    return "\n".join(lines)


def _e2e_lines(title: str, e: dict[str, Any]) -> list[str]:
    spread = ", ".join(f"{r['with_analytics_spans_per_s_per_busy_core']:,.0f}" for r in e["runs"])
    split = e["with_analytics_cpu_split_s"]
    return [
        f"  {title}: {e['spans']:,} spans in {e['messages']:,} messages, "
        f"{e['series']:,} series, {e['stored_calls']:,} calls stored, "
        f"{e['rolled_up_calls']:,} rolled up",
        f"    all committed           {e['spans_per_s_per_worker']:>9,.0f} spans/s per worker "
        f"({e['wall_s']:.1f} s), {e['spans_per_s_per_busy_core']:>7,.0f} per busy core "
        f"({e['worker_cpu_s']:.1f} s CPU)",
        f"    + analytics caught up   {e['with_analytics_spans_per_s_per_worker']:>9,.0f} "
        f"spans/s per worker ({e['with_analytics_wall_s']:.1f} s), "
        f"{e['with_analytics_spans_per_s_per_busy_core']:>7,.0f} per busy core "
        f"({e['with_analytics_cpu_s']:.1f} s CPU)",
        f"    (median of {len(e['runs'])} workers; per busy core with analytics: {spread})",
        f"    CPU with analytics: worker threads {split['worker']:.1f} s, engine queries "
        f"{split['engine']:.1f} s, engine background merges {split['merges']:.1f} s; "
        f"without the merges {e['with_analytics_spans_per_s_per_core_without_merges']:,.0f} "
        "per busy core",
    ]


def _exporter_line(name: str, r: dict[str, float]) -> str:
    return (
        f"  {name:<28}{r['app_thread_p50_us']:>6.1f} / {r['app_thread_p99_us']:>6.1f}"
        f"    {r['exporter_part_p50_us']:>6.1f} / {r['exporter_part_p99_us']:>6.1f}"
        f"       {r['export_threads_cpu_pct']:>5.1f} %"
    )


def main(spans: int, series: int, kafka: str | None, as_json: bool) -> int:
    figures = run_bench(spans, series, kafka, quiet=as_json)
    print(json.dumps(figures, indent=2, default=str) if as_json else render(figures))
    return 0
