"""Run the worker: migrate, then consume until stopped (SIGTERM/SIGINT)."""

from __future__ import annotations

import contextlib
import hashlib
import logging
import time
from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any, TypeVar

from llmpulse.errors import ConfigError, MissingExtraError
from llmpulse.stream_jobs.analytics.job import AnalyticsJob, drift_record
from llmpulse.stream_jobs.clickhouse import ClickHouseClient, connect, migrate, redact_dsn
from llmpulse.stream_jobs.ingest import Ingest
from llmpulse.stream_jobs.normalise import Limits
from llmpulse.stream_jobs.pipeline import Pipeline
from llmpulse.stream_jobs.pricing import PriceCatalogue
from llmpulse.stream_jobs.settings import WorkerSettings
from llmpulse.stream_jobs.sink import ClickHouseSink

__all__ = [
    "analytics_session",
    "build_pipeline",
    "connect_with_backoff",
    "ensure_topics",
    "ensure_topics_when_up",
    "run_worker",
    "with_backoff",
]

log = logging.getLogger(__name__)
T = TypeVar("T")


def build_pipeline(settings: WorkerSettings, client: ClickHouseClient | None = None) -> Pipeline:
    """The pricing pipeline, its catalogue recorded; without ``client``, connect and
    migrate first."""
    if client is None:
        client = connect(settings.clickhouse_dsn)
        migrate(client, settings.clickhouse_database, settings.retention_days)
    catalogue = PriceCatalogue.load(settings.price_catalogue)
    record_catalogue(client, settings.clickhouse_database, catalogue)
    pipeline = Pipeline(
        catalogue, limits_for(settings), max_message_bytes=settings.max_message_bytes
    )
    if pipeline.native is None:
        log.warning(
            "the compiled hot path is not built (install with cargo on PATH); "
            "every span takes the Python path, several times slower"
        )
    else:
        log.info("compiled hot path on: spans go to the Python path only when unusual")
    return pipeline


def limits_for(settings: WorkerSettings) -> Limits:
    """The validator's limits under these settings: a span older than the retention
    is rejected (``ancient_timestamp``); stored, the table's TTL would delete it at
    the next merge, after ingest had counted it as stored."""
    default = Limits()
    return replace(default, max_age_days=min(default.max_age_days, settings.retention_days))


def record_catalogue(client: ClickHouseClient, database: str, catalogue: PriceCatalogue) -> None:
    """Keep the exact catalogue this worker prices with in ``price_catalogues``."""
    text = catalogue.source_text
    client.insert(
        f"{database}.price_catalogues",
        [
            [
                catalogue.version,
                hashlib.sha256(text.encode()).hexdigest(),
                len(catalogue.models()),
                text,
                datetime.now(UTC),
            ]
        ],
        column_names=["version", "sha256", "models", "content", "first_used"],
    )


def connect_with_backoff(
    settings: WorkerSettings, max_backoff: float = 30.0, give_up_after: float | None = None
) -> ClickHouseClient:
    """Connect and migrate, retrying with backoff while ClickHouse is unavailable.

    A server that is down, or an embedded data folder held by another process, is
    waited for with one clear log line per attempt; no message is consumed (so no
    offset moves) until the store is reachable.
    """

    def attempt() -> ClickHouseClient:
        client = connect(settings.clickhouse_dsn)
        applied = migrate(client, settings.clickhouse_database, settings.retention_days)
        if applied:
            log.info("applied ClickHouse migrations %s", applied)
        return client

    what = f"ClickHouse {redact_dsn(settings.clickhouse_dsn)}"
    return with_backoff(attempt, what, max_backoff, give_up_after)


def ensure_topics_when_up(
    settings: WorkerSettings, max_backoff: float = 30.0, give_up_after: float | None = None
) -> None:
    """:func:`ensure_topics`, waiting with backoff for a broker that is not up yet (a
    worker may start before its broker answers: it waits instead of exiting)."""
    what = f"Kafka {settings.kafka.bootstrap}"
    with_backoff(lambda: ensure_topics(settings), what, max_backoff, give_up_after)


def with_backoff(
    attempt: Callable[[], T], what: str, max_backoff: float, give_up_after: float | None
) -> T:
    """``attempt()`` until it succeeds: one warning per try, waits doubling up to
    ``max_backoff``; configuration errors are raised at once."""
    delay, waited = 1.0, 0.0
    while True:
        try:
            return attempt()
        except (ConfigError, MissingExtraError):
            raise
        except Exception as exc:
            if give_up_after is not None and waited >= give_up_after:
                raise
            line = (str(exc).splitlines() or [type(exc).__name__])[0][:300]
            log.warning("%s unavailable (%s); retrying in %.0fs", what, line, delay)
            time.sleep(delay)
            waited += delay
            delay = min(delay * 2, max_backoff)


def run_worker(settings: WorkerSettings) -> None:
    """Block running the Faust worker until it is told to stop."""
    import faust

    from llmpulse.stream_jobs.app import create_app

    # Faust changes into its workdir: make every path absolute first.
    data_dir = settings.data_dir.resolve()
    data_dir.mkdir(parents=True, exist_ok=True)
    settings = settings.model_copy(update={"data_dir": data_dir})
    ensure_topics_when_up(settings)
    client = connect_with_backoff(settings)
    pipeline = build_pipeline(settings, client)
    sink = ClickHouseSink(client, settings.clickhouse_database)
    # Analytics (and the daily report) use a session of their own on their own thread:
    # the embedded engine runs its queries alongside the ingest's inserts.
    analytics_client = analytics_session(settings)
    # The embedded engine has one writer, this worker: it knows when its write under
    # way began, so refreshes need not re-read a safety margin of rows each time.
    embedded = settings.embedded
    analytics = AnalyticsJob(
        analytics_client,
        settings.clickhouse_database,
        settings.drift_detector,
        visible_floor=sink.visible_floor if embedded else None,
    )
    report = _report_job(analytics_client, settings, analytics)
    app, ingest = create_app(settings, pipeline, sink, analytics, report)
    worker = faust.Worker(
        app, loglevel=settings.log_level, quiet=True, workdir=str(settings.data_dir)
    )
    try:
        worker.execute_from_commandline()
    finally:
        log.info("llmpulse ingest stopped: %s", ingest.stats.line())
        _final_lag_sample(settings, ingest, client)
        _final_refresh(settings, ingest, analytics)
        ingest.close()


def analytics_session(settings: WorkerSettings) -> ClickHouseClient:
    """The analytics' own ClickHouse session. Its statements run on engine threads
    niced by ``analytics_nice``: when the CPU is short, inserts (freshness) go first.
    ClickHouse applies it only with CAP_SYS_NICE (a no-op otherwise)."""
    return connect(
        settings.clickhouse_dsn, settings={"os_thread_priority": settings.analytics_nice}
    )


def ensure_topics(settings: WorkerSettings, partitions: int = 2) -> None:
    """Create the input and dead-letter topics if they are missing."""
    from kafka import KafkaAdminClient
    from kafka.admin import NewTopic
    from kafka.errors import TopicAlreadyExistsError

    admin = KafkaAdminClient(**settings.kafka.client_config(client_id="llmpulse-admin"))
    try:
        existing = set(admin.list_topics())
        wanted = [
            NewTopic(t, partitions, 1)
            for t in (settings.topic, settings.dead_letter_topic, settings.drift_topic)
            if t not in existing
        ]
        if wanted:
            with contextlib.suppress(TopicAlreadyExistsError):
                admin.create_topics(wanted)
    finally:
        admin.close()


def _final_refresh(settings: WorkerSettings, ingest: Ingest, analytics: AnalyticsJob) -> None:
    """Bring the analytics up to date with what was stored; publish its drift events."""
    try:
        stats = ingest.analytics_executor.submit(analytics.refresh, True).result(timeout=300)
    except Exception:
        log.exception("final analytics refresh failed; the next start catches up")
        return
    log.info("final analytics refresh: %s", stats)
    if not stats.events:
        return
    from kafka import KafkaProducer

    producer = KafkaProducer(**settings.kafka.client_config(acks=1))
    try:
        for e in stats.events:
            key, value = drift_record(e)
            producer.send(settings.drift_topic, key=key, value=value)
        producer.flush(timeout=30)
    finally:
        producer.close(timeout=10)


def _report_job(client: ClickHouseClient, settings: WorkerSettings, analytics: AnalyticsJob) -> Any:
    """The scheduled daily report: after ``hour_utc``, send yesterday's once per channel.

    Returns ``(job, interval)`` or None when no channel is configured. The job
    first brings the rollups up to date, so a backlog never yields a short report.
    """
    from datetime import timedelta

    from llmpulse.stream_jobs.report import ReportSettings, send_daily_report

    report_settings = ReportSettings()
    if not ((report_settings.smtp_host and report_settings.mail_to) or report_settings.webhook_url):
        return None

    def run() -> dict[str, str]:
        now = datetime.now(UTC)
        if now.hour < report_settings.hour_utc:
            return {}
        analytics.refresh(final=True)
        outcome = send_daily_report(
            client, settings.clickhouse_database, now.date() - timedelta(days=1), report_settings
        )
        return {k: v for k, v in outcome.items() if not v.startswith("skipped")}

    return run, report_settings.check_interval_s


def _final_lag_sample(settings: WorkerSettings, ingest: Ingest, client: ClickHouseClient) -> None:
    """One last consumer-lag sample, so even a short run leaves one on the dashboard."""
    from llmpulse.stream_jobs.lag import LagRecorder

    try:
        recorder = LagRecorder(settings, ingest, client)
        rows = recorder.sample()
        if rows:
            ingest.executor.submit(recorder.store, rows).result(timeout=60)
    except Exception as exc:
        log.warning("final consumer lag sample skipped: %r", exc)
