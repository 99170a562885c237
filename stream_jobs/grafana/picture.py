"""A picture of the key panels, drawn from their own SQL, for users without Grafana."""

from __future__ import annotations

from collections import defaultdict
from datetime import datetime
from pathlib import Path
from typing import Any

from llmpulse.stream_jobs.clickhouse import ClickHouseClient
from llmpulse.stream_jobs.grafana.macros import expand
from llmpulse.stream_jobs.grafana.panels import DASHBOARDS, Panel

__all__ = ["KEY_PANELS", "draw_key_panels"]

KEY_PANELS = (
    ("llmpulse-sre", "Latency p50 / p95 / p99 by model", "p95"),
    ("llmpulse-sre", "Request rate by model", "calls_per_s"),
    ("llmpulse-finance", "Cost by team", "cost"),
    ("llmpulse-sre", "Error rate by risk tier", "error_rate"),
)


def _panel(uid: str, title: str) -> Panel:
    for d in DASHBOARDS:
        if d.uid == uid:
            for p in d.panels:
                if p.title == title:
                    return p
    raise KeyError(f"{uid}/{title}")


def draw_key_panels(
    client: ClickHouseClient, start: datetime, end: datetime, path: Path, interval_s: int = 300
) -> Path:
    """Run four key panels' SQL and draw them as one PNG (time series by series)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(2, 2, figsize=(13, 7), dpi=90)
    for ax, (uid, title, value) in zip(axes.flat, KEY_PANELS, strict=True):
        panel = _panel(uid, title)
        result = client.query(expand(panel.sql, start, end, interval_s))
        cols = list(result.column_names)
        series: dict[str, list[tuple[Any, float]]] = defaultdict(list)
        label_col = cols[1] if len(cols) > 2 and cols[1] != value else None
        for row in result.result_rows:
            rec = dict(zip(cols, row, strict=True))
            key = str(rec[label_col]) if label_col else value
            v = rec[value]
            if v is not None and v == v:
                series[key].append((rec["time"], float(v)))
        for key, points in sorted(series.items()):
            points.sort()
            ax.plot([p[0] for p in points], [p[1] for p in points], label=key, linewidth=1.2)
        ax.set_title(f"{title} ({value}, {panel.unit})", fontsize=10)
        ax.tick_params(labelsize=7)
        if len(series) > 1:
            ax.legend(fontsize=6, ncol=2)
    fig.suptitle("llmpulse key panels (the dashboards' own SQL)", fontsize=12)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, format="png")
    plt.close(fig)
    return path
