"""Build the dashboards with grafana-foundation-sdk and check their SQL.

``llmpulse grafana build`` writes ``dashboards/*.json`` (committed); ``llmpulse
grafana check`` runs every panel's SQL, macros expanded, against a store.
"""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path
from typing import Any

from llmpulse.errors import MissingExtraError
from llmpulse.stream_jobs.clickhouse import ClickHouseClient
from llmpulse.stream_jobs.grafana.macros import expand
from llmpulse.stream_jobs.grafana.panels import DASHBOARDS, Dashboard, Panel

__all__ = ["DATASOURCE_UID", "build_dashboard", "check_panels", "write_dashboards"]

DATASOURCE_UID = "llmpulse-clickhouse"
DATASOURCE_TYPE = "grafana-clickhouse-datasource"


class ClickHouseQuery:
    """A grafana-clickhouse-datasource SQL target (the SDK has no ClickHouse builder)."""

    def __init__(self, sql: str, table: bool, ref_id: str = "A") -> None:
        self.sql, self.table, self.ref_id = sql, table, ref_id

    def build(self) -> ClickHouseQuery:
        return self

    def to_json(self) -> dict[str, Any]:
        return {
            "refId": self.ref_id,
            "datasource": {"type": DATASOURCE_TYPE, "uid": DATASOURCE_UID},
            "editorType": "sql",
            "queryType": "table" if self.table else "timeseries",
            "format": 1 if self.table else 0,
            "rawSql": self.sql,
        }


def _panel(p: Panel) -> Any:
    from grafana_foundation_sdk.builders import stat, table, timeseries
    from grafana_foundation_sdk.models.dashboard import DataSourceRef

    kinds: dict[str, Any] = {
        "timeseries": timeseries.Panel,
        "stat": stat.Panel,
        "table": table.Panel,
    }
    builder: Any = kinds[p.kind]()
    builder = (
        builder.title(p.title)
        .unit(p.unit)
        .datasource(DataSourceRef(type_val=DATASOURCE_TYPE, uid=DATASOURCE_UID))
        .with_target(ClickHouseQuery(p.sql, table=p.kind != "timeseries"))
        .height(4 if p.kind == "stat" else 8)
        .span(8 if p.kind == "stat" else 12)
    )
    if p.description:
        builder = builder.description(p.description)
    return builder


def build_dashboard(d: Dashboard) -> dict[str, Any]:
    """The dashboard as Grafana JSON."""
    try:
        from grafana_foundation_sdk.builders.dashboard import Dashboard as DashboardBuilder
        from grafana_foundation_sdk.cog.encoder import JSONEncoder
    except ImportError as exc:
        raise MissingExtraError("grafana_foundation_sdk") from exc

    builder = (
        DashboardBuilder(d.title)
        .uid(d.uid)
        .tags(["llmpulse"])
        .refresh("1m")
        .time("now-6h", "now")
        .timezone("utc")
    )
    for p in d.panels:
        builder = builder.with_panel(_panel(p))
    data: dict[str, Any] = json.loads(json.dumps(builder.build(), cls=JSONEncoder))
    annotations = data.setdefault("annotations", {}).setdefault("list", [])
    for name, sql in d.annotations:
        annotations.append(
            {
                "name": name,
                "enable": True,
                "iconColor": "orange",
                "datasource": {"type": DATASOURCE_TYPE, "uid": DATASOURCE_UID},
                "target": ClickHouseQuery(sql, table=True).to_json(),
            }
        )
    return data


def write_dashboards(out_dir: Path) -> list[Path]:
    """Write every dashboard as ``<uid>.json`` into ``out_dir``."""
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = []
    for d in DASHBOARDS:
        path = out_dir / f"{d.uid}.json"
        path.write_text(json.dumps(build_dashboard(d), indent=2, sort_keys=True) + "\n")
        paths.append(path)
    return paths


def check_panels(
    client: ClickHouseClient, start: datetime, end: datetime, interval_s: int = 300
) -> list[dict[str, Any]]:
    """Run every panel's SQL; report rows, the columns returned and any error.

    The SQL names tables without a database: ``client``'s default database is the
    one checked (as the Grafana datasource's ``defaultDatabase`` is in Grafana)."""
    out = []
    for d in DASHBOARDS:
        extra = [
            Panel(f"annotation: {n}", "table", q, ("time", "text", "tags"))
            for n, q in d.annotations
        ]
        for p in (*d.panels, *extra):
            row: dict[str, Any] = {"dashboard": d.uid, "panel": p.title}
            try:
                result = client.query(expand(p.sql, start, end, interval_s))
                row.update(
                    rows=len(result.result_rows),
                    columns=list(result.column_names),
                    expected=list(p.columns),
                    ok=tuple(result.column_names) == p.columns and bool(result.result_rows),
                )
            except Exception as exc:
                row.update(rows=0, error=str(exc)[:500], ok=False)
            out.append(row)
    return out
