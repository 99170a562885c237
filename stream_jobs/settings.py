"""Worker settings: argument > ``LLMPULSE_*`` environment variable > default.

Every variable, once:

- ``LLMPULSE_KAFKA_BOOTSTRAP``: Kafka bootstrap servers (default ``127.0.0.1:9092``).
- ``LLMPULSE_KAFKA_SECURITY_PROTOCOL`` (``PLAINTEXT``, ``SSL``, ``SASL_PLAINTEXT``,
  ``SASL_SSL``), ``LLMPULSE_KAFKA_SASL_MECHANISM`` / ``_USERNAME`` / ``_PASSWORD``
  (a secret: never logged), ``LLMPULSE_KAFKA_SSL_CAFILE``.
- ``LLMPULSE_TOPIC``: input topic of OTLP span batches (default ``otlp_spans``).
- ``LLMPULSE_DEAD_LETTER_TOPIC``: rejects (default ``otlp_spans.dlq``).
- ``LLMPULSE_DRIFT_TOPIC``: drift events as JSON (default ``llmpulse.drift_events``).
- ``LLMPULSE_GROUP_ID``: consumer group / Faust app id (default ``llmpulse-worker``).
- ``LLMPULSE_CLICKHOUSE_DSN``: ``chdb:///dir`` (embedded, default
  ``chdb://./.llmpulse/chdb``) or ``http(s)://user:password@host:port``.
- ``LLMPULSE_CLICKHOUSE_DATABASE``: database name (default ``llmpulse``).
- ``LLMPULSE_RETENTION_DAYS``: TTL of every table (default 90).
- ``LLMPULSE_BATCH_MAX_MESSAGES`` / ``LLMPULSE_BATCH_MAX_SECONDS``: flush a batch
  to ClickHouse after this many Kafka messages or seconds (200 / 1.0).
- ``LLMPULSE_MAX_MESSAGE_BYTES``: larger messages are dead-lettered (8 MiB).
- ``LLMPULSE_SESSION_TIMEOUT_S``: Kafka group session timeout; a crashed worker's
  partitions move to another after this long (default 30).
- ``LLMPULSE_ANALYTICS_INTERVAL_S``: how often rollups, transaction costs and
  drift are refreshed (default 5).
- ``LLMPULSE_ANALYTICS_MAX_SHARE``: at most this share of the worker's time goes to
  analytics refreshes (default 0.2); ``LLMPULSE_ANALYTICS_MAX_DELAY_S``: while the
  worker catches up on a backlog (a full batch already waiting in the log), refreshes
  wait up to this long (default 60) instead of recomputing minutes the backlog keeps
  changing. ``LLMPULSE_ANALYTICS_NICE``: nice value of the engine threads running
  analytics statements (default 10; 0: off), so inserts go first on a busy CPU.
- ``LLMPULSE_DRIFT_DETECTOR``: ``page_hinkley`` (default), ``page_hinkley_fast``,
  ``adwin`` or ``kswin`` (figures in docs/performance.md).
- ``LLMPULSE_PRICE_CATALOGUE``: path of a price catalogue replacing the shipped one.
- ``LLMPULSE_DATA_DIR``: working folder of the worker (default ``./.llmpulse``).
- ``LLMPULSE_ALLOCATOR_TUNING``: ``llmpulse worker`` restarts itself once with glibc
  malloc settings that reuse large buffers instead of taking fresh pages for each
  Kafka message and insert block (default true; up to 256 MiB more resident; see
  ``stream_jobs/allocator.py``).
"""

from __future__ import annotations

from pathlib import Path

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

__all__ = ["WorkerSettings"]


class WorkerSettings(BaseSettings):
    """Everything the worker needs to know, frozen once read."""

    model_config = SettingsConfigDict(env_prefix="LLMPULSE_", frozen=True, extra="ignore")

    kafka_bootstrap: str = "127.0.0.1:9092"
    kafka_security_protocol: str = "PLAINTEXT"
    kafka_sasl_mechanism: str | None = None
    kafka_sasl_username: str | None = None
    kafka_sasl_password: SecretStr | None = None
    kafka_ssl_cafile: Path | None = None
    topic: str = "otlp_spans"
    dead_letter_topic: str = "otlp_spans.dlq"
    drift_topic: str = "llmpulse.drift_events"
    group_id: str = "llmpulse-worker"
    clickhouse_dsn: str = "chdb://./.llmpulse/chdb"
    clickhouse_database: str = "llmpulse"
    retention_days: int = Field(default=90, gt=0)
    batch_max_messages: int = Field(default=200, gt=0)
    batch_max_seconds: float = Field(default=1.0, gt=0)
    max_message_bytes: int = Field(default=8 * 1024 * 1024, gt=0)
    session_timeout_s: float = Field(default=30.0, ge=6.0)
    #: Recompute Kafka record-batch CRCs on fetch (librdkafka's default is off too:
    #: TCP/TLS guard the bytes, and a damaged OTLP message fails decoding, counted).
    check_crcs: bool = False
    analytics_interval_s: float = Field(default=5.0, gt=0)
    #: At most this share of the worker's time goes to analytics refreshes; under heavy
    #: traffic they run less often than every ``analytics_interval_s`` (rollups lag more).
    analytics_max_share: float = Field(default=0.2, gt=0, le=1)
    #: While catching up on a backlog, refreshes wait up to this long (see app.catching_up).
    analytics_max_delay_s: float = Field(default=60.0, gt=0)
    #: Linux nice value of the engine threads running analytics statements (ClickHouse's
    #: ``os_thread_priority``): under CPU contention inserts go first. 0 turns it off.
    analytics_nice: int = Field(default=10, ge=0, le=19)
    drift_detector: str = "page_hinkley"
    price_catalogue: Path | None = None
    data_dir: Path = Path(".llmpulse")
    allocator_tuning: bool = True
    log_level: str = "info"
