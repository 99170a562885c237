"""The environment variables the app side reads, each documented once.

Precedence everywhere: an explicit argument, then the variable, then the default.

- ``LLMPULSE_KAFKA_BOOTSTRAP``: Kafka bootstrap servers, comma separated
  (default ``127.0.0.1:9092``).
- ``LLMPULSE_TOPIC``: topic for OTLP span batches (default ``otlp_spans``).
- ``LLMPULSE_CAPTURE_CONTENT``: ``true`` to export prompt/completion content,
  PII-scrubbed (default ``false``: content never leaves the app).
- ``LLMPULSE_KAFKA_SECURITY_PROTOCOL``, ``LLMPULSE_KAFKA_SASL_MECHANISM``,
  ``LLMPULSE_KAFKA_SASL_USERNAME``, ``LLMPULSE_KAFKA_SASL_PASSWORD``: Kafka auth
  (defaults: PLAINTEXT, no SASL).
- ``LLMPULSE_KAFKA_SSL_CAFILE``: CA bundle for TLS (with ``SSL`` or ``SASL_SSL``).
- ``OTEL_SERVICE_NAME``: service name when ``install()`` is not given one.
"""

from __future__ import annotations

import os

DEFAULT_BOOTSTRAP = "127.0.0.1:9092"
DEFAULT_TOPIC = "otlp_spans"


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


def kafka_security(config: dict[str, object]) -> dict[str, object]:
    """Add SASL/TLS settings from the environment to a kafka-python config."""
    out = dict(config)
    proto = os.environ.get("LLMPULSE_KAFKA_SECURITY_PROTOCOL")
    if proto and "security_protocol" not in out:
        out["security_protocol"] = proto
    cafile = os.environ.get("LLMPULSE_KAFKA_SSL_CAFILE")
    if cafile and "ssl_cafile" not in out:
        out["ssl_cafile"] = cafile
    mech = os.environ.get("LLMPULSE_KAFKA_SASL_MECHANISM")
    if mech and "sasl_mechanism" not in out:
        out["sasl_mechanism"] = mech
        out.setdefault("sasl_plain_username", os.environ.get("LLMPULSE_KAFKA_SASL_USERNAME"))
        out.setdefault("sasl_plain_password", os.environ.get("LLMPULSE_KAFKA_SASL_PASSWORD"))
    return out
