"""Read back what the pipeline stored: totals and breakdowns for the demo and checks."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from llmpulse.stream_jobs.clickhouse import check_identifier

__all__ = ["summarise"]


def _rows(client: Any, sql: str) -> list[tuple[Any, ...]]:
    return [tuple(r) for r in client.query(sql).result_rows]


def summarise(client: Any, database: str = "llmpulse") -> dict[str, Any]:
    """Totals, cost by model and team, latency percentiles and rejects, exact (FINAL)."""
    db = check_identifier(database)
    calls = f"{db}.llm_calls FINAL"
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
        SELECT reason, stage, count() FROM {db}.dead_letters FINAL
        GROUP BY reason, stage ORDER BY count() DESC""",
    )
    (messages, spans, non_llm) = _rows(
        client,
        f"""
        SELECT count(), sum(spans), sum(non_llm_spans) FROM {db}.ingest_batches FINAL""",
    )[0]
    return {
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
    }
