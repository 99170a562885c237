"""Run the worker: migrate, then consume until stopped (SIGTERM/SIGINT)."""

from __future__ import annotations

import contextlib
import logging
from typing import Any

from llmpulse.stream_jobs.analytics.job import AnalyticsJob, event_json
from llmpulse.stream_jobs.clickhouse import connect, migrate
from llmpulse.stream_jobs.ingest import Ingest
from llmpulse.stream_jobs.pipeline import Pipeline
from llmpulse.stream_jobs.pricing import PriceCatalogue
from llmpulse.stream_jobs.settings import WorkerSettings
from llmpulse.stream_jobs.sink import ClickHouseSink

__all__ = ["build_ingest", "ensure_topics", "run_worker"]

log = logging.getLogger(__name__)


def build_ingest(settings: WorkerSettings, client: Any | None = None) -> Ingest:
    """Connect, migrate and assemble the plain ingest step for ``settings``."""
    client = client if client is not None else connect(settings.clickhouse_dsn)
    applied = migrate(client, settings.clickhouse_database, settings.retention_days)
    if applied:
        log.info("applied ClickHouse migrations %s", applied)
    catalogue = PriceCatalogue.load(settings.price_catalogue)
    pipeline = Pipeline(catalogue, max_message_bytes=settings.max_message_bytes)
    return Ingest(pipeline, ClickHouseSink(client, settings.clickhouse_database))


def run_worker(settings: WorkerSettings) -> None:
    """Block running the Faust worker until it is told to stop."""
    import faust
    from llmpulse.stream_jobs.app import create_app

    # Faust changes into its workdir: make every path absolute first.
    data_dir = settings.data_dir.resolve()
    data_dir.mkdir(parents=True, exist_ok=True)
    settings = settings.model_copy(update={"data_dir": data_dir})
    ensure_topics(settings)
    client = connect(settings.clickhouse_dsn)
    ingest = build_ingest(settings, client)
    analytics = AnalyticsJob(client, settings.clickhouse_database, settings.drift_detector)
    app = create_app(settings, ingest, analytics)
    worker = faust.Worker(
        app, loglevel=settings.log_level, quiet=True, workdir=str(settings.data_dir)
    )
    try:
        worker.execute_from_commandline()
    finally:
        log.info("llmpulse ingest stopped: %s", ingest.stats.line())
        _final_refresh(settings, ingest, analytics)
        ingest.close()


def ensure_topics(settings: WorkerSettings, partitions: int = 2) -> None:
    """Create the input and dead-letter topics if they are missing."""
    from kafka import KafkaAdminClient
    from kafka.admin import NewTopic
    from kafka.errors import TopicAlreadyExistsError
    from llmpulse.collectors.config import kafka_security

    admin = KafkaAdminClient(
        **kafka_security(
            {
                "bootstrap_servers": settings.kafka_bootstrap.split(","),
                "client_id": "llmpulse-admin",
            }
        )
    )
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
        stats = ingest.executor.submit(analytics.refresh, True).result(timeout=300)
    except Exception:
        log.exception("final analytics refresh failed; the next start catches up")
        return
    log.info("final analytics refresh: %s", stats)
    if not stats.events:
        return
    from kafka import KafkaProducer
    from llmpulse.collectors.config import kafka_security

    producer = KafkaProducer(
        **kafka_security({"bootstrap_servers": settings.kafka_bootstrap.split(","), "acks": 1})
    )
    try:
        for e in stats.events:
            producer.send(
                settings.drift_topic,
                key=f"{e.service_name}/{e.model}".encode(),
                value=event_json(e),
            )
        producer.flush(timeout=30)
    finally:
        producer.close(timeout=10)
