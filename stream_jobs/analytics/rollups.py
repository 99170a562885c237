"""Windowed rollups and per-transaction costs, recomputed from the deduplicated calls.

Why recompute instead of accumulating in memory: ``llm_calls`` read with FINAL is
exact across crashes, replays, duplicates and late calls. Every refresh finds the
minutes and transactions touched since the last watermark (``ingested_at``) and
rewrites their rows from scratch; the tables replace by key, so the stored value is
always the latest full computation and nothing is ever added twice.

Latency and time-to-first-token sketches are DDSketch buckets built by ClickHouse
with the exact bucketing of :mod:`.sketch` (:func:`.sketch.sql_sketch`); coarser
windows and groupings merge them with ``sumMap`` (see :func:`.sketch.sql_quantile`).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from llmpulse.stream_jobs.analytics.links import COUNTED
from llmpulse.stream_jobs.analytics.sketch import sql_bucket, sql_sketch
from llmpulse.stream_jobs.clickhouse import ClickHouseClient, check_identifier

__all__ = ["Dirty", "find_dirty", "is_data_error", "refresh_rollups", "refresh_transactions"]

#: Minutes recomputed per statement (keeps a month-long backfill in bounded pieces).
CHUNK = 720
#: The tables replace by key on merge and are read with FINAL: sorting and replacing
#: each inserted block once more on insert only costs time (half the insert here).
INSERT_SETTINGS = {"optimize_on_insert": 0}
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_PARTS = 16


def is_data_error(exc: BaseException) -> bool:
    """An error the data caused (a value a function cannot take), not the store being
    unwell: the same rule the sink uses to blame rows."""
    from llmpulse.stream_jobs.sink import is_transient

    return not is_transient(exc)


@dataclass(frozen=True)
class Dirty:
    """What changed since the watermark."""

    minutes: list[datetime]
    first_start: datetime | None
    last_start: datetime | None
    max_ingested: datetime | None
    rows: int


def find_dirty(client: ClickHouseClient, db: str, since: datetime) -> Dirty:
    """Minutes (by call start) and extent of calls ingested after ``since``."""
    db = check_identifier(db)
    row = client.query(
        f"SELECT count(), min(start_time), max(start_time), max(ingested_at), "
        f"arraySort(groupUniqArray(toStartOfMinute(start_time))) "
        f"FROM {db}.llm_calls WHERE ingested_at > {{since:DateTime64(3)}}",
        parameters={"since": since},
    ).result_rows[0]
    n, lo, hi, wm, minutes = row
    if not n:
        return Dirty([], None, None, None, 0)
    return Dirty(list(minutes), lo, hi, wm, int(n))


def _latency_sql(db: str) -> str:
    lat_keys, lat_counts = sql_sketch("lat", "lat_runs")
    ttft_keys, ttft_counts = sql_sketch("ttft", "ttft_runs")
    return f"""
INSERT INTO {db}.latency_1m
SELECT minute, service_name, provider, operation, request_model, response_model,
       calls, errors, slow, latency_sum, latency_max, {lat_keys}, {lat_counts},
       ttft_calls, ttft_max, {ttft_keys}, {ttft_counts}, now64(3)
FROM (
    SELECT minute, service_name, provider, operation, request_model, response_model,
           countIf(c) AS calls, countIf(c AND status = 'error') AS errors,
           countIf(c AND latency_ms > 5000) AS slow, sumIf(latency_ms, c) AS latency_sum,
           maxIf(latency_ms, c) AS latency_max,
           arraySort(groupArrayIf({sql_bucket("latency_ms")}, c)) AS lat,
           countIf(c AND ttft_ms IS NOT NULL) AS ttft_calls,
           maxIf(ifNull(ttft_ms, 0), c) AS ttft_max,
           arraySort(groupArrayIf({sql_bucket("ifNull(ttft_ms, 0)")}, c AND ttft_ms IS NOT NULL))
               AS ttft
    FROM (
        SELECT toStartOfMinute(start_time) AS minute, {COUNTED} AS c, *
        FROM {db}.llm_calls FINAL
        WHERE start_time >= {{lo:DateTime64(6)}} AND start_time < {{hi:DateTime64(6)}}
          AND toStartOfMinute(start_time) IN {{minutes:Array(DateTime)}}
    )
    GROUP BY minute, service_name, provider, operation, request_model, response_model
)
"""


def _cost_sql(db: str) -> str:
    return f"""
INSERT INTO {db}.cost_1m
WITH {COUNTED} AS c
SELECT toStartOfMinute(start_time) AS minute, service_name, environment, team, feature,
       risk_tier, provider, request_model,
       countIf(c), countIf(c AND status = 'error'), countIf(c AND retry_attempt > 0),
       countIf(c AND has(finish_reasons, 'length')), countIf(c AND price_status != 'ok'),
       sumIf(input_tokens, c), sumIf(output_tokens, c), sumIf(cache_read_tokens, c),
       sumIf(cache_creation_tokens, c), sumIf(reasoning_tokens, c),
       sumIf(cost_usd, c), sumIf(cost_usd, c AND status = 'error'), now64(3),
       sumIf(toDecimal128(cache_savings_pico, 12) / 1000000000000, c)
FROM {db}.llm_calls FINAL
WHERE start_time >= {{lo:DateTime64(6)}} AND start_time < {{hi:DateTime64(6)}}
  AND toStartOfMinute(start_time) IN {{minutes:Array(DateTime)}}
GROUP BY minute, service_name, environment, team, feature, risk_tier, provider, request_model
"""


def refresh_rollups(
    client: ClickHouseClient, db: str, minutes: list[datetime]
) -> dict[datetime, str]:
    """Recompute ``latency_1m`` and ``cost_1m`` for ``minutes``, ``CHUNK`` at a time.

    A chunk that fails is recomputed minute by minute, so data one minute cannot hold
    stops only that minute: ``{minute: error}`` of those left as they were."""
    db = check_identifier(db)
    latency, cost = _latency_sql(db), _cost_sql(db)
    failed: dict[datetime, str] = {}

    def run(chunk: list[datetime]) -> None:
        params = {"minutes": chunk, "lo": min(chunk), "hi": max(chunk) + timedelta(minutes=1)}
        client.command(latency, parameters=params, settings=INSERT_SETTINGS)
        client.command(cost, parameters=params, settings=INSERT_SETTINGS)

    for i in range(0, len(minutes), CHUNK):
        chunk = minutes[i : i + CHUNK]
        try:
            run(chunk)
        except Exception as exc:
            if len(chunk) == 1 or not is_data_error(exc):
                raise
            for minute in chunk:
                try:
                    run([minute])
                except Exception as one:
                    if not is_data_error(one):
                        raise
                    failed[minute] = str(one).splitlines()[0][:300]
    return failed


def refresh_transactions(
    client: ClickHouseClient, db: str, since: datetime, first_start: datetime
) -> list[int]:
    """Recompute every transaction with a call ingested after ``since``.

    Every call of such a transaction starts no earlier than its first known call
    (``transaction_costs.first_seen``) or the first of the new calls, so the scan of
    ``llm_calls`` starts there (the start_time skip index prunes the rest), however
    long the transaction, instead of re-reading a fixed look-back window.
    """
    db = check_identifier(db)
    # Touched transactions by 64-bit hash: a set of integers is much cheaper to build
    # and probe than one of strings, and a collision only recomputes one more
    # transaction (exactly, like the others).
    touched = (
        f"cityHash64(transaction_id) IN (SELECT DISTINCT cityHash64(transaction_id) "
        f"FROM {db}.llm_calls WHERE ingested_at > {{since:DateTime64(3)}})"
    )
    # Without FINAL: an older version's first_seen is never earlier than the calls it
    # summed, so the minimum over all versions is still a lower bound (and cheaper).
    known = client.query(
        f"SELECT min(first_seen) FROM {db}.transaction_costs WHERE {touched}",
        parameters={"since": since},
    ).result_rows[0][0]
    lo = _utc(first_start)
    if known is not None and _utc(known) > _EPOCH:
        lo = min(lo, _utc(known))
    # toString: grouping LowCardinality values into arrays costs more than the plain
    # strings (same values stored).
    sql = f"""
INSERT INTO {db}.transaction_costs
WITH {COUNTED} AS c
SELECT transaction_id, min(start_time), max(end_time),
       argMin(toString(service_name), start_time), argMin(toString(team), start_time),
       argMin(toString(feature), start_time), argMin(toString(risk_tier), start_time),
       arraySort(groupUniqArray(toString(service_name))),
       arraySort(groupUniqArray(toString(response_model))),
       countIf(c), countIf(c AND retry_attempt > 0), countIf(c AND status = 'error'),
       sumIf(input_tokens, c), sumIf(output_tokens, c), sumIf(cache_read_tokens, c),
       sumIf(cache_creation_tokens, c), sumIf(reasoning_tokens, c),
       sumIf(cost_usd, c), sumIf(cost_usd, c AND status = 'error'), now64(3)
FROM {db}.llm_calls FINAL
WHERE start_time >= {{lo:DateTime64(6)}} AND {touched} AND {{part}}
GROUP BY transaction_id
"""
    params = {"since": since, "lo": lo}
    # All at once; if the data of some transaction cannot be summed, in 16 parts by
    # hash, leaving only the failing parts as they were (their numbers are returned).
    try:
        client.command(sql.replace("{part}", "1"), parameters=params, settings=INSERT_SETTINGS)
        return []
    except Exception as exc:
        if not is_data_error(exc):
            raise
    failed = []
    for part in range(_PARTS):
        where = f"cityHash64(transaction_id) % {_PARTS} = {part}"
        try:
            client.command(
                sql.replace("{part}", where), parameters=params, settings=INSERT_SETTINGS
            )
        except Exception as exc:
            if not is_data_error(exc):
                raise
            failed.append(part)
    return failed


def _utc(t: datetime) -> datetime:
    return t.replace(tzinfo=UTC) if t.tzinfo is None else t
