"""What each ``llmpulse`` subcommand does; :mod:`.cli` parses the arguments.

Options win over ``LLMPULSE_*`` variables, which win over the defaults documented
in :mod:`llmpulse.stream_jobs.settings`. Each command imports what it needs, so
``llmpulse kafka fetch`` does not load the whole pipeline.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from llmpulse.stream_jobs.settings import WorkerSettings

__all__ = [
    "cmd_bench",
    "cmd_collector",
    "cmd_demo",
    "cmd_grafana",
    "cmd_kafka",
    "cmd_migrate",
    "cmd_report",
    "cmd_settings",
    "cmd_soak",
    "cmd_sql",
    "cmd_summary",
    "cmd_traffic",
    "cmd_worker",
]


def _settings(args: argparse.Namespace) -> WorkerSettings:
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


def cmd_collector(args: argparse.Namespace) -> int:
    from llmpulse.stream_jobs.broker.collector import CollectorBuild

    build = CollectorBuild()
    if not build.ready():
        print(f"building the OpenTelemetry Collector (once) in {build.home} ...", file=sys.stderr)
    binary = build.fetch(say=lambda line: print(line, file=sys.stderr, flush=True))
    print(f"OpenTelemetry Collector in {binary}")
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
        hostile_every=args.hostile,
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
