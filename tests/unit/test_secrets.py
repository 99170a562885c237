"""Secrets come from configuration and never show up in reprs or logs."""

from __future__ import annotations

import pytest

from llmpulse.stream_jobs.clickhouse import redact_dsn as _redact
from llmpulse.stream_jobs.settings import WorkerSettings


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
        ("http://:pw-no-user@host:8123", "http://:***@host:8123"),
        ("https://u:p@ss@w@rd@host:8443/db", "https://u:***@host:8443/db"),
        ("http://w:pa/ss@ch:8123", "http://w:***@ch:8123"),
        ("https://ch:8443/?user=w&password=s3cret", "https://ch:8443/?user=w&password=***"),
    ],
)
def test_dsn_passwords_are_redacted_for_logs(dsn: str, shown: str) -> None:
    """Log lines show the DSN without its password."""
    assert _redact(dsn) == shown


def test_one_kafka_connection_reaches_every_client() -> None:
    """SASL/TLS given as settings reach the kafka-python clients' config too."""
    settings = WorkerSettings(
        kafka_bootstrap="a:9093,b:9093",
        kafka_security_protocol="SASL_SSL",
        kafka_sasl_mechanism="SCRAM-SHA-512",
        kafka_sasl_username="worker",
        kafka_sasl_password="pw-in-settings",
        kafka_ssl_cafile="/etc/ca.pem",
    )
    config = settings.kafka.client_config(client_id="x")
    assert config["bootstrap_servers"] == ["a:9093", "b:9093"]
    assert config["security_protocol"] == "SASL_SSL"
    assert config["sasl_plain_password"] == "pw-in-settings"
    assert config["ssl_cafile"] == "/etc/ca.pem"
    assert "pw-in-settings" not in repr(settings.kafka)


def test_worker_kafka_clients_take_the_settings_connection() -> None:
    """Admin, shutdown producer and lag probe are built from settings.kafka, not env."""
    import inspect

    from llmpulse.stream_jobs import lag, worker

    for module in (worker, lag):
        source = inspect.getsource(module)
        assert "os.environ" not in source
        assert "kafka_security(" not in source
    assert "conn.client_config" in inspect.getsource(lag)


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


def test_readme_configuration_tables_come_from_the_settings_models() -> None:
    """README's variable tables are exactly what the settings models generate."""
    from pathlib import Path

    from llmpulse.stream_jobs.settings import markdown

    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text()
    block = readme.split("<!-- settings:begin -->\n", 1)[1].split("<!-- settings:end -->", 1)[0]
    assert block == markdown()
    assert "`LLMPULSE_LOG_LEVEL`" in block


def test_library_code_reads_no_environment_variable() -> None:
    """Only the settings modules read os.environ (STYLE 17)."""
    from pathlib import Path

    root = Path(__file__).resolve().parents[2]
    allowed = {"collectors/config.py", "stream_jobs/settings.py", "stream_jobs/allocator.py"}
    harness = ("stream_jobs/bench/", "stream_jobs/demo/", "stream_jobs/worker_process.py")
    offenders = [
        str(path.relative_to(root))
        for folder in ("collectors", "stream_jobs", "schemas", "llmpulse")
        for path in (root / folder).rglob("*.py")
        if ("os.environ" in path.read_text() or "getenv(" in path.read_text())
        and str(path.relative_to(root)) not in allowed
        and not str(path.relative_to(root)).startswith(harness)
    ]
    assert offenders == []
