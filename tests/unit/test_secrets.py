"""Secrets come from configuration and never show up in reprs or logs."""

from __future__ import annotations

import pytest

from llmpulse.stream_jobs.settings import WorkerSettings
from llmpulse.stream_jobs.worker import _redact


def test_sasl_password_is_a_secret(monkeypatch: pytest.MonkeyPatch) -> None:
    """The Kafka password read from the environment is masked in every rendering."""
    monkeypatch.setenv("LLMPULSE_KAFKA_SASL_PASSWORD", "hunter2-very-secret")
    settings = WorkerSettings()
    assert settings.kafka_sasl_password is not None
    assert settings.kafka_sasl_password.get_secret_value() == "hunter2-very-secret"
    for text in (repr(settings), str(settings), settings.model_dump_json()):
        assert "hunter2" not in text


@pytest.mark.parametrize(
    ("dsn", "shown"),
    [
        ("https://writer:p%40ss@ch.example:8443/llm", "https://writer:***@ch.example:8443/llm"),
        ("http://default:@localhost:8123", "http://default:***@localhost:8123"),
        ("chdb:///var/lib/llmpulse", "chdb:///var/lib/llmpulse"),
    ],
)
def test_dsn_passwords_are_redacted_for_logs(dsn: str, shown: str) -> None:
    """Log lines show the DSN without its password."""
    assert _redact(dsn) == shown


def test_worker_kafka_credentials_follow_the_security_protocol() -> None:
    """PLAINTEXT needs none; SSL gets a TLS context; SASL_SSL gets both, from settings."""
    import faust

    from llmpulse.stream_jobs.app import _broker_credentials

    assert _broker_credentials(WorkerSettings()) is None
    tls = _broker_credentials(WorkerSettings(kafka_security_protocol="SSL"))
    assert isinstance(tls, faust.SSLCredentials)
    sasl = _broker_credentials(
        WorkerSettings(
            kafka_security_protocol="SASL_SSL",
            kafka_sasl_mechanism="SCRAM-SHA-512",
            kafka_sasl_username="worker",
            kafka_sasl_password="pw",
        )
    )
    assert isinstance(sasl, faust.SASLCredentials)
    assert (sasl.username, sasl.password) == ("worker", "pw")
    assert sasl.ssl_context is not None
