"""Dashboards are built from code, committed in sync, and speak the plugin's language."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest

from llmpulse.stream_jobs.grafana import DASHBOARDS, build_dashboard, expand

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize("dashboard", DASHBOARDS, ids=lambda d: d.uid)
def test_committed_json_is_what_the_code_builds(dashboard) -> None:
    """dashboards/<uid>.json equals a fresh build: run `llmpulse grafana build` after edits."""
    committed = json.loads((ROOT / "dashboards" / f"{dashboard.uid}.json").read_text())
    assert committed == build_dashboard(dashboard)


def test_every_panel_queries_the_provisioned_clickhouse_datasource() -> None:
    """Each panel has one SQL target on the ClickHouse plugin's provisioned uid."""
    uids = set()
    provisioning = (ROOT / "dashboards/provisioning/datasources/clickhouse.yaml").read_text()
    for d in DASHBOARDS:
        data = build_dashboard(d)
        uids.add(data["uid"])
        assert len(data["panels"]) == len(d.panels)
        for panel in data["panels"]:
            (target,) = panel["targets"]
            assert target["datasource"] == {
                "type": "grafana-clickhouse-datasource",
                "uid": "llmpulse-clickhouse",
            }
            # The database is the datasource's default (LLMPULSE_CLICKHOUSE_DATABASE).
            assert " FROM " in target["rawSql"] and "llmpulse." not in target["rawSql"]
    assert len(uids) == len(DASHBOARDS)
    assert "uid: llmpulse-clickhouse" in provisioning
    assert "defaultDatabase: ${LLMPULSE_CLICKHOUSE_DATABASE}" in provisioning
    sre = build_dashboard(DASHBOARDS[0])
    assert [a["name"] for a in sre["annotations"]["list"]][-1] == "Drift events"


def test_macros_expand_like_the_plugin() -> None:
    """$__timeFilter, $__timeInterval, $__fromTime/$__toTime and $__interval_s."""
    start = datetime(2026, 1, 1, tzinfo=UTC)
    end = datetime(2026, 1, 2, tzinfo=UTC)
    sql = expand(
        "SELECT $__timeInterval(minute) t FROM x WHERE $__timeFilter(minute) "
        "AND a < $__toTime AND b > $__fromTime LIMIT $__interval_s",
        start,
        end,
        300,
    )
    assert sql == (
        "SELECT toStartOfInterval(toDateTime(minute), INTERVAL 300 second) t FROM x "
        "WHERE minute >= toDateTime(1767225600) AND minute <= toDateTime(1767312000) "
        "AND a < toDateTime(1767312000) AND b > toDateTime(1767225600) LIMIT 300"
    )
