"""Every alert rule's SQL fires on crafted bad data and stays quiet on healthy data."""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from llmpulse.schemas.record import BATCH_COLUMNS
from llmpulse.stream_jobs import Message, Pipeline
from llmpulse.stream_jobs.analytics.job import EVENT_COLUMNS, AnalyticsJob
from llmpulse.stream_jobs.clickhouse import migrate
from llmpulse.stream_jobs.grafana.alerts import ALERTS, contact_points, policies, rules_file
from llmpulse.stream_jobs.sink import ClickHouseSink
from tests import otlp

ROOT = Path(__file__).resolve().parents[2]
BY_UID = {a.uid: a for a in ALERTS}


def _old_batch(client: Any, db: str) -> None:
    """A message stored two hours ago (the pipeline-lag rule looks at the newest)."""
    row = ["old", 0, 0, 10, 1, 1, 0, 0, 0, datetime.now(UTC) - timedelta(hours=2)]
    client.insert(f"{db}.ingest_batches", [row], column_names=list(BATCH_COLUMNS))


def firing(client_in: Any, db: str, uid: str) -> list[tuple[Any, ...]]:
    alert = BY_UID[uid]
    rows = client_in(db).query(alert.sql).result_rows
    return [tuple(r) for r in rows if r[-1] is not None and r[-1] > alert.threshold]


DAY_NS = 86_400 * 10**9


def fill(client: Any, db: str, bad: bool) -> None:
    migrate(client, db)
    sink, pipe = ClickHouseSink(client, db), Pipeline()
    now = time.time_ns()
    spans = []
    for i in range(60):
        start = now - (i % 8) * 60 * 10**9 - 5 * 10**9
        spans.append(
            otlp.span(
                otlp.gen_ai("gpt-4o-mini", inp=500, out=50, **{"llmpulse.risk_tier": "low"}),
                start_ns=start,
                duration_ms=800,
            )
        )
        if bad:
            spans.append(
                otlp.span(
                    otlp.gen_ai("slow-model", **{"llmpulse.risk_tier": "low"}),
                    start_ns=start,
                    duration_ms=8000,
                )
            )
            spans.append(
                otlp.span(
                    otlp.gen_ai("gpt-4o-mini", **{"llmpulse.risk_tier": "high"}),
                    start_ns=start,
                    error=i % 2 == 0,
                )
            )
            if i < 12:  # ~$27 each: today's spend passes the $300 daily budget (UTC day:
                # started after midnight even when the test runs just after it)
                today = max(now - 5 * 10**9, now // DAY_NS * DAY_NS + 10**9)
                spans.append(
                    otlp.span(otlp.gen_ai("claude-sonnet-4", inp=9_000_000, out=10), start_ns=today)
                )
            if i < 20:
                spans.append(otlp.span(otlp.gen_ai(inp=-1), start_ns=start))
    sink.write(pipe.process([Message("t", 0, 0, otlp.request(spans))]))
    AnalyticsJob(client, db).refresh(final=True)
    if bad:
        client.insert(
            f"{db}.drift_events",
            [
                [
                    datetime.now(UTC).replace(second=0, microsecond=0),
                    "svc",
                    "gpt-4o-mini",
                    "latency_p50_ms",
                    "shift",
                    "page_hinkley",
                    800.0,
                    2000.0,
                    150.0,
                    "test",
                    datetime.now(UTC),
                ]
            ],
            column_names=EVENT_COLUMNS,
        )
        _old_batch(client, db)


@pytest.fixture
def dbs(chdb_client: Any) -> Iterator[tuple[str, str]]:
    good, bad = f"g_{uuid.uuid4().hex[:10]}", f"b_{uuid.uuid4().hex[:10]}"
    fill(chdb_client, good, bad=False)
    fill(chdb_client, bad, bad=True)
    yield good, bad
    for db in (good, bad):
        chdb_client.command(f"DROP DATABASE IF EXISTS {db}")


def test_rules_fire_on_bad_data_only(client_in: Any, dbs: tuple[str, str]) -> None:
    """Each rule: no firing series on healthy data; the crafted culprit on bad data."""
    good, bad = dbs
    for alert in ALERTS:
        if alert.uid != "llmpulse-pipeline-lag":
            assert firing(client_in, good, alert.uid) == [], alert.uid
    assert [r[0] for r in firing(client_in, bad, "llmpulse-latency-p95")] == ["slow-model"]
    assert [r[0] for r in firing(client_in, bad, "llmpulse-error-rate")] == ["high"]
    assert [r[:3] for r in firing(client_in, bad, "llmpulse-drift")] == [
        ("svc", "gpt-4o-mini", "latency_p50_ms")
    ]
    assert len(firing(client_in, bad, "llmpulse-spend-burn")) == 1
    assert len(firing(client_in, bad, "llmpulse-dead-letters")) == 1
    assert firing(client_in, good, "llmpulse-pipeline-lag") == []


def test_pipeline_lag_fires_when_nothing_arrives(chdb_client: Any, client_in: Any) -> None:
    """Messages stored two hours ago and nothing since: the lag rule fires."""
    db = f"l_{uuid.uuid4().hex[:10]}"
    migrate(chdb_client, db)
    _old_batch(chdb_client, db)
    try:
        (row,) = firing(client_in, db, "llmpulse-pipeline-lag")
        assert row[0] > 7000
    finally:
        chdb_client.command(f"DROP DATABASE {db}")


def test_provisioning_files_are_in_sync_and_read_from_env() -> None:
    """alerts/*.yaml equal what the code builds; secrets and addresses come from env."""
    for name, doc in (
        ("rules.yaml", rules_file()),
        ("contact-points.yaml", contact_points()),
        ("policies.yaml", policies()),
    ):
        text = (ROOT / "alerts" / name).read_text()
        assert json.loads(text.split("\n", 1)[1]) == doc
    cp = json.dumps(contact_points())
    assert "${LLMPULSE_ALERT_EMAILS}" in cp and "${LLMPULSE_ALERT_SLACK_URL}" in cp
    rules = rules_file()["groups"][0]["rules"]
    assert {r["uid"] for r in rules} == set(BY_UID)
    assert all(r["data"][0]["datasourceUid"] == "llmpulse-clickhouse" for r in rules)


def test_no_rule_names_a_database_and_the_budget_comes_from_budgets_toml() -> None:
    """Alert SQL relies on the datasource's database; the spend rule is budgets.toml / 30."""
    from llmpulse.stream_jobs.grafana.panels import monthly_budget

    for alert in ALERTS:
        assert "llmpulse." not in alert.sql, alert.uid
    assert BY_UID["llmpulse-spend-burn"].threshold == round(monthly_budget() / 30, 2)
