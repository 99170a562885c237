"""Pipeline-side settings: argument > ``LLMPULSE_*`` environment variable > default.

The settings models are the only readers of the environment on the pipeline side,
and they document themselves: each field's description is the variable's one
documentation. ``llmpulse settings`` prints them all, and README's configuration
tables are generated from :func:`variables` (a test keeps README in step).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

from llmpulse.collectors.config import (
    APP_VARIABLES,
    DEFAULT_BOOTSTRAP,
    DEFAULT_TOPIC,
    KafkaConnection,
    Variable,
)

__all__ = [
    "BrokerSettings",
    "GrafanaSettings",
    "WorkerSettings",
    "settings_models",
    "variables",
]


class WorkerSettings(BaseSettings):
    """Everything the worker and the commands need to know, frozen once read."""

    model_config = SettingsConfigDict(env_prefix="LLMPULSE_", frozen=True, extra="ignore")

    kafka_bootstrap: str = Field(DEFAULT_BOOTSTRAP, description="Kafka bootstrap servers")
    kafka_security_protocol: str = Field(
        "PLAINTEXT", description="`PLAINTEXT`, `SSL`, `SASL_PLAINTEXT` or `SASL_SSL`"
    )
    kafka_sasl_mechanism: str | None = Field(
        None, description="`PLAIN`, `SCRAM-SHA-256` or `SCRAM-SHA-512`"
    )
    kafka_sasl_username: str | None = Field(None, description="SASL user name")
    kafka_sasl_password: SecretStr | None = Field(
        None, description="SASL password (a secret: never logged)"
    )
    kafka_ssl_cafile: Path | None = Field(None, description="CA bundle for TLS")
    topic: str = Field(DEFAULT_TOPIC, description="input topic of OTLP span batches")
    dead_letter_topic: str = Field("otlp_spans.dlq", description="rejects, with their reason")
    drift_topic: str = Field("llmpulse.drift_events", description="drift events as JSON")
    group_id: str = Field("llmpulse-worker", description="consumer group / Faust app id")
    clickhouse_dsn: SecretStr = Field(
        SecretStr("chdb://./.llmpulse/chdb"),
        description="`chdb:///dir` (embedded engine) or `http(s)://user:password@host:port` "
        "(a secret: logged without its password)",
    )
    clickhouse_database: str = Field(
        "llmpulse", description="database of every table, in every query, panel and alert"
    )
    retention_days: int = Field(90, gt=0, description="TTL of every table, in days")
    batch_max_messages: int = Field(
        200, gt=0, description="flush a batch to ClickHouse after this many Kafka messages"
    )
    batch_max_seconds: float = Field(1.0, gt=0, description="... or after this many seconds")
    max_message_bytes: int = Field(
        8 * 1024 * 1024, gt=0, description="larger messages are dead-lettered"
    )
    max_batch_bytes: int = Field(
        64 * 1024 * 1024,
        gt=0,
        description="a compressed Kafka record batch inflating past this is dead-lettered "
        "unread (checked as it inflates: memory per batch stays bounded)",
    )
    session_timeout_s: float = Field(
        30.0,
        ge=6.0,
        description="Kafka group session timeout: a crashed worker's partitions move after it",
    )
    check_crcs: bool = Field(
        False,
        description="recompute Kafka record-batch CRCs on fetch (librdkafka's default is off "
        "too: TCP/TLS guard the bytes, a damaged message fails decoding, counted)",
    )
    analytics_interval_s: float = Field(
        5.0, gt=0, description="how often rollups, transaction costs and drift are refreshed"
    )
    analytics_max_share: float = Field(
        0.2,
        gt=0,
        le=1,
        description="at most this share of the worker's time goes to analytics refreshes",
    )
    analytics_max_delay_s: float = Field(
        60.0,
        gt=0,
        description="while catching up on a backlog, refreshes wait up to this long",
    )
    analytics_nice: int = Field(
        10,
        ge=0,
        le=19,
        description="nice value of the engine threads running analytics (0: off), so "
        "inserts go first on a busy CPU",
    )
    drift_detector: str = Field(
        "page_hinkley",
        description="`page_hinkley`, `page_hinkley_fast`, `adwin` or `kswin` "
        "(figures in docs/performance.md)",
    )
    price_catalogue: Path | None = Field(
        None, description="a price catalogue file replacing the shipped one"
    )
    data_dir: Path = Field(Path(".llmpulse"), description="working folder of the worker")
    allocator_tuning: bool = Field(
        True,
        description="`llmpulse worker` restarts itself once with glibc malloc settings that "
        "reuse large buffers (up to 256 MiB more resident; see stream_jobs/allocator.py)",
    )
    log_level: str = Field(
        "info", description="`debug`, `info`, `warning` or `error` (`-v` is `debug`)"
    )

    @property
    def kafka(self) -> KafkaConnection:
        """The Kafka connection every client of the worker and the commands uses."""
        password = self.kafka_sasl_password
        return KafkaConnection(
            bootstrap=self.kafka_bootstrap,
            security_protocol=self.kafka_security_protocol,
            sasl_mechanism=self.kafka_sasl_mechanism,
            sasl_username=self.kafka_sasl_username,
            sasl_password=password.get_secret_value() if password else None,
            ssl_cafile=str(self.kafka_ssl_cafile) if self.kafka_ssl_cafile else None,
        )

    @property
    def embedded(self) -> bool:
        """True when the store is the embedded engine (one process owns its folder)."""
        return self.clickhouse_dsn.get_secret_value().startswith("chdb://")


class GrafanaSettings(BaseSettings):
    """``llmpulse grafana publish``: the Grafana to publish to, and what its
    ClickHouse datasource connects with."""

    model_config = SettingsConfigDict(env_prefix="LLMPULSE_GRAFANA_", frozen=True, extra="ignore")

    url: str = Field("http://127.0.0.1:3000", description="Grafana URL")
    token: SecretStr | None = Field(None, description="service account token")
    user: str | None = Field(None, description="... or user name (basic auth)")
    password: SecretStr | None = Field(None, description="... and password")
    clickhouse_host: str = Field("clickhouse", description="datasource: ClickHouse host")
    clickhouse_port: int = Field(8123, description="datasource: ClickHouse HTTP port")
    clickhouse_user: str = Field("grafana", description="datasource: ClickHouse user")
    clickhouse_password: SecretStr = Field(
        SecretStr(""), description="datasource: ClickHouse password"
    )
    alert_emails: str = Field(
        "",
        validation_alias="LLMPULSE_ALERT_EMAILS",
        description="(`LLMPULSE_ALERT_EMAILS`) alert e-mail addresses, `;` separated",
    )
    alert_slack_url: SecretStr = Field(
        SecretStr(""),
        validation_alias="LLMPULSE_ALERT_SLACK_URL",
        description="(`LLMPULSE_ALERT_SLACK_URL`) Slack-style alert webhook",
    )
    alert_webhook_url: SecretStr = Field(
        SecretStr(""),
        validation_alias="LLMPULSE_ALERT_WEBHOOK_URL",
        description="(`LLMPULSE_ALERT_WEBHOOK_URL`) generic alert webhook",
    )

    def placeholders(self) -> dict[str, str]:
        """Values of the ``${VAR}`` placeholders in the provisioning files."""
        return {
            "LLMPULSE_ALERT_EMAILS": self.alert_emails,
            "LLMPULSE_ALERT_SLACK_URL": self.alert_slack_url.get_secret_value(),
            "LLMPULSE_ALERT_WEBHOOK_URL": self.alert_webhook_url.get_secret_value(),
            "LLMPULSE_GRAFANA_CLICKHOUSE_HOST": self.clickhouse_host,
            "LLMPULSE_GRAFANA_CLICKHOUSE_PORT": str(self.clickhouse_port),
            "LLMPULSE_GRAFANA_CLICKHOUSE_USER": self.clickhouse_user,
            "LLMPULSE_GRAFANA_CLICKHOUSE_PASSWORD": self.clickhouse_password.get_secret_value(),
        }

    def datasource(self) -> dict[str, Any]:
        """The ClickHouse connection of the datasource, as publish() takes it."""
        return {
            "host": self.clickhouse_host,
            "port": str(self.clickhouse_port),
            "user": self.clickhouse_user,
            "password": self.clickhouse_password.get_secret_value(),
        }


class BrokerSettings(BaseSettings):
    """Where ``llmpulse kafka fetch`` keeps the broker's jars (outside git)."""

    model_config = SettingsConfigDict(env_prefix="LLMPULSE_", frozen=True, extra="ignore")

    cache_dir: Path | None = Field(
        None, description="cache of the Kafka jars (default `$XDG_CACHE_HOME/llmpulse`)"
    )
    xdg_cache_home: Path | None = Field(
        None,
        validation_alias="XDG_CACHE_HOME",
        description="(`XDG_CACHE_HOME`) base of the default cache, else `~/.cache`",
    )

    def resolved_cache_dir(self) -> Path:
        if self.cache_dir:
            return self.cache_dir
        base = self.xdg_cache_home or Path.home() / ".cache"
        return base / "llmpulse"


def settings_models() -> list[type[BaseSettings]]:
    """Every settings model of the pipeline side (the report's and alerting's too)."""
    from llmpulse.stream_jobs.report.deliver import ReportSettings

    return [WorkerSettings, ReportSettings, GrafanaSettings, BrokerSettings]


def _default(value: Any) -> str:
    if isinstance(value, SecretStr):
        value = value.get_secret_value()
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def variables() -> dict[str, list[Variable]]:
    """Every documented variable, by side: the app's, then each settings model's."""
    out: dict[str, list[Variable]] = {"app (exporter, install())": list(APP_VARIABLES)}
    seen = {v.name for v in APP_VARIABLES}
    for model in settings_models():
        prefix = str(model.model_config.get("env_prefix", ""))
        rows = []
        for name, f in model.model_fields.items():
            alias = f.validation_alias
            env = alias if isinstance(alias, str) else f"{prefix}{name}".upper()
            if env not in seen:  # the Kafka variables: one name, both sides, listed once
                rows.append(Variable(env, _default(f.default), f.description or ""))
                seen.add(env)
        out[f"{model.__name__}"] = rows
    return out


def markdown() -> str:
    """The configuration tables README carries, one per side/model."""
    parts = []
    for title, rows in variables().items():
        parts.append(f"**{title}**\n\n| variable | default | meaning |\n| --- | --- | --- |")
        parts.extend(
            f"| `{v.name}` | {f'`{v.default}`' if v.default else ''} | {v.doc} |" for v in rows
        )
        parts.append("")
    return "\n".join(parts).rstrip() + "\n"
