"""``llmpulse``: the command line.

Subcommands: ``kafka`` (fetch/start/stop/status a local broker), ``collector``
(build the OpenTelemetry Collector for the interop tests), ``migrate``,
``worker``, ``demo``. Options win over ``LLMPULSE_*`` variables, which win over
the defaults documented in :mod:`llmpulse.stream_jobs.settings`.
"""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

from llmpulse.errors import LlmpulseError
from llmpulse.stream_jobs.commands import (
    cmd_bench,
    cmd_collector,
    cmd_demo,
    cmd_grafana,
    cmd_kafka,
    cmd_migrate,
    cmd_report,
    cmd_settings,
    cmd_soak,
    cmd_sql,
    cmd_summary,
    cmd_traffic,
    cmd_worker,
)

__all__ = ["main"]

DEFAULT_BROKER_DIR = Path(".llmpulse") / "kafka"


def _common(p: argparse.ArgumentParser, kafka: bool = True) -> None:
    if kafka:
        p.add_argument("--kafka", help="bootstrap servers (env LLMPULSE_KAFKA_BOOTSTRAP)")
    p.add_argument(
        "--dsn", help="ClickHouse DSN: chdb:///dir or http(s)://... (env LLMPULSE_CLICKHOUSE_DSN)"
    )
    p.add_argument("--database", help="ClickHouse database (default llmpulse)")
    p.add_argument("--retention-days", type=int, help="TTL of every table (default 90)")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="llmpulse", description="Streaming observability and cost monitoring for LLM calls."
    )
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    sub = parser.add_subparsers(dest="command", required=True)

    k = sub.add_parser(
        "kafka",
        help="fetch, start, stop or inspect a local Kafka broker",
        description="A real Apache Kafka broker (KRaft, single node) fetched "
        "from Maven Central with Maven, on a free loopback port.",
    )
    k.add_argument("action", choices=["fetch", "start", "stop", "status"])
    k.add_argument(
        "--data-dir",
        default=str(DEFAULT_BROKER_DIR),
        help=f"broker data/log folder (default {DEFAULT_BROKER_DIR})",
    )
    k.add_argument("--port", type=int, help="listener port (default: a free one)")
    k.set_defaults(func=cmd_kafka)

    c = sub.add_parser(
        "collector",
        help="build (once) the OpenTelemetry Collector used by the interop tests",
        description="Installs ocb (go.opentelemetry.io/collector/cmd/builder) and builds "
        "a collector (OTLP receiver, kafka exporter/receiver, OTLP/HTTP and debug "
        "exporters) from stream_jobs/broker/otelcol-builder.yaml into the cache folder.",
    )
    c.add_argument("action", choices=["fetch"])
    c.set_defaults(func=cmd_collector)

    m = sub.add_parser("migrate", help="create or update the ClickHouse schema (idempotent)")
    _common(m, kafka=False)
    m.set_defaults(func=cmd_migrate)

    w = sub.add_parser(
        "worker",
        help="run the Faust worker: otlp_spans -> ClickHouse",
        description="Consumes OTLP span batches, validates, normalises and "
        "prices LLM calls, writes them to ClickHouse; rejects go "
        "to the dead-letter topic and table. Stops on SIGTERM.",
    )
    _common(w)
    w.add_argument("--topic", help="input topic (default otlp_spans)")
    w.add_argument("--dead-letter-topic", help="dead-letter topic (default otlp_spans.dlq)")
    w.add_argument("--drift-topic", help="drift events topic (default llmpulse.drift_events)")
    w.add_argument("--group-id", help="consumer group / app id (default llmpulse-worker)")
    w.add_argument("--data-dir", help="worker working folder (default .llmpulse)")
    w.add_argument("--prices", help="price catalogue file replacing the shipped one")
    w.add_argument("--log-level", help="debug, info, warning (default info)")
    w.set_defaults(func=cmd_worker)

    s = sub.add_parser("summary", help="print what is stored (calls, tokens, cost, rejects)")
    _common(s, kafka=False)
    s.set_defaults(func=cmd_summary)

    q = sub.add_parser(
        "sql",
        help="run one SQL query, print the rows as JSON",
        description="Read-only unless --write. With the embedded engine the worker must be "
        "stopped (it owns the data folder).",
    )
    _common(q, kafka=False)
    q.add_argument("query", help="the SQL")
    q.add_argument("--write", dest="readonly", action="store_false", help="allow writes")
    q.set_defaults(func=cmd_sql)

    b = sub.add_parser(
        "bench",
        help="measure throughput, freshness, exporter overhead, accuracy, memory",
        description="Runs on a real broker (started unless --kafka) and the embedded "
        "ClickHouse engine, and prints the figures measured in this one run.",
    )
    b.add_argument(
        "--spans", type=int, default=1_000_000, help="spans per end-to-end run (1000000)"
    )
    b.add_argument("--series", type=int, default=10_000, help="active series (10000)")
    b.add_argument("--kafka", help="use this broker instead of starting one")
    b.add_argument("--json", action="store_true", help="print the figures as JSON")
    b.set_defaults(func=cmd_bench)

    g = sub.add_parser(
        "grafana",
        help="build the dashboards JSON, or run every panel's SQL against a store",
        description="build: write dashboards/*.json from stream_jobs/grafana/panels.py with "
        "grafana-foundation-sdk. check: run every panel's SQL (macros expanded) and report "
        "columns and rows; exit 1 if any panel fails or is empty.",
    )
    g.add_argument("action", choices=["build", "check", "publish"])
    g.add_argument(
        "--url",
        help="publish: Grafana URL (env LLMPULSE_GRAFANA_URL; the "
        "credentials come from LLMPULSE_GRAFANA_TOKEN, or _USER and _PASSWORD)",
    )
    _common(g, kafka=False)
    g.add_argument("--out", default="dashboards", help="build: dashboards folder (dashboards)")
    g.add_argument("--alerts-out", default="alerts", help="build: alerting folder (alerts)")
    g.add_argument("--hours", type=float, default=6.0, help="check: time range (6 h)")
    g.set_defaults(func=cmd_grafana)

    t = sub.add_parser(
        "traffic",
        help="send realistic LLM traffic through the real exporter to a broker",
    )
    t.add_argument("--kafka", required=True, help="bootstrap servers")
    t.add_argument("--topic", default="otlp_spans", help="topic (otlp_spans)")
    t.add_argument("--events", type=int, default=5000, help="LLM calls (5000)")
    t.add_argument("--rate", type=float, default=0.0, help="calls per second (0: as fast)")
    t.add_argument("--seed", type=int, default=7, help="random seed (7)")
    t.set_defaults(func=cmd_traffic)

    r = sub.add_parser(
        "report",
        help="the finance daily cost report (e-mail, webhook, files)",
        description="Builds the report of a day from ClickHouse and delivers it by e-mail "
        "and/or webhook (LLMPULSE_REPORT_* variables), once per day unless --force.",
    )
    r.add_argument("kind", choices=["daily"])
    _common(r, kafka=False)
    r.add_argument("--date", help="the UTC day to report (default: yesterday)")
    r.add_argument("--budgets", help="budgets file (default alerts/budgets.toml)")
    r.add_argument("--out", help="also write HTML, CSV and PNG files to this folder")
    r.add_argument("--force", action="store_true", help="send even if already sent")
    r.set_defaults(func=cmd_report)

    so = sub.add_parser(
        "soak",
        help="kill the worker with SIGKILL repeatedly during traffic; check exact totals",
    )
    so.add_argument("--events", type=int, default=20_000, help="LLM calls (20000)")
    so.add_argument("--seconds", type=float, default=60.0, help="spread traffic over (60)")
    so.add_argument("--kill-every", type=float, default=7.0, help="seconds between kills (7)")
    so.add_argument("--kafka", help="use this broker instead of starting one")
    so.add_argument(
        "--hostile",
        type=float,
        metavar="S",
        help="also send one hostile message every S seconds (values past their column, "
        "non-finite numbers, id-less floods, undecodable spans, garbage)",
    )
    so.add_argument(
        "--mixed",
        type=int,
        metavar="N",
        help="instead: N messages with 40%% malformed ones (e.g. 100000)",
    )
    so.set_defaults(func=cmd_soak)

    st = sub.add_parser(
        "settings",
        help="list every environment variable, its default and meaning",
        description="Generated from the settings models (the only readers of the environment).",
    )
    st.add_argument("--markdown", action="store_true", help="as README's tables")
    st.set_defaults(func=cmd_settings)

    d = sub.add_parser(
        "demo",
        help="run the whole pipeline on embedded defaults with "
        "realistic traffic, then print a summary",
        description="Starts a local broker (unless --kafka), the worker on an "
        "embedded ClickHouse, sends traffic through the real OTel "
        "SDK and exporter, and reads the result back.",
    )
    d.add_argument("--events", type=int, default=5000, help="LLM calls to emit (default 5000)")
    d.add_argument("--seed", type=int, default=7, help="random seed (default 7)")
    d.add_argument("--kafka", help="use this broker instead of starting one")
    d.add_argument("--out", default="demo-output", help="output folder (default demo-output)")
    d.add_argument("--json", action="store_true", help="print a machine-readable summary")
    d.set_defaults(func=cmd_demo)
    return parser


def _log_level(option: str | None) -> int:
    """``--log-level``, else ``LLMPULSE_LOG_LEVEL`` (the settings model), else INFO."""
    from llmpulse.stream_jobs.settings import WorkerSettings

    try:
        name = option or WorkerSettings().log_level
    except Exception:  # an invalid variable is reported by the command that reads it
        return logging.INFO
    level = logging.getLevelName(name.upper())
    return level if isinstance(level, int) else logging.INFO


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    args.from_command_line = argv is None  # this process is the command (it may re-exec)
    level = logging.DEBUG if args.verbose else _log_level(getattr(args, "log_level", None))
    logging.basicConfig(
        level=level,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    if not args.verbose:
        logging.getLogger("kafka").setLevel(logging.ERROR)
        logging.getLogger("matplotlib").setLevel(logging.WARNING)
    try:
        return int(args.func(args))
    except LlmpulseError as exc:
        print(f"llmpulse: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
