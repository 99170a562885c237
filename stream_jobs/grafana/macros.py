"""Expand the grafana-clickhouse-datasource macros, so panel SQL runs anywhere.

The plugin rewrites these before sending a query; tests and ``llmpulse grafana
check`` do the same to run every panel's SQL against a real store.
"""

from __future__ import annotations

import re
from datetime import datetime

__all__ = ["expand"]

_TIME_FILTER = re.compile(r"\$__timeFilter\(([^)]+)\)")
_TIME_INTERVAL = re.compile(r"\$__timeInterval\(([^)]+)\)")


def expand(
    sql: str, start: datetime, end: datetime, interval_s: int = 60, database: str = "llmpulse"
) -> str:
    """``sql`` with ``$__timeFilter``, ``$__timeInterval``, ``$__fromTime``,
    ``$__toTime``, ``$__interval_s`` and ``${database}`` replaced."""
    frm = f"toDateTime({int(start.timestamp())})"
    to = f"toDateTime({int(end.timestamp())})"
    out = _TIME_FILTER.sub(lambda m: f"{m.group(1)} >= {frm} AND {m.group(1)} <= {to}", sql)
    out = _TIME_INTERVAL.sub(
        lambda m: f"toStartOfInterval(toDateTime({m.group(1)}), INTERVAL {interval_s} second)",
        out,
    )
    return (
        out.replace("$__fromTime", frm)
        .replace("$__toTime", to)
        .replace("$__interval_s", str(interval_s))
        .replace("${database}", database)
    )
