"""The Faust app: thin wiring of topics to :class:`~llmpulse.stream_jobs.ingest.Ingest`."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from typing import Any

from llmpulse.errors import MissingExtraError
from llmpulse.stream_jobs.analytics.job import RefreshStats, drift_record
from llmpulse.stream_jobs.ingest import Ingest, IngestStats
from llmpulse.stream_jobs.lag import LagRecorder
from llmpulse.stream_jobs.logs import rate_limit_handlers
from llmpulse.stream_jobs.pipeline import Message, Pipeline
from llmpulse.stream_jobs.record_batches import install as guard_record_batches
from llmpulse.stream_jobs.record_batches import refused_reason
from llmpulse.stream_jobs.settings import WorkerSettings
from llmpulse.stream_jobs.sink import ClickHouseSink

__all__ = ["backlog", "catching_up", "create_app", "refresh_pause"]

log = logging.getLogger(__name__)


def _broker_credentials(settings: WorkerSettings) -> Any:
    """Faust credentials for SASL and/or TLS, from the settings' Kafka connection."""
    import faust

    conn = settings.kafka
    ssl_context = None
    if conn.uses_tls:
        import ssl

        ssl_context = ssl.create_default_context(cafile=conn.ssl_cafile)
    if conn.sasl_mechanism:
        return faust.SASLCredentials(
            username=conn.sasl_username or "",
            password=conn.sasl_password or "",
            mechanism=conn.sasl_mechanism,
            ssl_context=ssl_context,
        )
    if ssl_context is not None:
        return faust.SSLCredentials(ssl_context)
    return None


def refresh_pause(settings: WorkerSettings, took_s: float) -> float:
    """Seconds until the next analytics refresh: the interval, or longer when a refresh
    is slow, so refreshing takes at most ``analytics_max_share`` of the worker's time
    (a refresh re-reads the minutes it touches, which grow with the traffic)."""
    share = settings.analytics_max_share
    return max(settings.analytics_interval_s, took_s * (1 - share) / share)


def backlog(highwater: Callable[[Any], int | None], next_offsets: dict[Any, int]) -> int:
    """Messages in the log that the worker has not handled yet: per partition, the
    log end offset the consumer last saw (``highwater``, no broker round trip; None
    while unknown) minus the next offset to handle."""
    return sum(max(0, (highwater(tp) or 0) - nxt) for tp, nxt in next_offsets.items())


def catching_up(settings: WorkerSettings, stats: IngestStats, now: float, since: float) -> bool:
    """Whether to hold the analytics refresh back a little longer: the worker is working
    through a backlog (at least a full batch was waiting after its latest batch, or
    that batch, a moment ago, was full), and the last refresh was less than
    ``analytics_max_delay_s`` ago. Refreshing then recomputes minutes that more of
    the backlog will change again; ingest catches up faster without it."""
    behind = max(stats.behind, stats.last_batch_messages) >= settings.batch_max_messages
    recent = now - stats.last_batch_at <= 2 * settings.batch_max_seconds + 1.0
    return behind and recent and since < settings.analytics_max_delay_s


def create_app(
    settings: WorkerSettings,
    pipeline: Pipeline,
    sink: ClickHouseSink,
    analytics: Any = None,
    report: Any = None,
) -> tuple[Any, Ingest]:
    """A Faust app consuming ``settings.topic`` into the :class:`Ingest` it builds
    (complete: its dead letters go to the app's dead-letter topic)."""
    try:
        import faust
    except ImportError as exc:
        raise MissingExtraError("faust") from exc
    guard_record_batches(settings.max_batch_bytes)

    app = faust.App(
        settings.group_id,
        broker=[f"kafka://{b}" for b in settings.kafka.servers],
        broker_credentials=_broker_credentials(settings),
        store="memory://",
        web_enabled=False,
        autodiscover=False,
        consumer_auto_offset_reset="earliest",
        broker_commit_interval=0.5,
        broker_check_crcs=settings.check_crcs,
        broker_session_timeout=settings.session_timeout_s,
        broker_heartbeat_interval=min(3.0, settings.session_timeout_s / 3),
        consumer_max_fetch_size=max(settings.max_message_bytes * 2, 16 * 1024 * 1024),
        producer_max_request_size=1024 * 1024,
        topic_allow_declare=True,
        # Shutdown and rebalance do not wait for the batch in hand: it is acked only
        # once durable, so a batch cut short (e.g. mid-backoff while ClickHouse is
        # down) is simply read again; waiting made SIGTERM hang for 90 s and more.
        stream_wait_empty=False,
        datadir=str(settings.data_dir / "faust"),
    )

    def raw_topic(name: str) -> Any:
        return app.topic(
            name, key_type=bytes, value_type=bytes, key_serializer="raw", value_serializer="raw"
        )

    spans = raw_topic(settings.topic)
    dead = raw_topic(settings.dead_letter_topic)

    async def send_dead_letter(key: bytes, value: bytes) -> Any:
        return await dead.send(key=key, value=value)

    ingest = Ingest(pipeline, sink, send_dead_letter)
    drift = raw_topic(settings.drift_topic)

    next_offsets: dict[Any, int] = {}

    def highwater(tp: Any) -> int | None:
        try:
            return app.consumer.highwater(tp)
        except Exception:  # not assigned (any more): unknown
            return None

    @app.agent(spans, name="ingest")
    async def ingest_agent(stream: Any) -> None:
        async for events in stream.noack_take(
            settings.batch_max_messages, within=settings.batch_max_seconds
        ):
            msgs = [
                Message(
                    e.message.topic,
                    e.message.partition,
                    e.message.offset,
                    e.message.value or b"",
                    "" if e.message.value else refused_reason(e.message.headers),
                )
                for e in events
            ]
            await ingest.handle(msgs)
            for event in events:
                await stream.ack(event)
                next_offsets[event.message.tp] = event.message.offset + 1
            # Batches can come short while a backlog waits (fetching is bursty).
            ingest.stats.behind = backlog(highwater, next_offsets)

    @app.task
    async def announce_ready() -> None:
        # Faust has set up its log handlers by now: clients failing in a loop (the
        # broker down) write one line per message kind per 10 s, not 80 a second.
        rate_limit_handlers()
        (settings.data_dir / "ready").write_text("ready\n")
        log.info("llmpulse worker ready: %s -> %s", settings.topic, settings.clickhouse_database)

    if analytics is not None:

        @app.task
        async def refresh_analytics() -> None:
            wait, last = settings.analytics_interval_s, time.monotonic()
            while True:
                await asyncio.sleep(wait)
                while catching_up(
                    settings, ingest.stats, time.monotonic(), time.monotonic() - last
                ):
                    await asyncio.sleep(0.5)
                started = time.monotonic()
                try:
                    # Its own thread and ClickHouse session: ingest goes on meanwhile.
                    stats: RefreshStats = await ingest.in_analytics_thread(analytics.refresh)
                except Exception:  # never let analytics stop ingestion
                    log.exception("analytics refresh failed; retrying next interval")
                    continue
                last = time.monotonic()
                took = last - started
                wait = refresh_pause(settings, took)
                log.log(
                    logging.INFO if took >= 1.0 else logging.DEBUG,
                    "analytics refresh: %d calls in %d minutes took %.1fs; next in %.0fs",
                    stats.rows,
                    stats.minutes,
                    took,
                    wait,
                )
                for event in stats.events:
                    key, value = drift_record(event)
                    await drift.send(key=key, value=value)

    if report is not None:
        report_job, report_interval = report

        @app.timer(interval=report_interval)
        async def daily_report() -> None:
            try:
                outcome = await ingest.in_analytics_thread(report_job)
            except Exception:  # never let the report stop ingestion
                log.exception("daily report failed; retrying in 5 minutes")
                return
            if outcome:
                log.info("daily report: %s", outcome)

    lag_recorder = LagRecorder(settings, ingest, sink.client)

    @app.timer(interval=5.0)
    async def record_lag() -> None:
        try:
            await lag_recorder.record()
        except Exception as exc:  # the broker may be busy: the next sample will do
            log.warning("consumer lag sample skipped: %r", exc)

    @app.timer(interval=10.0)
    async def progress() -> None:
        log.info("llmpulse ingest: %s", ingest.stats.line())

    return app, ingest
