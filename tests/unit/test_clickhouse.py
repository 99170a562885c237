"""Schema migrations and the idempotent sink, on the embedded ClickHouse engine."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest

from llmpulse.errors import ConfigError, RetryLater
from llmpulse.schemas import CALL_COLUMNS, DEAD_LETTER_COLUMNS
from llmpulse.schemas.record import AGENT_COLUMNS, BATCH_COLUMNS
from llmpulse.stream_jobs import Message, Pipeline
from llmpulse.stream_jobs.clickhouse import migrate
from llmpulse.stream_jobs.sink import ClickHouseSink
from tests import otlp


def columns(client: Any, db: str, table: str) -> list[str]:
    rows = client.query(
        "SELECT name FROM system.columns WHERE database = {db:String} AND table = {t:String} "
        "ORDER BY position",
        parameters={"db": db, "t": table},
    ).result_rows
    return [r[0] for r in rows]


def test_ddl_matches_the_record_contract(chdb_client: Any, database: str) -> None:
    """Each table's columns are the record's fields, in order."""
    migrate(chdb_client, database)
    assert columns(chdb_client, database, "llm_calls") == [
        *CALL_COLUMNS[:-3],
        "ingested_at",
        "cost_usd",
        "cache_savings_pico",
        "response_id",
        "input_basis",
        "duplicate_of",  # set by the analytics refresh, never by an insert
    ]
    assert columns(chdb_client, database, "dead_letters") == list(DEAD_LETTER_COLUMNS)
    assert columns(chdb_client, database, "ingest_batches") == list(BATCH_COLUMNS)
    assert columns(chdb_client, database, "agent_spans") == [*AGENT_COLUMNS, "ingested_at"]


def test_migrate_is_idempotent_and_sets_retention(chdb_client: Any, database: str) -> None:
    """A second migrate applies nothing; the TTL follows the retention setting."""
    assert migrate(chdb_client, database, ttl_days=30) == [1, 2, 3, 4, 5, 6, 7, 8, 9, 10]
    assert migrate(chdb_client, database, ttl_days=7) == []
    ddl = chdb_client.command(f"SHOW CREATE TABLE {database}.llm_calls")
    assert "toIntervalDay(7)" in ddl
    assert "INDEX ingested_minmax ingested_at TYPE minmax" in ddl


@pytest.mark.parametrize(("db", "ttl"), [("bad-name; DROP", 30), ("ok", 0)])
def test_migrate_rejects_bad_settings(chdb_client: Any, db: str, ttl: int) -> None:
    """Identifiers are checked and retention must be positive."""
    with pytest.raises(ConfigError):
        migrate(chdb_client, db, ttl)


def _totals(client: Any, db: str) -> tuple[int, Any, int]:
    calls = client.query(f"SELECT count(), sum(cost_usd) FROM {db}.llm_calls FINAL").result_rows
    dead = client.query(f"SELECT count() FROM {db}.dead_letters FINAL").result_rows
    return calls[0][0], calls[0][1], dead[0][0]


def test_writing_the_same_batch_twice_counts_once(chdb_client: Any, database: str) -> None:
    """A replayed batch (same token) and a replayed span (other batch) add nothing."""
    migrate(chdb_client, database)
    sink = ClickHouseSink(chdb_client, database)
    payload = otlp.request([otlp.span(otlp.gen_ai()) for _ in range(3)])
    bad = otlp.request([otlp.span(otlp.gen_ai(inp=-1))])
    pipe = Pipeline()
    first = pipe.process([Message("t", 0, 0, payload), Message("t", 0, 1, bad)])
    sink.write(first)
    once = _totals(chdb_client, database)
    sink.write(pipe.process([Message("t", 0, 0, payload), Message("t", 0, 1, bad)]))
    sink.write(pipe.process([Message("t", 0, 0, payload)]))  # other batch, same spans
    assert _totals(chdb_client, database) == once
    assert once[0] == 3 and once[2] == 1
    assert once[1] == Decimal(sum(c.cost_pico for c in first.records())) / 10**12


def test_sink_failure_says_retry_later(chdb_client: Any) -> None:
    """A write to a missing database raises RetryLater, not a driver error."""
    sink = ClickHouseSink(chdb_client, "no_such_db_here")
    res = Pipeline().process([Message("t", 0, 0, otlp.request([otlp.span(otlp.gen_ai())]))])
    with pytest.raises(RetryLater) as info:
        sink.write(res)
    assert info.value.retry_after > 0


def test_visible_floor_is_the_start_of_the_write_under_way(chdb_client: Any, database: str) -> None:
    """Read from inside a write (as the analytics thread may), the floor is no later
    than the write's start and so than its rows' ingested_at stamps; after it, now."""
    import time
    from datetime import UTC, datetime, timedelta

    migrate(chdb_client, database)
    seen: list[tuple[datetime, datetime]] = []

    class Watching:  # the real client, noting the floor as each insert runs
        def __getattr__(self, name: str) -> Any:
            return getattr(chdb_client, name)

        def raw_insert(self, *args: Any, **kwargs: Any) -> Any:
            time.sleep(0.05)  # the write began at least this long ago
            seen.append((sink.visible_floor(), datetime.now(UTC)))
            return chdb_client.raw_insert(*args, **kwargs)

    sink = ClickHouseSink(Watching(), database)
    before = datetime.now(UTC)
    sink.write(Pipeline().process([Message("t", 0, 0, otlp.request([otlp.span(otlp.gen_ai())]))]))
    rows = chdb_client.query(f"SELECT max(ingested_at) FROM {database}.llm_calls").result_rows
    stamp = rows[0][0].replace(tzinfo=UTC)
    ((floor, read_at),) = seen
    assert before <= floor <= read_at - timedelta(milliseconds=45)
    assert floor <= stamp
    assert sink.visible_floor() >= stamp  # nothing under way: now


def _can_renice() -> bool:
    from pathlib import Path

    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("CapEff:"):
            return bool(int(line.split()[1], 16) >> 23 & 1)  # CAP_SYS_NICE
    return False


@pytest.mark.skipif(not _can_renice(), reason="ClickHouse renices only with CAP_SYS_NICE")
def test_analytics_statements_run_on_niced_engine_threads(chdb_dsn: str) -> None:
    """The worker's analytics session: its query threads run at ``analytics_nice``."""
    import threading
    import time
    from pathlib import Path

    from llmpulse.stream_jobs.settings import WorkerSettings
    from llmpulse.stream_jobs.worker import analytics_session

    client = analytics_session(WorkerSettings(clickhouse_dsn=chdb_dsn, analytics_nice=7))
    busy = threading.Thread(
        target=client.query,
        args=("SELECT count() FROM numbers(100000000) WHERE sipHash64(number) % 7 = 1",),
    )
    busy.start()
    seen: set[int] = set()
    while busy.is_alive() and 7 not in seen:
        for task in Path("/proc/self/task").iterdir():
            try:
                seen.add(int((task / "stat").read_text().rsplit(")", 1)[1].split()[16]))
            except (OSError, IndexError):
                continue
        time.sleep(0.01)
    busy.join()
    assert 7 in seen


def test_a_row_the_store_refuses_is_isolated_and_the_rest_stored(
    chdb_client: Any, database: str
) -> None:
    """A value its column cannot hold (UInt16 retry) no longer stalls the batch forever."""
    migrate(chdb_client, database)
    spans = [otlp.span(otlp.gen_ai()) for _ in range(7)]
    result = Pipeline(native=False).process([Message("t", 0, 0, otlp.request(spans))])
    bad = [result.calls[i]._replace(retry_attempt=70_000) for i in (2, 5)]  # as before
    result.calls[2], result.calls[5] = bad
    ClickHouseSink(chdb_client, database).write(result)  # no RetryLater
    stored = chdb_client.query(f"SELECT count() FROM {database}.llm_calls FINAL").result_rows
    assert stored[0][0] == 5
    letters = chdb_client.query(
        f"SELECT reason, stage, span_id FROM {database}.dead_letters FINAL ORDER BY span_index"
    ).result_rows
    assert sorted(letters) == sorted(("refused_by_store", "store", b.span_id) for b in bad)
    (batch,) = chdb_client.query(
        f"SELECT llm_spans, rejected FROM {database}.ingest_batches FINAL"
    ).result_rows
    assert batch == (7, 2)


@pytest.mark.parametrize(
    ("error", "transient"),
    [
        ("Code: 74. DB::Exception: Cannot write to file: errno: 28, No space left on device", True),
        ("Code: 243. DB::Exception: Cannot reserve 1.00 MiB, not enough space", True),
        ("Code: 252. DB::Exception: Too many parts (300)", True),
        ("Code: 236. DB::Exception: Server is shutting down", True),
        ("Code: 497. DB::Exception: Not enough privileges", True),
        ("Code: 60. DB::Exception: Unknown table expression identifier", True),
        ("HTTP driver received HTTP status 503", True),
        ("Code: 53. DB::Exception: Type mismatch in VALUES section", False),
        ("Code: 321. DB::Exception: Value is out of range of data type UInt16", False),
    ],
)
def test_only_positive_evidence_blames_a_row(error: str, transient: bool) -> None:
    """Store outages are retried (never dead-lettering good rows); row errors are split."""
    from llmpulse.stream_jobs.sink import is_transient

    assert is_transient(RuntimeError(error)) is transient
    assert is_transient(ConnectionRefusedError(111, "refused")) is True
    assert is_transient(OverflowError("ushort format requires 0 <= number <= 65535")) is False


def test_new_calls_at_reused_offsets_are_stored_not_deduplicated(
    chdb_client: Any, database: str
) -> None:
    """Topic deleted and recreated: same offsets, new calls; all of them are kept."""
    migrate(chdb_client, database)
    sink, pipe = ClickHouseSink(chdb_client, database), Pipeline()
    for _ in range(2):
        payload = otlp.request([otlp.span(otlp.gen_ai()) for _ in range(5)])
        sink.write(pipe.process([Message("otlp_spans", 0, 0, payload)]))
    stored = chdb_client.query(f"SELECT count() FROM {database}.llm_calls FINAL").result_rows
    assert stored[0][0] == 10
