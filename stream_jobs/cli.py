"""``llmpulse``: the command line.

Subcommands: ``kafka`` (fetch/start/stop/status a local broker), ``migrate``,
``worker``, ``demo``. Options win over ``LLMPULSE_*`` variables, which win over
the defaults documented in :mod:`llmpulse.stream_jobs.settings`.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from pathlib import Path
from typing import Any

from llmpulse.errors import LlmpulseError

__all__ = ["main"]

DEFAULT_BROKER_DIR = Path(".llmpulse") / "kafka"


def _settings(args: argparse.Namespace) -> Any:
    from llmpulse.stream_jobs.settings import WorkerSettings

    overrides = {
        k: v
        for k, v in {
            "kafka_bootstrap": getattr(args, "kafka", None),
            "topic": getattr(args, "topic", None),
            "dead_letter_topic": getattr(args, "dead_letter_topic", None),
            "drift_topic": getattr(args, "drift_topic", None),
            "group_id": getattr(args, "group_id", None),
            "clickhouse_dsn": getattr(args, "dsn", None),
            "clickhouse_database": getattr(args, "database", None),
            "retention_days": getattr(args, "retention_days", None),
            "data_dir": getattr(args, "data_dir", None),
            "price_catalogue": getattr(args, "prices", None),
            "log_level": getattr(args, "log_level", None),
        }.items()
        if v is not None
    }
    return WorkerSettings(**overrides)


def cmd_kafka(args: argparse.Namespace) -> int:
    from llmpulse.stream_jobs.broker import LocalBroker

    broker = LocalBroker(args.data_dir)
    if args.action == "fetch":
        print(f"Kafka jars in {broker.fetch(quiet=False)}")
    elif args.action == "start":
        print(f"fetching (once) and starting Kafka in {broker.data_dir} ...", file=sys.stderr)
        info = broker.start(port=args.port)
        print(info.bootstrap)
        print(f"broker pid {info.pid}, log {broker.log_file}", file=sys.stderr)
    elif args.action == "stop":
        print("stopped" if broker.stop() else "not running")
    else:
        found = broker.status()
        if found is None:
            print("not running")
            return 1
        print(f"running: {found.bootstrap} (pid {found.pid})")
    return 0


def cmd_migrate(args: argparse.Namespace) -> int:
    from llmpulse.stream_jobs.clickhouse import connect, migrate

    settings = _settings(args)
    client = connect(settings.clickhouse_dsn)
    applied = migrate(client, settings.clickhouse_database, settings.retention_days)
    print(
        f"schema up to date in {settings.clickhouse_database!r} "
        f"(applied now: {applied or 'none'}; retention {settings.retention_days} days)"
    )
    return 0


def cmd_worker(args: argparse.Namespace) -> int:
    settings = _settings(args)
    if settings.allocator_tuning and args.from_command_line:
        from llmpulse.stream_jobs.allocator import reexec_with_tuned_allocator

        reexec_with_tuned_allocator()  # once, before the worker allocates anything
    from llmpulse.stream_jobs.worker import run_worker

    run_worker(settings)
    return 0


def cmd_summary(args: argparse.Namespace) -> int:
    from llmpulse.stream_jobs.clickhouse import connect
    from llmpulse.stream_jobs.summary import summarise

    settings = _settings(args)
    summary = summarise(connect(settings.clickhouse_dsn), settings.clickhouse_database)
    print(json.dumps(summary, indent=2, default=str))
    return 0


def cmd_sql(args: argparse.Namespace) -> int:
    from llmpulse.stream_jobs.clickhouse import connect

    settings = _settings(args)
    try:  # unqualified table names resolve in the llmpulse database, as in Grafana
        client = connect(settings.clickhouse_dsn, database=settings.clickhouse_database)
    except Exception:  # that database does not exist (yet)
        client = connect(settings.clickhouse_dsn)
    result = client.query(args.query, settings={"readonly": 1} if args.readonly else None)
    rows = [dict(zip(result.column_names, row, strict=True)) for row in result.result_rows]
    print(json.dumps(rows, default=str))
    return 0


def cmd_bench(args: argparse.Namespace) -> int:
    from llmpulse.stream_jobs.bench.run import main as bench_main

    return bench_main(args.spans, args.series, args.kafka, args.json)


def cmd_soak(args: argparse.Namespace) -> int:
    from llmpulse.stream_jobs.bench.soak import soak

    if args.mixed:
        from dataclasses import asdict

        from llmpulse.stream_jobs.bench.mixed import mixed_stream

        print(f"producing {args.mixed:,} messages, 40% garbage ...", file=sys.stderr)
        mixed = mixed_stream(args.mixed, kafka=args.kafka)
        print(json.dumps({"ok": mixed.ok, **asdict(mixed)}, indent=2))
        return 0 if mixed.ok else 1
    result = soak(
        events=args.events,
        seconds=args.seconds,
        kill_every=args.kill_every,
        kafka=args.kafka,
        say=lambda m: print(m, file=sys.stderr),
    )
    print(json.dumps(result, indent=2, default=str))
    return 0 if result["ok"] else 1


def cmd_report(args: argparse.Namespace) -> int:
    from datetime import UTC, date, datetime, timedelta

    from llmpulse.stream_jobs.clickhouse import connect, migrate
    from llmpulse.stream_jobs.report import ReportSettings, send_daily_report, write_report_files

    settings = _settings(args)
    day = (
        date.fromisoformat(args.date) if args.date else datetime.now(UTC).date() - timedelta(days=1)
    )
    client = connect(settings.clickhouse_dsn)
    migrate(client, settings.clickhouse_database, settings.retention_days)
    overrides = {"budgets": args.budgets} if args.budgets else {}
    report_settings = ReportSettings(**overrides)
    if args.out:
        files = write_report_files(
            client, settings.clickhouse_database, day, Path(args.out), report_settings.budgets
        )
        for kind, path in files.items():
            print(f"{kind}: {path}")
    outcome = send_daily_report(
        client, settings.clickhouse_database, day, report_settings, force=args.force
    )
    if not outcome and not args.out:
        print(
            "no channel configured: set LLMPULSE_REPORT_SMTP_HOST and "
            "LLMPULSE_REPORT_MAIL_TO, or LLMPULSE_REPORT_WEBHOOK_URL, or pass --out DIR",
            file=sys.stderr,
        )
        return 2
    for channel, result in outcome.items():
        print(f"{channel}: {result}")
    return 1 if any(r.startswith("failed") for r in outcome.values()) else 0


def cmd_grafana(args: argparse.Namespace) -> int:
    from llmpulse.stream_jobs.grafana.build import check_panels, write_dashboards

    if args.action == "publish":
        from llmpulse.stream_jobs.grafana.publish import publish
        from llmpulse.stream_jobs.settings import GrafanaSettings

        grafana = GrafanaSettings(**({"url": args.url} if args.url else {}))
        url = grafana.url
        counts = publish(
            url,
            token=grafana.token.get_secret_value() if grafana.token else None,
            user=grafana.user,
            password=grafana.password.get_secret_value() if grafana.password else None,
            clickhouse=grafana.datasource(),
            database=_settings(args).clickhouse_database,
            placeholders=grafana.placeholders(),
        )
        print(json.dumps({"grafana": url, "published": counts}))
        return 0
    if args.action == "build":
        from llmpulse.stream_jobs.grafana.alerts import write_alerting

        for path in write_dashboards(Path(args.out)):
            print(path)
        for path in write_alerting(Path(args.alerts_out)):
            print(path)
        return 0
    from datetime import UTC, datetime, timedelta

    from llmpulse.stream_jobs.clickhouse import connect

    settings = _settings(args)
    end = datetime.now(UTC)
    # Panel SQL names tables without a database, as Grafana's datasource has a default one.
    client = connect(settings.clickhouse_dsn, database=settings.clickhouse_database)
    results = check_panels(client, end - timedelta(hours=args.hours), end)
    print(json.dumps(results, indent=2, default=str))
    failed = [r for r in results if not r["ok"]]
    for r in failed:
        print(
            f"FAILED {r['dashboard']} / {r['panel']}: {r.get('error') or r.get('columns')}",
            file=sys.stderr,
        )
    return 1 if failed else 0


def cmd_traffic(args: argparse.Namespace) -> int:
    import time

    from llmpulse.collectors import KafkaSpanExporter
    from llmpulse.stream_jobs.demo.traffic import TrafficGenerator

    exporter = KafkaSpanExporter(bootstrap_servers=args.kafka, topic=args.topic)
    gen = TrafficGenerator(exporter, seed=args.seed)

    def pace(made: int) -> None:
        if args.rate:
            time.sleep(made / args.rate)

    emitted = gen.run(args.events, progress=pace)
    exporter.shutdown()
    print(json.dumps({"emitted": emitted.as_dict(), "exporter": exporter.stats.__dict__}))
    return 0


def cmd_settings(args: argparse.Namespace) -> int:
    from llmpulse.stream_jobs.settings import markdown, variables

    if args.markdown:
        print(markdown(), end="")
        return 0
    for title, rows in variables().items():
        print(f"{title}:")
        for v in rows:
            default = f" (default {v.default})" if v.default else ""
            print(f"  {v.name}{default}\n      {v.doc}")
    return 0


def cmd_demo(args: argparse.Namespace) -> int:
    from llmpulse.stream_jobs.demo.run import run_demo

    summary = run_demo(
        events=args.events,
        seed=args.seed,
        kafka=args.kafka,
        out_dir=Path(args.out),
        quiet=args.json,
    )
    if args.json:
        print(json.dumps(summary, indent=2, default=str))
    return 0 if summary["ok"] else 1


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


def _log_level() -> int:
    """``LLMPULSE_LOG_LEVEL`` (through the settings model), INFO when unset or invalid."""
    from llmpulse.stream_jobs.settings import WorkerSettings

    try:
        name = WorkerSettings().log_level
    except Exception:  # an invalid variable is reported by the command that reads it
        return logging.INFO
    level = logging.getLevelName(name.upper())
    return level if isinstance(level, int) else logging.INFO


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    args.from_command_line = argv is None  # this process is the command (it may re-exec)
    level = logging.DEBUG if args.verbose else _log_level()
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
