"""App-side configuration: the one reader of the environment on the app side.

Precedence everywhere: an explicit argument, then the variable, then the default.
Every variable is listed once, in :data:`APP_VARIABLES` (README's configuration
tables are generated from it and from the worker's settings models).

:class:`KafkaConnection` is the one description of how to reach Kafka (servers,
SASL, TLS); the exporter, the worker and every command build their Kafka clients
from it, so a security setting given once reaches every client.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, NamedTuple

__all__ = [
    "APP_VARIABLES",
    "DEFAULT_BOOTSTRAP",
    "DEFAULT_TOPIC",
    "KafkaConnection",
    "Variable",
    "flag",
    "setting",
]

DEFAULT_BOOTSTRAP = "127.0.0.1:9092"
DEFAULT_TOPIC = "otlp_spans"


class Variable(NamedTuple):
    """One documented environment variable."""

    name: str
    default: str
    doc: str


#: Every variable the app side (exporter, ``install()``) reads.
APP_VARIABLES: tuple[Variable, ...] = (
    Variable(
        "LLMPULSE_KAFKA_BOOTSTRAP", DEFAULT_BOOTSTRAP, "Kafka bootstrap servers, comma separated"
    ),
    Variable("LLMPULSE_TOPIC", DEFAULT_TOPIC, "topic of the OTLP span batches"),
    Variable(
        "LLMPULSE_CAPTURE_CONTENT",
        "false",
        "`true` exports prompt/completion content, PII-scrubbed; off, content never leaves the app",
    ),
    Variable(
        "LLMPULSE_KAFKA_SECURITY_PROTOCOL",
        "PLAINTEXT",
        "`PLAINTEXT`, `SSL`, `SASL_PLAINTEXT` or `SASL_SSL`",
    ),
    Variable("LLMPULSE_KAFKA_SASL_MECHANISM", "", "`PLAIN`, `SCRAM-SHA-256` or `SCRAM-SHA-512`"),
    Variable("LLMPULSE_KAFKA_SASL_USERNAME", "", "SASL user name"),
    Variable("LLMPULSE_KAFKA_SASL_PASSWORD", "", "SASL password (a secret: never logged)"),
    Variable("LLMPULSE_KAFKA_SSL_CAFILE", "", "CA bundle for TLS (with `SSL` or `SASL_SSL`)"),
    Variable("OTEL_SERVICE_NAME", "unknown", "service name when `install()` is not given one"),
)


def setting(value: str | None, env: str, default: str) -> str:
    """``value`` if given, else the environment variable ``env``, else ``default``."""
    if value:
        return value
    return os.environ.get(env) or default


def flag(value: bool | None, env: str, default: bool = False) -> bool:
    """Boolean setting with the same precedence; ``1/true/yes/on`` are true."""
    if value is not None:
        return value
    raw = os.environ.get(env)
    if raw is None or raw == "":
        return default
    return raw.strip().lower() in {"1", "true", "yes", "on"}


@dataclass(frozen=True)
class KafkaConnection:
    """How to reach Kafka: servers, security protocol, SASL and TLS.

    The password is kept out of ``repr()``; :meth:`client_config` hands it only to
    the Kafka client.
    """

    bootstrap: str = DEFAULT_BOOTSTRAP
    security_protocol: str = "PLAINTEXT"
    sasl_mechanism: str | None = None
    sasl_username: str | None = None
    sasl_password: str | None = field(default=None, repr=False)
    ssl_cafile: str | None = None

    @classmethod
    def from_env(
        cls, bootstrap: str | None = None, env: Mapping[str, str] | None = None
    ) -> KafkaConnection:
        """Arguments first, then the ``LLMPULSE_KAFKA_*`` variables, then the defaults."""
        e = os.environ if env is None else env
        return cls(
            bootstrap=bootstrap or e.get("LLMPULSE_KAFKA_BOOTSTRAP") or DEFAULT_BOOTSTRAP,
            security_protocol=e.get("LLMPULSE_KAFKA_SECURITY_PROTOCOL") or "PLAINTEXT",
            sasl_mechanism=e.get("LLMPULSE_KAFKA_SASL_MECHANISM") or None,
            sasl_username=e.get("LLMPULSE_KAFKA_SASL_USERNAME") or None,
            sasl_password=e.get("LLMPULSE_KAFKA_SASL_PASSWORD") or None,
            ssl_cafile=e.get("LLMPULSE_KAFKA_SSL_CAFILE") or None,
        )

    @property
    def servers(self) -> list[str]:
        """The bootstrap servers as a list."""
        return [s.strip() for s in self.bootstrap.split(",") if s.strip()]

    @property
    def uses_tls(self) -> bool:
        return self.security_protocol.upper() in {"SSL", "SASL_SSL"}

    def client_config(self, **extra: Any) -> dict[str, Any]:
        """A kafka-python client configuration (producer, consumer or admin)."""
        config: dict[str, Any] = {
            "bootstrap_servers": self.servers,
            "security_protocol": self.security_protocol.upper(),
        }
        if self.ssl_cafile:
            config["ssl_cafile"] = self.ssl_cafile
        if self.sasl_mechanism:
            config["sasl_mechanism"] = self.sasl_mechanism
            config["sasl_plain_username"] = self.sasl_username
            config["sasl_plain_password"] = self.sasl_password
        return {**config, **extra}
