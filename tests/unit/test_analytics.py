"""Rollups and transaction costs: equal to the calls, exact under late and duplicate calls."""

from __future__ import annotations

import os
import time
from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np
import pytest

from llmpulse.stream_jobs import Message, Pipeline
from llmpulse.stream_jobs.analytics.job import AnalyticsJob
from llmpulse.stream_jobs.analytics.sketch import sql_quantile
from llmpulse.stream_jobs.clickhouse import migrate
from llmpulse.stream_jobs.sink import ClickHouseSink
from tests import otlp

MIN = 60 * 10**9


def one(client: Any, sql: str) -> tuple:
    return tuple(client.query(sql).result_rows[0])


def make_calls(n_tx: int, base_ns: int, rng: np.random.Generator) -> list:
    spans = []
    for tx in range(n_tx):
        for attempt in range(int(rng.integers(1, 4))):
            attrs = otlp.gen_ai(
                "gpt-4o" if tx % 2 else "claude-sonnet-4",
                inp=int(rng.integers(100, 5000)),
                out=int(rng.integers(10, 800)),
                **{
                    "llmpulse.transaction.id": f"tx-{tx}",
                    "llmpulse.retry.attempt": attempt,
                    "llmpulse.team": "payments" if tx % 3 else "support",
                },
            )
            start = base_ns + int(rng.integers(0, 30)) * MIN + int(rng.integers(0, MIN))
            spans.append(
                otlp.span(
                    attrs,
                    start_ns=start,
                    duration_ms=float(rng.lognormal(6.5, 0.8)),
                    error=attempt < 1 and tx % 5 == 0,
                )
            )
    return spans


def test_rollups_and_transactions_match_the_calls_exactly(chdb_client: Any, database: str) -> None:
    """cost_1m, latency_1m and transaction_costs agree with llm_calls, after late data too."""
    migrate(chdb_client, database)
    sink, pipe = ClickHouseSink(chdb_client, database), Pipeline()
    rng = np.random.default_rng(1)
    base = time.time_ns() - 3 * 3600 * 10**9
    spans = make_calls(300, base, rng)
    for i in range(0, len(spans), 100):
        sink.write(pipe.process([Message("t", 0, i, otlp.request(spans[i : i + 100]))]))
    job = AnalyticsJob(chdb_client, database)
    assert job.refresh().rows == len(spans)

    def check() -> None:
        calls = one(
            chdb_client,
            f"SELECT count(), sum(cost_usd), sum(input_tokens), "
            f"uniqExact(transaction_id) FROM {database}.llm_calls FINAL",
        )
        cost = one(
            chdb_client,
            f"SELECT sum(calls), sum(cost_usd), sum(input_tokens) FROM {database}.cost_1m FINAL",
        )
        tx = one(
            chdb_client,
            f"SELECT count(), sum(calls), sum(cost_usd) FROM {database}.transaction_costs FINAL",
        )
        lat = one(chdb_client, f"SELECT sum(calls) FROM {database}.latency_1m FINAL")
        assert cost == calls[:3]
        saved = one(chdb_client, f"SELECT sum(cache_savings_usd) FROM {database}.cost_1m FINAL")
        raw = one(chdb_client, f"SELECT sum(cache_savings_pico) FROM {database}.llm_calls FINAL")
        assert saved[0] * 10**12 == raw[0]
        assert tx == (calls[3], calls[0], calls[1])
        assert lat == (calls[0],)
        per_tx = dict(
            chdb_client.query(
                f"SELECT transaction_id, sum(cost_usd) FROM {database}.llm_calls FINAL "
                "GROUP BY transaction_id"
            ).result_rows
        )
        stored = dict(
            chdb_client.query(
                f"SELECT transaction_id, cost_usd FROM {database}.transaction_costs FINAL"
            ).result_rows
        )
        assert stored == per_tx

    check()
    # A late call for an old transaction and minute, plus a resent (duplicate) span.
    late = otlp.span(
        otlp.gen_ai("gpt-4o", inp=999, out=9, **{"llmpulse.transaction.id": "tx-1"}),
        start_ns=base + MIN,
    )
    sink.write(pipe.process([Message("t", 0, 9000, otlp.request([late, spans[0]]))]))
    before = one(
        chdb_client,
        f"SELECT calls, cost_usd FROM {database}.transaction_costs FINAL "
        "WHERE transaction_id = 'tx-1'",
    )
    job.refresh()
    after = one(
        chdb_client,
        f"SELECT calls, cost_usd FROM {database}.transaction_costs FINAL "
        "WHERE transaction_id = 'tx-1'",
    )
    assert after[0] == before[0] + 1 and after[1] > before[1]
    check()
    job.refresh()  # refreshing again changes nothing
    check()


def test_latency_rollup_quantiles_match_exact_quantiles(chdb_client: Any, database: str) -> None:
    """p95 from merged minute sketches is within 1% of the exact p95 of the calls."""
    migrate(chdb_client, database)
    sink, pipe = ClickHouseSink(chdb_client, database), Pipeline()
    rng = np.random.default_rng(7)
    base = time.time_ns() - 2 * 3600 * 10**9
    lat = (rng.pareto(1.8, 3000) + 1) * 300
    spans = [
        otlp.span(
            otlp.gen_ai(),
            start_ns=base + int(rng.integers(0, 90)) * MIN,
            duration_ms=float(v),
            trace_id=os.urandom(16),
        )
        for v in lat
    ]
    sink.write(pipe.process([Message("t", 0, 0, otlp.request(spans))]))
    AnalyticsJob(chdb_client, database).refresh()
    (p95, minutes) = one(
        chdb_client,
        f"WITH sumMap(latency_keys, latency_counts) AS m "
        f"SELECT {sql_quantile('m', 0.95)}, count() "
        f"FROM {database}.latency_1m FINAL",
    )
    stored = np.array(
        [
            r[0]
            for r in chdb_client.query(
                f"SELECT latency_ms FROM {database}.llm_calls FINAL"
            ).result_rows
        ]
    )
    exact = np.quantile(stored, 0.95, method="lower")
    assert minutes > 60
    assert abs(p95 - exact) / exact <= 0.0101


def test_drift_events_land_once_and_state_persists(chdb_client: Any, database: str) -> None:
    """A latency step makes one stored event; a new job instance resumes the state."""
    migrate(chdb_client, database)
    sink, pipe = ClickHouseSink(chdb_client, database), Pipeline()
    rng = np.random.default_rng(3)
    base = (time.time_ns() - 4 * 3600 * 10**9) // MIN * MIN
    spans = []
    for minute in range(120):
        factor = 3.0 if minute >= 60 else 1.0
        spans += [
            otlp.span(
                otlp.gen_ai(),
                start_ns=base + minute * MIN + k * 10**9,
                duration_ms=float(rng.lognormal(6.5, 0.3)) * factor,
            )
            for k in range(10)
        ]
    for i in range(0, len(spans), 400):
        sink.write(pipe.process([Message("t", 0, i, otlp.request(spans[i : i + 400]))]))
    job = AnalyticsJob(chdb_client, database)
    job.refresh()
    assert chdb_client.query(f"SELECT count() FROM {database}.drift_events").result_rows == [(0,)]
    job.refresh(final=True)  # calls ingested just now close their minutes only when final
    rows = chdb_client.query(
        f"SELECT metric, minute FROM {database}.drift_events FINAL WHERE kind = 'shift'"
    ).result_rows
    assert [r[0] for r in rows] == ["latency_p50_ms"]
    state = one(
        chdb_client, f"SELECT count() FROM {database}.analytics_state FINAL WHERE job = 'drift'"
    )
    assert state == (1,)
    resumed = AnalyticsJob(chdb_client, database)
    assert ("svc", "gpt-4o-mini", "latency_p50_ms") in resumed.monitor.series


def store_latency_step(client: Any, database: str) -> ClickHouseSink:
    """Two hours of calls, 10 a minute, whose latency triples after the first hour."""
    migrate(client, database)
    sink, pipe = ClickHouseSink(client, database), Pipeline()
    rng = np.random.default_rng(3)
    base = (time.time_ns() - 4 * 3600 * 10**9) // MIN * MIN
    spans = [
        otlp.span(
            otlp.gen_ai(),
            start_ns=base + minute * MIN + k * 10**9,
            duration_ms=float(rng.lognormal(6.5, 0.3)) * (3.0 if minute >= 60 else 1.0),
        )
        for minute in range(120)
        for k in range(10)
    ]
    for i in range(0, len(spans), 400):
        sink.write(pipe.process([Message("t", 0, i, otlp.request(spans[i : i + 400]))]))
    return sink


def test_minutes_close_at_a_refresh_that_finds_no_new_calls(
    chdb_client: Any, database: str
) -> None:
    """The worker's final refresh found no new calls (a periodic one had read them
    while they were too fresh to close their minutes) and fed no drift: none stored."""
    sink = store_latency_step(chdb_client, database)
    # The only writer's floor, as the worker on the embedded engine passes it.
    job = AnalyticsJob(chdb_client, database, visible_floor=sink.visible_floor)
    assert job.refresh().closed_minutes_fed == 0  # everything ingested < settle ago
    stats = job.refresh(final=True)
    assert stats.rows == 0 and stats.closed_minutes_fed == 118  # all but the lateness
    rows = chdb_client.query(
        f"SELECT metric FROM {database}.drift_events FINAL WHERE kind = 'shift'"
    ).result_rows
    assert [r[0] for r in rows] == ["latency_p50_ms"]


def test_a_crash_while_storing_drift_events_loses_none_and_doubles_none(
    chdb_client: Any, database: str
) -> None:
    """The store fails as the events are written: the next job still stores each once."""
    store_latency_step(chdb_client, database)

    class Crashing:
        """The real client, except that writing drift events fails (a crash there)."""

        def __getattr__(self, name: str) -> Any:
            return getattr(chdb_client, name)

        def insert(self, table: str, *args: Any, **kw: Any) -> Any:
            if table.endswith(".drift_events"):
                raise ConnectionError("the worker died here")
            return chdb_client.insert(table, *args, **kw)

    with pytest.raises(ConnectionError):
        AnalyticsJob(Crashing(), database).refresh(final=True)  # type: ignore[arg-type]
    AnalyticsJob(chdb_client, database).refresh(final=True)
    AnalyticsJob(chdb_client, database).refresh(final=True)
    rows = chdb_client.query(
        f"SELECT metric FROM {database}.drift_events FINAL WHERE kind = 'shift'"
    ).result_rows
    assert [r[0] for r in rows] == ["latency_p50_ms"]


def test_slow_refreshes_are_spaced_to_keep_their_share_of_the_worker() -> None:
    """Quick refreshes run every interval; a slow one waits so refreshing stays <= 20 %."""
    from llmpulse.stream_jobs.app import refresh_pause
    from llmpulse.stream_jobs.settings import WorkerSettings

    settings = WorkerSettings(analytics_interval_s=5.0, analytics_max_share=0.2)
    assert refresh_pause(settings, 0.3) == 5.0
    assert refresh_pause(settings, 4.0) == 16.0  # 4 s of work, then 16 s of ingest
    took = 2.5
    assert took / (took + refresh_pause(settings, took)) <= 0.2 + 1e-9


def test_refreshes_wait_while_a_backlog_is_worked_through_but_not_forever() -> None:
    """Full batches a moment ago mean a backlog: the refresh waits, up to the max delay;
    a partial batch, or a full one long ago (idle since), does not hold it back."""
    from llmpulse.stream_jobs.app import catching_up
    from llmpulse.stream_jobs.ingest import IngestStats
    from llmpulse.stream_jobs.settings import WorkerSettings

    settings = WorkerSettings(
        batch_max_messages=200, batch_max_seconds=1.0, analytics_max_delay_s=60.0
    )
    full = IngestStats(last_batch_messages=200, last_batch_at=100.0)
    assert catching_up(settings, full, now=100.5, since=10.0)
    assert not catching_up(settings, full, now=100.5, since=60.0)  # waited long enough
    assert not catching_up(settings, full, now=110.0, since=10.0)  # idle since that batch
    partial = IngestStats(last_batch_messages=37, last_batch_at=100.0)
    assert not catching_up(settings, partial, now=100.5, since=10.0)
    # A short batch with a backlog still waiting in the log (bursty fetching).
    short = IngestStats(last_batch_messages=37, last_batch_at=100.0, behind=450)
    assert catching_up(settings, short, now=100.5, since=10.0)
    assert not catching_up(settings, short, now=100.5, since=61.0)
    assert not catching_up(
        settings,
        IngestStats(last_batch_messages=37, last_batch_at=100.0, behind=199),
        now=100.5,
        since=10.0,
    )


def test_backlog_is_the_log_end_past_the_next_offset_per_partition() -> None:
    from llmpulse.stream_jobs.app import backlog

    ends = {0: 1000, 1: 40, 2: None}
    assert backlog(ends.get, {0: 700, 1: 40, 2: 5}) == 300  # unknown end counts 0
    assert backlog(ends.get, {0: 1200}) == 0  # never negative (end seen before a fetch)
    assert backlog(ends.get, {}) == 0


def test_a_transaction_spanning_days_keeps_all_its_calls(chdb_client: Any, database: str) -> None:
    """A call today to a transaction that began three days ago: both calls counted.

    The refresh used to re-read a fixed day before the new calls, and so rewrote the
    transaction from its last day only."""
    migrate(chdb_client, database)
    sink, pipe, job = ClickHouseSink(chdb_client, database), Pipeline(), None
    now = time.time_ns()
    for i, start in enumerate((now - 3 * 86_400 * 10**9, now - 60 * 10**9)):
        attrs = otlp.gen_ai("gpt-4o", inp=1000, out=100, **{"llmpulse.transaction.id": "tx-long"})
        sink.write(
            pipe.process([Message("t", 0, i, otlp.request([otlp.span(attrs, start_ns=start)]))])
        )
        job = job or AnalyticsJob(chdb_client, database, margin=timedelta(0))
        job.refresh(final=True)
        time.sleep(0.05)  # the second call is ingested after the first refresh's watermark
    calls, cost = one(
        chdb_client,
        f"SELECT calls, cost_usd FROM {database}.transaction_costs FINAL "
        "WHERE transaction_id = 'tx-long'",
    )
    expected = one(
        chdb_client,
        f"SELECT count(), sum(cost_usd) FROM {database}.llm_calls FINAL "
        "WHERE transaction_id = 'tx-long'",
    )
    assert (calls, cost) == expected and calls == 2


def test_a_refresh_that_reads_the_same_calls_again_changes_nothing(
    chdb_client: Any, database: str
) -> None:
    """A new job (fresh state) re-reads calls already rolled up: same totals, never twice."""
    migrate(chdb_client, database)
    sink, pipe = ClickHouseSink(chdb_client, database), Pipeline()
    spans = make_calls(40, time.time_ns() - 3600 * 10**9, np.random.default_rng(3))
    sink.write(pipe.process([Message("t", 0, 0, otlp.request(spans))]))
    stats = AnalyticsJob(chdb_client, database).refresh()
    assert stats.rows == len(spans)
    calls = one(chdb_client, f"SELECT sum(calls) FROM {database}.cost_1m FINAL")[0]
    assert calls == len(spans)
    AnalyticsJob(chdb_client, database).refresh()  # the same rows again (margin): same totals
    assert one(chdb_client, f"SELECT sum(calls) FROM {database}.cost_1m FINAL")[0] == calls


def test_the_only_writers_floor_replaces_the_margin_and_keeps_late_visible_rows(
    chdb_client: Any, database: str
) -> None:
    """With the writer's floor (embedded engine), a refresh re-reads no margin of rows,
    and rows stamped before its read but visible only after it are still counted."""
    migrate(chdb_client, database)
    sink, pipe, rng = ClickHouseSink(chdb_client, database), Pipeline(), np.random.default_rng(5)
    base = time.time_ns() - 3600 * 10**9

    def write(offset: int) -> int:
        spans = make_calls(10, base, rng)
        sink.write(pipe.process([Message("t", 0, offset, otlp.request(spans))]))
        return len(spans)

    under_way: list[datetime] = []  # an insert that began and is not visible yet
    job = AnalyticsJob(
        chdb_client, database, visible_floor=lambda: min([*under_way, sink.visible_floor()])
    )
    first = write(0)
    assert job.refresh().rows == first  # the first refresh after a start: margin and all
    assert job.refresh().rows == 0  # nothing new, nothing read again
    began = datetime.now(UTC)
    under_way.append(began)
    time.sleep(0.05)
    second = write(1)
    assert job.refresh().rows == second
    # The insert that began at `began` commits only now, after that refresh's read.
    chdb_client.command(
        f"INSERT INTO {database}.llm_calls SELECT * REPLACE (concat(span_id, '-late') AS "
        f"span_id, input_tokens + 1 AS input_tokens, {{late:DateTime64(3)}} AS ingested_at) "
        f"FROM {database}.llm_calls LIMIT 1",  # another call (a copy would be a stacked span)
        parameters={"late": began + timedelta(milliseconds=1)},
    )
    under_way.clear()
    assert job.refresh().rows == second + 1  # read again from below the floor: found
    total = one(chdb_client, f"SELECT count() FROM {database}.llm_calls FINAL")[0]
    assert total == first + second + 1
    assert one(chdb_client, f"SELECT sum(calls) FROM {database}.cost_1m FINAL")[0] == total


def test_one_row_analytics_cannot_compute_stops_only_its_minute(
    chdb_client: Any, database: str
) -> None:
    """A stored ttft of inf froze every refresh; now only its minute is left, reported."""
    migrate(chdb_client, database)
    sink, pipe = ClickHouseSink(chdb_client, database), Pipeline(native=False)
    base = (time.time_ns() - 3600 * 10**9) // MIN * MIN
    spans = [otlp.span(otlp.gen_ai(), start_ns=base + m * MIN + 10**9) for m in range(5)]
    result = pipe.process([Message("t", 0, 0, otlp.request(spans))])
    result.calls[2] = result.calls[2]._replace(ttft_ms=float("inf"))  # past validation
    sink.write(result)
    stats = AnalyticsJob(chdb_client, database).refresh(final=True)
    assert len(stats.failed_minutes) == 1
    got = one(chdb_client, f"SELECT sum(calls) FROM {database}.cost_1m FINAL")
    assert got == (4,)
    tx = one(chdb_client, f"SELECT count() FROM {database}.transaction_costs FINAL")
    assert tx[0] >= 4
