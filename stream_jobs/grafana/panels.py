"""Every dashboard panel: its SQL (plugin macros), visualisation, unit, columns.

One declarative list, so the dashboards (built with grafana-foundation-sdk) and
the tests (which run every query against a store filled by the real pipeline)
read the same SQL. Percentiles merge DDSketch buckets; they are never averaged.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache

from llmpulse.stream_jobs.analytics.links import COUNTED
from llmpulse.stream_jobs.analytics.sketch import sql_quantile

__all__ = ["DASHBOARDS", "Dashboard", "Panel", "monthly_budget"]


@cache
def monthly_budget() -> float:
    """The company's monthly total from ``alerts/budgets.toml`` beside the sources: the
    one place the budget is written (the report, panels and the spend alert read it)."""
    from pathlib import Path

    from llmpulse.errors import ConfigError
    from llmpulse.stream_jobs.report.daily import Budgets

    path = Path(__file__).resolve().parents[2] / "alerts" / "budgets.toml"
    total = Budgets.load(path).total
    if total is None:
        raise ConfigError(f"{path} has no [monthly] total: the dashboards need one")
    return float(total)


@dataclass(frozen=True)
class Panel:
    title: str
    kind: str  # timeseries | stat | table
    sql: str
    columns: tuple[str, ...]
    unit: str = "short"
    description: str = ""


@dataclass(frozen=True)
class Dashboard:
    uid: str
    title: str
    panels: tuple[Panel, ...]
    annotations: tuple[tuple[str, str], ...] = ()  # (name, SQL returning time, text, tags)


DRIFT_ANNOTATION = (
    "Drift events",
    "SELECT minute AS time, concat(service_name, '/', model, ': ', detail) AS text, "
    "metric AS tags FROM drift_events FINAL WHERE $__timeFilter(minute) ORDER BY time",
)


def _q(m: str, q: float) -> str:
    return sql_quantile(m, q)


_LAT = "sumMap(latency_keys, latency_counts)"
_TTFT = "sumMap(ttft_keys, ttft_counts)"
_T = "$__timeInterval(minute) AS time"
_C = "FROM cost_1m FINAL WHERE $__timeFilter(minute)"
_L = "FROM latency_1m FINAL WHERE $__timeFilter(minute)"

SRE = Dashboard(
    "llmpulse-sre",
    "llmpulse / SRE overview",
    (
        Panel(
            "Request rate by model",
            "timeseries",
            f"SELECT {_T}, request_model, sum(calls) / $__interval_s AS calls_per_s {_C} "
            "GROUP BY time, request_model ORDER BY time",
            ("time", "request_model", "calls_per_s"),
            "reqps",
        ),
        Panel(
            "Error rate by risk tier",
            "timeseries",
            f"SELECT {_T}, risk_tier, sum(errors) / sum(calls) AS error_rate {_C} "
            "GROUP BY time, risk_tier ORDER BY time",
            ("time", "risk_tier", "error_rate"),
            "percentunit",
        ),
        Panel(
            "Errors by type and risk tier",
            "table",
            "SELECT error_type, risk_tier, count() AS errors FROM llm_calls FINAL "
            f"WHERE {COUNTED} AND $__timeFilter(start_time) AND status = 'error' "
            "GROUP BY error_type, risk_tier ORDER BY errors DESC",
            ("error_type", "risk_tier", "errors"),
        ),
        Panel(
            "Latency p50 / p95 / p99 by model",
            "timeseries",
            f"WITH {_LAT} AS m SELECT {_T}, request_model, {_q('m', 0.5)} AS p50, "
            f"{_q('m', 0.95)} AS p95, {_q('m', 0.99)} AS p99 {_L} "
            "GROUP BY time, request_model ORDER BY time",
            ("time", "request_model", "p50", "p95", "p99"),
            "ms",
        ),
        Panel(
            "Time to first token p95 by model",
            "timeseries",
            f"WITH {_TTFT} AS t SELECT {_T}, request_model, {_q('t', 0.95)} AS ttft_p95 {_L} "
            "AND ttft_calls > 0 GROUP BY time, request_model ORDER BY time",
            ("time", "request_model", "ttft_p95"),
            "ms",
        ),
        Panel(
            "Share of calls over 5 s",
            "timeseries",
            f"SELECT {_T}, sum(over_5s) / sum(calls) AS over_5s_share {_L} "
            "GROUP BY time ORDER BY time",
            ("time", "over_5s_share"),
            "percentunit",
        ),
        Panel(
            "Retry rate",
            "timeseries",
            f"SELECT {_T}, sum(retries) / sum(calls) AS retry_rate {_C} "
            "GROUP BY time ORDER BY time",
            ("time", "retry_rate"),
            "percentunit",
        ),
        Panel(
            "Tokens per second",
            "timeseries",
            f"SELECT {_T}, sum(input_tokens) / $__interval_s AS input_per_s, "
            f"sum(output_tokens) / $__interval_s AS output_per_s {_C} GROUP BY time ORDER BY time",
            ("time", "input_per_s", "output_per_s"),
        ),
        Panel(
            "Drift events",
            "table",
            "SELECT minute AS time, service_name, model, metric, detail "
            "FROM drift_events FINAL WHERE $__timeFilter(minute) ORDER BY time DESC",
            ("time", "service_name", "model", "metric", "detail"),
        ),
    ),
    annotations=(DRIFT_ANNOTATION,),
)

_MTD = "SELECT sum(cost_usd) FROM cost_1m FINAL WHERE minute >= toStartOfMonth(now())"
FINANCE = Dashboard(
    "llmpulse-finance",
    "llmpulse / Finance",
    (
        Panel(
            "Spend today",
            "stat",
            "SELECT sum(cost_usd) AS spend FROM cost_1m FINAL WHERE minute >= toStartOfDay(now())",
            ("spend",),
            "currencyUSD",
        ),
        Panel(
            "Month to date",
            "stat",
            _MTD.replace("sum(cost_usd)", "sum(cost_usd) AS mtd"),
            ("mtd",),
            "currencyUSD",
        ),
        Panel(
            "Month-end forecast",
            "stat",
            f"WITH ({_MTD}) AS mtd, (SELECT sum(cost_usd) FROM cost_1m FINAL "
            "WHERE minute >= now() - INTERVAL 7 DAY) / 7 AS daily "
            "SELECT mtd + daily * (toDayOfMonth(toLastDayOfMonth(now())) - toDayOfMonth(now())) "
            "AS forecast",
            ("forecast",),
            "currencyUSD",
            "Month to date plus the trailing 7-day daily average for the days left.",
        ),
        Panel(
            "Cost by team",
            "timeseries",
            f"SELECT {_T}, team, sum(cost_usd) AS cost {_C} GROUP BY time, team ORDER BY time",
            ("time", "team", "cost"),
            "currencyUSD",
        ),
        Panel(
            "Cost by service, feature and model",
            "table",
            f"SELECT service_name, feature, request_model, sum(calls) AS calls, "
            f"sum(cost_usd) AS cost {_C} GROUP BY service_name, feature, request_model "
            "ORDER BY cost DESC",
            ("service_name", "feature", "request_model", "calls", "cost"),
            "currencyUSD",
        ),
        Panel(
            "Cost per transaction p50 / p95",
            "timeseries",
            "SELECT $__timeInterval(first_seen) AS time, "
            "quantile(0.5)(toFloat64(cost_usd)) AS p50, quantile(0.95)(toFloat64(cost_usd)) AS p95 "
            "FROM transaction_costs FINAL WHERE $__timeFilter(first_seen) "
            "GROUP BY time ORDER BY time",
            ("time", "p50", "p95"),
            "currencyUSD",
        ),
        Panel(
            "Retry waste",
            "timeseries",
            f"SELECT {_T}, sum(retry_waste_usd) AS retry_waste {_C} GROUP BY time ORDER BY time",
            ("time", "retry_waste"),
            "currencyUSD",
            "Cost of failed attempts that had to be retried.",
        ),
        Panel(
            "Budget burn (month to date / monthly budget)",
            "stat",
            _MTD.replace("sum(cost_usd)", f"sum(cost_usd) / {monthly_budget()} AS burn"),
            ("burn",),
            "percentunit",
            "Monthly budget from alerts/budgets.toml at build time.",
        ),
        Panel(
            "Cache savings",
            "timeseries",
            f"SELECT {_T}, sum(cache_savings_usd) AS cache_savings {_C} "
            "GROUP BY time ORDER BY time",
            ("time", "cache_savings"),
            "currencyUSD",
            "Cache-read tokens at the input price, less what they cost.",
        ),
        Panel(
            "Calls not priced, by reason",
            "table",
            "SELECT multiIf(price_status = 'no_usage', 'not priced: no usage', "
            "price_status = 'unknown_model', 'not priced: unknown model', price_status) "
            "AS reason, service_name, request_model, count() AS calls "
            f"FROM llm_calls FINAL WHERE {COUNTED} AND $__timeFilter(start_time) "
            "AND price_status != 'ok' "
            "GROUP BY reason, service_name, request_model ORDER BY calls DESC LIMIT 50",
            ("reason", "service_name", "request_model", "calls"),
            description="Calls stored at $0 because they could not be priced: a model "
            "missing from the catalogue, or a call that reported no token usage (e.g. "
            "streamed without include_usage). Never counted as free.",
        ),
        Panel(
            "Cached share of input tokens",
            "timeseries",
            f"SELECT {_T}, sum(cache_read_tokens) / sum(input_tokens) AS cached_share {_C} "
            "GROUP BY time ORDER BY time",
            ("time", "cached_share"),
            "percentunit",
        ),
    ),
)

QUALITY = Dashboard(
    "llmpulse-quality",
    "llmpulse / Quality and risk",
    (
        Panel(
            "Errors and truncations by risk tier and feature",
            "table",
            f"SELECT risk_tier, feature, sum(calls) AS n, sum(errors) / n AS error_rate, "
            f"sum(truncated) / n AS truncation_rate {_C} GROUP BY risk_tier, feature "
            "ORDER BY error_rate DESC",
            ("risk_tier", "feature", "n", "error_rate", "truncation_rate"),
        ),
        Panel(
            "Finish reasons",
            "table",
            "SELECT arrayJoin(finish_reasons) AS reason, count() AS calls "
            f"FROM llm_calls FINAL WHERE {COUNTED} AND $__timeFilter(start_time) "
            "GROUP BY reason ORDER BY calls DESC",
            ("reason", "calls"),
        ),
        Panel(
            "Response model versions",
            "table",
            "SELECT request_model, response_model, count() AS calls, "
            "min(start_time) AS first_seen, max(start_time) AS last_seen "
            f"FROM llm_calls FINAL WHERE {COUNTED} AND $__timeFilter(start_time) "
            "GROUP BY request_model, response_model ORDER BY request_model, first_seen",
            ("request_model", "response_model", "calls", "first_seen", "last_seen"),
        ),
        Panel(
            "Drift history",
            "table",
            "SELECT minute AS time, service_name, model, metric, kind, before_value, after_value, "
            "change_pct FROM drift_events FINAL WHERE $__timeFilter(minute) "
            "ORDER BY time DESC",
            (
                "time",
                "service_name",
                "model",
                "metric",
                "kind",
                "before_value",
                "after_value",
                "change_pct",
            ),
        ),
    ),
)

PIPELINE = Dashboard(
    "llmpulse-pipeline",
    "llmpulse / Pipeline health",
    (
        Panel(
            "Spans ingested per second",
            "timeseries",
            "SELECT $__timeInterval(ingested_at) AS time, "
            "sum(spans) / $__interval_s AS spans_per_s FROM ingest_batches FINAL "
            "WHERE $__timeFilter(ingested_at) "
            "GROUP BY time ORDER BY time",
            ("time", "spans_per_s"),
        ),
        Panel(
            "Consumer lag (messages)",
            "timeseries",
            "SELECT $__timeInterval(ts) AS time, topic, max(lag) AS lag FROM ("
            "SELECT ts, topic, sum(lag) AS lag FROM consumer_lag "
            "WHERE $__timeFilter(ts) GROUP BY ts, topic) GROUP BY time, topic ORDER BY time",
            ("time", "topic", "lag"),
        ),
        Panel(
            "Freshness: seconds since the newest row",
            "stat",
            "SELECT dateDiff('second', max(ingested_at), now64(3)) AS seconds_behind "
            f"FROM llm_calls WHERE {COUNTED}",
            ("seconds_behind",),
            "s",
        ),
        Panel(
            "Span end to stored, p95",
            "timeseries",
            "SELECT $__timeInterval(ingested_at) AS time, "
            "quantile(0.95)(dateDiff('millisecond', end_time, ingested_at)) AS lag_p95_ms "
            f"FROM llm_calls WHERE {COUNTED} AND $__timeFilter(ingested_at) "
            "GROUP BY time ORDER BY time",
            ("time", "lag_p95_ms"),
            "ms",
        ),
        Panel(
            "Dead letters by reason",
            "timeseries",
            "SELECT $__timeInterval(rejected_at) AS time, reason, sum(span_count) AS rejects "
            "FROM dead_letters FINAL WHERE $__timeFilter(rejected_at) "
            "GROUP BY time, reason ORDER BY time",
            ("time", "reason", "rejects"),
        ),
    ),
)

DASHBOARDS: tuple[Dashboard, ...] = (SRE, FINANCE, QUALITY, PIPELINE)
