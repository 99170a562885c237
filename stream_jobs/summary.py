"""Read back what the pipeline stored: totals and breakdowns for the demo and checks."""

from __future__ import annotations

import math
from decimal import Decimal
from typing import Any

from llmpulse.stream_jobs.analytics.links import COUNTED
from llmpulse.stream_jobs.analytics.sketch import sql_quantile
from llmpulse.stream_jobs.clickhouse import ClickHouseClient, check_identifier

__all__ = ["summarise"]


def _rows(client: ClickHouseClient, sql: str) -> list[tuple[Any, ...]]:
    return [tuple(r) for r in client.query(sql).result_rows]


def summarise(client: ClickHouseClient, database: str = "llmpulse") -> dict[str, Any]:
    """Totals, cost by model and team, latency percentiles and rejects, exact (FINAL)."""
    db = check_identifier(database)
    calls = f"{db}.llm_calls FINAL WHERE {COUNTED}"  # stacked spans count once
    (n, inp, out, cr, cc, rs, cost, errors, retries, unpriced, tx) = _rows(
        client,
        f"""
        SELECT count(), sum(input_tokens), sum(output_tokens), sum(cache_read_tokens),
               sum(cache_creation_tokens), sum(reasoning_tokens), sum(cost_usd),
               countIf(status = 'error'), countIf(retry_attempt > 0),
               countIf(price_status != 'ok'), uniqExact(transaction_id)
        FROM {calls}""",
    )[0]
    by_model = _rows(
        client,
        f"""
        SELECT response_model, provider, count(), sum(cost_usd),
               quantile(0.5)(latency_ms), quantile(0.95)(latency_ms)
        FROM {calls} GROUP BY response_model, provider ORDER BY sum(cost_usd) DESC""",
    )
    by_team = _rows(
        client,
        f"""
        SELECT team, count(), sum(cost_usd), countIf(status = 'error')
        FROM {calls} GROUP BY team ORDER BY sum(cost_usd) DESC""",
    )
    (p50, p95, p99) = _rows(
        client,
        f"""
        SELECT quantile(0.5)(latency_ms), quantile(0.95)(latency_ms), quantile(0.99)(latency_ms)
        FROM {calls}""",
    )[0]
    rejects = _rows(
        client,
        f"""
        SELECT reason, stage, sum(span_count) FROM {db}.dead_letters FINAL
        GROUP BY reason, stage ORDER BY count() DESC""",
    )
    (messages, spans, non_llm) = _rows(
        client,
        f"""
        SELECT count(), sum(spans), sum(non_llm_spans) FROM {db}.ingest_batches FINAL""",
    )[0]
    (linked,) = _rows(client, f"SELECT count() FROM {db}.llm_calls FINAL WHERE NOT {COUNTED}")[0]
    (agents,) = _rows(client, f"SELECT count() FROM {db}.agent_spans FINAL")[0]
    analytics = _analytics(client, db)
    return {
        "analytics": analytics,
        "calls": int(n),
        "transactions": int(tx),
        "input_tokens": int(inp),
        "output_tokens": int(out),
        "cache_read_tokens": int(cr),
        "cache_creation_tokens": int(cc),
        "reasoning_tokens": int(rs),
        "cost_usd": str(Decimal(cost).normalize()) if n else "0",
        "errors": int(errors),
        "retries": int(retries),
        "unpriced": int(unpriced),
        "latency_ms": {"p50": p50, "p95": p95, "p99": p99} if n else {},
        "by_model": [
            {
                "model": m,
                "provider": p,
                "calls": c,
                "cost_usd": str(s),
                "p50_ms": round(a, 1),
                "p95_ms": round(b, 1),
            }
            for m, p, c, s, a, b in by_model
        ],
        "by_team": [
            {"team": t, "calls": c, "cost_usd": str(s), "errors": e} for t, c, s, e in by_team
        ],
        "rejects": [{"reason": r, "stage": s, "count": c} for r, s, c in rejects],
        "messages": int(messages),
        "spans_seen": int(spans or 0),
        "non_llm_spans": int(non_llm or 0),
        "linked_spans": int(linked),  # stacked spans of counted calls (not counted)
        "agent_spans": int(agents),
    }


def _num(x: float) -> float | None:
    return None if x is None or math.isnan(x) else round(float(x), 1)


def _analytics(client: ClickHouseClient, db: str) -> dict[str, Any]:
    """Transactions, merged latency sketches and drift events from the analytics tables."""
    tx = _rows(
        client,
        f"""
        SELECT count(), sum(cost_usd), sum(retry_waste_usd),
               quantileExact(0.5)(toFloat64(cost_usd)), quantileExact(0.95)(toFloat64(cost_usd)),
               countIf(retries > 0)
        FROM {db}.transaction_costs FINAL""",
    )[0]
    latency = _rows(
        client,
        f"""
        WITH sumMap(latency_keys, latency_counts) AS m, sumMap(ttft_keys, ttft_counts) AS t
        SELECT request_model, sum(calls),
               {sql_quantile("m", 0.5)}, {sql_quantile("m", 0.95)}, {sql_quantile("m", 0.99)},
               {sql_quantile("t", 0.95)}
        FROM {db}.latency_1m FINAL
        GROUP BY request_model
        ORDER BY sum(calls) DESC""",
    )
    drift = _rows(
        client,
        f"""
        SELECT minute, service_name, model, metric, kind, detail
        FROM {db}.drift_events FINAL ORDER BY minute, service_name, model, metric""",
    )
    return {
        "transactions": int(tx[0]),
        "transaction_cost_usd": str(tx[1]),
        "retry_waste_usd": str(tx[2]),
        "transaction_cost_p50_usd": tx[3],
        "transaction_cost_p95_usd": tx[4],
        "transactions_with_retries": int(tx[5]),
        "latency_by_model": [
            {
                "model": m,
                "calls": c,
                "p50_ms": _num(a),
                "p95_ms": _num(b),
                "p99_ms": _num(p),
                "ttft_p95_ms": _num(t),
            }
            for m, c, a, b, p, t in latency
        ],
        "drift_events": [
            {"minute": str(mi), "service": s, "model": mo, "metric": me, "kind": k, "detail": d}
            for mi, s, mo, me, k, d in drift
        ],
    }
