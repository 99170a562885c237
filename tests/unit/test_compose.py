"""The compose stack parses with a real compose parser and keeps its promises."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from pathlib import Path

from compose_spec import PyCompose

ROOT = Path(__file__).resolve().parents[2]
COMPOSE = ROOT / "compose" / "docker-compose.yml"


def spec() -> dict:
    return PyCompose.from_yaml(COMPOSE.read_text()).to_dict()


def test_the_stack_parses_and_has_every_service() -> None:
    """Kafka (KRaft), ClickHouse, Grafana, worker, traffic, mail catcher."""
    services = spec()["services"]
    assert set(services) == {"kafka", "clickhouse", "worker", "traffic", "grafana", "mailpit"}
    assert services["kafka"]["image"].startswith("apache/kafka:")
    assert services["kafka"]["environment"]["KAFKA_PROCESS_ROLES"] == "broker,controller"
    assert services["clickhouse"]["image"].startswith("clickhouse/clickhouse-server:")
    assert services["grafana"]["image"].startswith("grafana/grafana:")
    assert (
        "grafana-clickhouse-datasource" in services["grafana"]["environment"]["GF_INSTALL_PLUGINS"]
    )
    assert services["worker"]["build"]["dockerfile"] == "compose/Dockerfile"
    assert (ROOT / "compose" / "Dockerfile").exists()


def test_no_default_passwords_and_least_privilege() -> None:
    """Secrets must be set (`:?`); the worker writes as `writer`, Grafana reads as `grafana`."""
    text = COMPOSE.read_text()
    for var in (
        "GRAFANA_ADMIN_PASSWORD",
        "LLMPULSE_CH_WRITER_PASSWORD",
        "LLMPULSE_CH_GRAFANA_PASSWORD",
    ):
        assert f"${{{var}:?" in text
        assert f"${{{var}:-" not in text
    services = spec()["services"]
    assert services["worker"]["environment"]["LLMPULSE_CLICKHOUSE_DSN"].startswith("http://writer:")
    assert services["grafana"]["environment"]["LLMPULSE_GRAFANA_CLICKHOUSE_USER"] == "grafana"
    users = ET.parse(ROOT / "compose" / "clickhouse" / "users.xml").getroot().find("users")
    assert users is not None
    grafana = users.find("grafana")
    assert grafana is not None and grafana.findtext("profile") == "readonly"
    assert [q.text for q in grafana.iter("query")] == ["GRANT SELECT ON llmpulse.*"]
    assert grafana.find("password").get("from_env") == "LLMPULSE_CH_GRAFANA_PASSWORD"


def test_grafana_gets_the_provisioning_that_exists() -> None:
    """Every mounted provisioning folder exists in the repository."""
    volumes = spec()["services"]["grafana"]["volumes"]
    sources = [v["source"] if isinstance(v, dict) else v.split(":")[0] for v in volumes]
    assert len(sources) == 4
    for source in sources:
        assert (ROOT / "compose" / source).resolve().is_dir(), source
    assert (ROOT / "alerts" / "rules.yaml").exists()


def test_the_parser_rejects_a_broken_file() -> None:
    """The validation is real: a misspelt key fails to parse."""
    import pytest

    broken = COMPOSE.read_text().replace("    healthcheck:", "    healtcheck:", 1)
    with pytest.raises(Exception, match="healtcheck"):
        PyCompose.from_yaml(broken)
