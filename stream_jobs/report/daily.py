"""The finance daily cost report: figures read from ClickHouse, exact to the cent.

Yesterday's cost by team, service and model; month to date; a month-end
forecast (month to date plus the trailing 7-day daily average for the days
left); budget against actual (``alerts/budgets.toml``); anomalies against each
team's and service's trailing 14-day baseline; top movers day over day; retry
waste; cache savings (what cached input tokens would have cost at the input
price, less what they cost).
"""

from __future__ import annotations

import calendar
import tomllib
from dataclasses import dataclass, field
from datetime import date, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

from llmpulse.errors import ConfigError
from llmpulse.stream_jobs.analytics.links import COUNTED
from llmpulse.stream_jobs.clickhouse import ClickHouseClient, check_identifier

__all__ = ["Budgets", "DailyReport", "build_daily_report"]

ZERO = Decimal(0)


@dataclass(frozen=True)
class Budgets:
    """Monthly budgets in USD: a total and per team."""

    total: Decimal | None = None
    teams: dict[str, Decimal] = field(default_factory=dict)

    @classmethod
    def load(cls, path: str | Path | None) -> Budgets:
        if path is None or not Path(path).exists():
            return cls()
        try:
            data = tomllib.loads(Path(path).read_text())
            monthly = data.get("monthly", {})
            teams = {k: Decimal(str(v)) for k, v in monthly.get("teams", {}).items()}
            total = monthly.get("total")
            return cls(Decimal(str(total)) if total is not None else None, teams)
        except (tomllib.TOMLDecodeError, ArithmeticError, ValueError, AttributeError) as exc:
            raise ConfigError(f"budgets file {path} is invalid: {exc}") from exc


@dataclass
class DailyReport:
    """Every figure of one day's report."""

    day: date
    total: Decimal
    calls: int
    by_team: list[tuple[str, Decimal, int]]
    by_service: list[tuple[str, Decimal, int]]
    by_model: list[tuple[str, Decimal, int]]
    month_to_date: Decimal
    forecast: Decimal
    budget_total: Decimal | None
    budget_teams: list[tuple[str, Decimal, Decimal, Decimal]]  # team, budget, mtd, forecast
    anomalies: list[dict[str, Any]]
    movers: list[tuple[str, Decimal, Decimal, Decimal]]  # service, yesterday, day before, delta
    retry_waste: Decimal
    cache_savings: Decimal
    daily_totals: list[tuple[date, Decimal]]  # the trailing 30 days, for the chart
    #: Calls stored at $0 because they could not be priced: (label, calls), e.g.
    #: ("not priced: no usage", 12), ("not priced: unknown model", 3).
    not_priced: list[tuple[str, int]] = field(default_factory=list)


def _rows(client: ClickHouseClient, sql: str, **params: Any) -> list[tuple[Any, ...]]:
    return [tuple(r) for r in client.query(sql, parameters=params).result_rows]


def build_daily_report(
    client: ClickHouseClient, database: str, day: date, budgets: Budgets
) -> DailyReport:
    """Compute the report of ``day`` (a UTC date) from the ``cost_1m`` rollup."""
    db = check_identifier(database)
    src = f"{db}.cost_1m FINAL"
    day_filter = "toDate(minute) = {d:Date}"

    def grouped(col: str) -> list[tuple[str, Decimal, int]]:
        return [
            (str(k), Decimal(c), int(n))
            for k, c, n in _rows(
                client,
                f"SELECT {col}, sum(cost_usd), sum(calls) FROM {src} WHERE {day_filter} "
                f"GROUP BY {col} ORDER BY sum(cost_usd) DESC, {col}",
                d=day,
            )
        ]

    (total, calls, waste) = _rows(
        client,
        f"SELECT sum(cost_usd), sum(calls), sum(retry_waste_usd) FROM {src} WHERE {day_filter}",
        d=day,
    )[0]
    month_start = day.replace(day=1)
    (mtd,) = _rows(
        client,
        f"SELECT sum(cost_usd) FROM {src} WHERE toDate(minute) BETWEEN {{a:Date}} AND {{d:Date}}",
        a=month_start,
        d=day,
    )[0]
    days_in_month = calendar.monthrange(day.year, day.month)[1]
    trailing = {
        d: Decimal(c)
        for d, c in _rows(
            client,
            f"SELECT toDate(minute) AS d, sum(cost_usd) FROM {src} WHERE toDate(minute) "
            "BETWEEN {a:Date} AND {d:Date} GROUP BY d",
            a=day - timedelta(days=29),
            d=day,
        )
    }
    last7 = [trailing.get(day - timedelta(days=i), ZERO) for i in range(7)]
    daily_avg = sum(last7, ZERO) / 7
    forecast = Decimal(mtd) + daily_avg * (days_in_month - day.day)

    team_mtd = dict(
        _rows(
            client,
            f"SELECT team, sum(cost_usd) FROM {src} WHERE toDate(minute) "
            "BETWEEN {a:Date} AND {d:Date} GROUP BY team",
            a=month_start,
            d=day,
        )
    )
    team_7 = dict(
        _rows(
            client,
            f"SELECT team, sum(cost_usd) / 7 FROM {src} WHERE toDate(minute) "
            "BETWEEN {a:Date} AND {d:Date} GROUP BY team",
            a=day - timedelta(days=6),
            d=day,
        )
    )
    budget_teams = []
    for team, budget in sorted(budgets.teams.items()):
        t_mtd = Decimal(team_mtd.get(team, 0))
        t_fc = t_mtd + Decimal(team_7.get(team, 0)) * (days_in_month - day.day)
        budget_teams.append((team, budget, t_mtd, t_fc))

    return DailyReport(
        day=day,
        total=Decimal(total or 0),
        calls=int(calls or 0),
        by_team=grouped("team"),
        by_service=grouped("service_name"),
        by_model=grouped("request_model"),
        month_to_date=Decimal(mtd or 0),
        forecast=forecast,
        budget_total=budgets.total,
        budget_teams=budget_teams,
        anomalies=_anomalies(client, src, day),
        movers=_movers(client, src, day),
        retry_waste=Decimal(waste or 0),
        cache_savings=_cache_savings(client, src, day),
        daily_totals=[
            (d, trailing.get(d, ZERO)) for d in (day - timedelta(days=i) for i in range(29, -1, -1))
        ],
        not_priced=[
            (f"not priced: {status.replace('_', ' ')}", int(n))
            for status, n in _rows(
                client,
                f"SELECT price_status, count() FROM {db}.llm_calls FINAL "
                f"WHERE {COUNTED} AND toDate(start_time) = {{d:Date}} AND price_status != 'ok' "
                "GROUP BY price_status ORDER BY price_status",
                d=day,
            )
        ],
    )


def _anomalies(client: ClickHouseClient, src: str, day: date) -> list[dict[str, Any]]:
    """Teams and services whose cost yesterday is far above their 14-day baseline."""
    out: list[dict[str, Any]] = []
    for dim in ("team", "service_name"):
        rows = _rows(
            client,
            f"""
            SELECT key, sumIf(c, d = {{d:Date}}) AS today,
                   avgIf(c, d < {{d:Date}}) AS mean, stddevSampIf(c, d < {{d:Date}}) AS sd,
                   countIf(d < {{d:Date}}) AS days
            FROM (SELECT {dim} AS key, toDate(minute) AS d, toFloat64(sum(cost_usd)) AS c
                  FROM {src}
                  WHERE toDate(minute) BETWEEN {{a:Date}} AND {{d:Date}}
                  GROUP BY key, d)
            GROUP BY key""",
            a=day - timedelta(days=14),
            d=day,
        )
        for key, today, mean, sd, days in rows:
            if days < 3 or not mean:
                continue
            sd = sd if sd == sd else 0.0  # NaN with too few points
            threshold = mean + max(3 * sd, 0.5 * mean)
            if today > threshold:
                out.append(
                    {
                        "dimension": "service" if dim == "service_name" else dim,
                        "key": key,
                        "cost": Decimal(str(round(today, 12))),
                        "baseline": Decimal(str(round(mean, 12))),
                        "change_pct": (today - mean) / mean * 100,
                    }
                )
    return sorted(out, key=lambda a: -a["change_pct"])


def _movers(
    client: ClickHouseClient, src: str, day: date, top: int = 5
) -> list[tuple[str, Decimal, Decimal, Decimal]]:
    rows = _rows(
        client,
        f"""
        SELECT service_name, sumIf(cost_usd, toDate(minute) = {{d:Date}}) AS y,
               sumIf(cost_usd, toDate(minute) = {{p:Date}}) AS b
        FROM {src} WHERE toDate(minute) BETWEEN {{p:Date}} AND {{d:Date}}
        GROUP BY service_name""",
        d=day,
        p=day - timedelta(days=1),
    )
    movers = [(s, Decimal(y), Decimal(b), Decimal(y) - Decimal(b)) for s, y, b in rows]
    return sorted(movers, key=lambda m: -abs(m[3]))[:top]


def _cache_savings(client: ClickHouseClient, src: str, day: date) -> Decimal:
    """Cache-read tokens at the input price, less at the cache-read price (per call,
    priced by the worker with the catalogue in force; summed in ``cost_1m``)."""
    (saved,) = _rows(
        client, f"SELECT sum(cache_savings_usd) FROM {src} WHERE toDate(minute) = {{d:Date}}", d=day
    )[0]
    return Decimal(saved or 0)
