"""Grafana alert rules, contact points and notification policy, as provisioning files.

Each rule is one SQL query returning ``(series labels..., value)`` for the last
minutes, a threshold and a pending period. The same SQL runs in the tests on
crafted data, which must make it fire, and on healthy data, which must not.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from llmpulse.stream_jobs.analytics.sketch import sql_quantile
from llmpulse.stream_jobs.grafana.build import DATASOURCE_TYPE, DATASOURCE_UID
from llmpulse.stream_jobs.grafana.panels import monthly_budget

__all__ = ["ALERTS", "Alert", "contact_points", "policies", "rules_file", "write_alerting"]


@dataclass(frozen=True)
class Alert:
    uid: str
    title: str
    sql: str  # returns label columns and a numeric `value`
    threshold: float
    pending: str
    summary: str
    severity: str = "warning"


_RECENT = "minute >= toStartOfMinute(now() - INTERVAL 10 MINUTE)"

ALERTS: tuple[Alert, ...] = (
    Alert(
        "llmpulse-latency-p95",
        "LLM p95 latency over 5 s",
        "WITH sumMap(latency_keys, latency_counts) AS m "
        f"SELECT request_model, {sql_quantile('m', 0.95)} AS value "
        f"FROM latency_1m FINAL WHERE {_RECENT} "
        "GROUP BY request_model HAVING sum(calls) >= 20",
        5000.0,
        "5m",
        "p95 latency of {{ $labels.request_model }} is {{ $values.A }} ms",
        "critical",
    ),
    Alert(
        "llmpulse-error-rate",
        "LLM error rate by risk tier",
        f"SELECT risk_tier, sum(errors) / sum(calls) AS value FROM cost_1m FINAL "
        f"WHERE {_RECENT} GROUP BY risk_tier HAVING sum(calls) >= 20",
        0.10,
        "5m",
        "error rate of {{ $labels.risk_tier }}-risk calls is {{ $values.A }}",
        "critical",
    ),
    Alert(
        "llmpulse-drift",
        "LLM drift detected",
        "SELECT service_name, model, metric, toFloat64(count()) AS value "
        "FROM drift_events FINAL WHERE detected_at >= now() - INTERVAL 30 MINUTE "
        "GROUP BY service_name, model, metric",
        0.0,
        "0s",
        "{{ $labels.metric }} of {{ $labels.service_name }}/{{ $labels.model }} changed",
    ),
    Alert(
        "llmpulse-spend-burn",
        "LLM spend today over the daily budget",
        "SELECT toFloat64(sum(cost_usd)) AS value FROM cost_1m FINAL "
        "WHERE minute >= toStartOfDay(now())",
        round(monthly_budget() / 30, 2),
        "0s",
        "spend today is ${{ $values.A }} "
        f"(daily budget ${monthly_budget() / 30:,.2f} = monthly ${monthly_budget():,.0f} / 30, "
        "from alerts/budgets.toml)",
        "warning",
    ),
    Alert(
        "llmpulse-pipeline-lag",
        "llmpulse pipeline is behind",
        "SELECT toFloat64(dateDiff('second', max(ingested_at), now64(3))) AS value "
        "FROM ingest_batches FINAL WHERE ingested_at >= now() - INTERVAL 1 DAY",
        300.0,
        "5m",
        "no Kafka message stored for {{ $values.A }} s",
        "critical",
    ),
    Alert(
        "llmpulse-dead-letters",
        "llmpulse dead-letter spike",
        "SELECT toFloat64(sum(rejected)) / greatest(toFloat64(sum(spans)), 1) AS value "
        "FROM ingest_batches FINAL WHERE ingested_at >= now() - INTERVAL 10 MINUTE",
        0.05,
        "5m",
        "{{ $values.A }} of spans rejected in 10 minutes",
        "warning",
    ),
)


def _rule(a: Alert) -> dict[str, Any]:
    return {
        "uid": a.uid,
        "title": a.title,
        "condition": "C",
        "for": a.pending,
        "noDataState": "OK",
        "execErrState": "Error",
        "labels": {"severity": a.severity, "team": "llmpulse"},
        "annotations": {"summary": a.summary},
        "data": [
            {
                "refId": "A",
                "datasourceUid": DATASOURCE_UID,
                "relativeTimeRange": {"from": 3600, "to": 0},
                "model": {
                    "refId": "A",
                    "datasource": {"type": DATASOURCE_TYPE, "uid": DATASOURCE_UID},
                    "editorType": "sql",
                    "format": 1,
                    "queryType": "table",
                    "rawSql": a.sql,
                },
            },
            {
                "refId": "B",
                "datasourceUid": "__expr__",
                "model": {"refId": "B", "type": "reduce", "expression": "A", "reducer": "last"},
            },
            {
                "refId": "C",
                "datasourceUid": "__expr__",
                "model": {
                    "refId": "C",
                    "type": "threshold",
                    "expression": "B",
                    "conditions": [{"evaluator": {"type": "gt", "params": [a.threshold]}}],
                },
            },
        ],
    }


def rules_file() -> dict[str, Any]:
    return {
        "apiVersion": 1,
        "groups": [
            {
                "orgId": 1,
                "name": "llmpulse",
                "folder": "llmpulse",
                "interval": "1m",
                "rules": [_rule(a) for a in ALERTS],
            }
        ],
    }


def contact_points() -> dict[str, Any]:
    """E-mail, Slack-style webhook and generic webhook; addresses from the environment."""
    return {
        "apiVersion": 1,
        "contactPoints": [
            {
                "orgId": 1,
                "name": "llmpulse",
                "receivers": [
                    {
                        "uid": "llmpulse-email",
                        "type": "email",
                        "settings": {"addresses": "${LLMPULSE_ALERT_EMAILS}"},
                    },
                    {
                        "uid": "llmpulse-slack",
                        "type": "slack",
                        "settings": {"url": "${LLMPULSE_ALERT_SLACK_URL}"},
                    },
                    {
                        "uid": "llmpulse-webhook",
                        "type": "webhook",
                        "settings": {"url": "${LLMPULSE_ALERT_WEBHOOK_URL}", "httpMethod": "POST"},
                    },
                ],
            }
        ],
    }


def policies() -> dict[str, Any]:
    return {
        "apiVersion": 1,
        "policies": [
            {
                "orgId": 1,
                "receiver": "llmpulse",
                "group_by": ["alertname", "severity"],
                "group_wait": "30s",
                "group_interval": "5m",
                "repeat_interval": "4h",
                "routes": [
                    {
                        "receiver": "llmpulse",
                        "object_matchers": [["severity", "=", "critical"]],
                        "repeat_interval": "1h",
                    }
                ],
            }
        ],
    }


def write_alerting(out_dir: Path) -> list[Path]:
    """Write the three provisioning files (JSON is valid YAML) into ``out_dir``."""
    import json

    out_dir.mkdir(parents=True, exist_ok=True)
    files = {
        "rules.yaml": rules_file(),
        "contact-points.yaml": contact_points(),
        "policies.yaml": policies(),
    }
    paths = []
    for name, doc in files.items():
        path = out_dir / name
        path.write_text(
            "# Generated by `llmpulse grafana build` from "
            "stream_jobs/grafana/alerts.py.\n" + json.dumps(doc, indent=2) + "\n"
        )
        paths.append(path)
    return paths
