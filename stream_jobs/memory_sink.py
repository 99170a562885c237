"""An in-memory sink with the ClickHouse sink's interface and idempotency, for tests.

Delivery guarantee: as :class:`~llmpulse.stream_jobs.sink.ClickHouseSink`'s
when read, exactly once, and nothing durable. Each table's block of a write
carries the same deduplication token the real sink sends (``{token}:calls``,
``{token}:calls-native``, ``{token}:dead``, ``{token}:batches``), and a block
whose token was seen before is dropped, as ClickHouse drops it: a batch written
twice is kept once. The read views (:attr:`MemorySink.calls`, ...) keep one row
per event identity, the tables' ``ReplacingMergeTree`` keys, the latest write
winning, as ``SELECT ... FINAL`` does: the same span resent in another batch is
read once. A write is all or nothing; it raises :class:`RetryLater` only when
:meth:`MemorySink.fail_next` asked for it. A crash, or the end of the process,
loses everything.

>>> from llmpulse.stream_jobs.pipeline import BatchResult
>>> sink = MemorySink()
>>> row = ("otlp_spans", 0, 7, 812, 1, 0, 1, 0, 0, datetime.now(UTC))  # one message's counts
>>> batch = BatchResult(batches=[row], sources=[("otlp_spans", 0, 7, 812, 0)])
>>> sink.write(batch)
>>> sink.write(batch)  # a replay: same offsets, same token
>>> sink.writes, sink.blocks_deduplicated, len(sink.rows("ingest_batches"))
(2, 1, 1)
"""

from __future__ import annotations

import threading
from typing import Any

from llmpulse.errors import RetryLater
from llmpulse.schemas.record import (
    BATCH_COLUMNS,
    CALL_COLUMNS,
    DEAD_LETTER_COLUMNS,
    CallRecord,
    DeadLetter,
)
from llmpulse.stream_jobs.fastpath import read_block
from llmpulse.stream_jobs.pipeline import BatchResult
from llmpulse.stream_jobs.sink import TimedSink

__all__ = ["TABLES", "MemorySink"]

#: The tables the real sink writes, by the name of their ClickHouse table.
TABLES = ("llm_calls", "dead_letters", "ingest_batches")

# Each table's ReplacingMergeTree key (ORDER BY in schemas/clickhouse/001_init.sql).
_CALL_KEY = ("service_name", "request_model", "trace_id", "span_id")
_DEAD_KEY = ("source_topic", "source_partition", "source_offset", "span_index")
_BATCH_KEY = ("source_topic", "source_partition", "source_offset")


class MemorySink(TimedSink):
    """Keep :class:`BatchResult` rows in memory, deduplicated as ClickHouse would.

    ``write(result)`` and ``visible_floor()`` are the real sink's. Rows as
    inserted (after token deduplication, before ``FINAL``) are in :meth:`rows`.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._rows: dict[str, list[tuple[Any, ...]]] = {table: [] for table in TABLES}
        self._tokens: set[str] = set()
        self._failures: list[float] = []  # retry_after of each write still to fail
        self.writes = 0  # write() calls, failed ones included
        self.blocks_deduplicated = 0  # table blocks dropped as already written

    def _write(self, result: BatchResult) -> None:
        token = result.token
        native = read_block(result.native_block) if result.native_rows else []
        blocks: list[tuple[str, str, list[Any]]] = [
            ("llm_calls", f"{token}:calls", list(result.calls)),
            ("llm_calls", f"{token}:calls-native", native),
            ("dead_letters", f"{token}:dead", list(result.dead_letters)),
            ("ingest_batches", f"{token}:batches", list(result.batches)),
        ]
        with self._lock:
            self.writes += 1
            if self._failures:
                retry_after = self._failures.pop(0)
                raise RetryLater("MemorySink: write failed as asked", retry_after=retry_after)
            for table, block_token, rows in blocks:
                if not rows:  # the real sink sends no block, so no token is spent
                    continue
                if block_token in self._tokens:
                    self.blocks_deduplicated += 1
                    continue
                self._tokens.add(block_token)
                self._rows[table].extend(tuple(row) for row in rows)

    # ------------------------------------------------------------------ for tests
    def fail_next(self, times: int = 1, retry_after: float = 0.0) -> None:
        """Make the next ``times`` writes raise :class:`RetryLater`, keeping nothing."""
        with self._lock:
            self._failures.extend([retry_after] * times)

    def rows(self, table: str) -> list[tuple[Any, ...]]:
        """The rows kept in ``table`` (one of :data:`TABLES`), as inserted, in order."""
        with self._lock:
            return list(self._rows[table])

    @property
    def calls(self) -> list[CallRecord]:
        """One call per (service, requested model, trace id, span id), as read with FINAL."""
        rows = _final(self.rows("llm_calls"), CALL_COLUMNS, _CALL_KEY)
        return [CallRecord(*row) for row in rows]

    @property
    def dead_letters(self) -> list[DeadLetter]:
        """One per (topic, partition, offset, span index), as read with FINAL."""
        rows = _final(self.rows("dead_letters"), DEAD_LETTER_COLUMNS, _DEAD_KEY)
        return [DeadLetter(*row) for row in rows]

    @property
    def batches(self) -> list[dict[str, Any]]:
        """One per source message (topic, partition, offset), as read with FINAL."""
        rows = _final(self.rows("ingest_batches"), BATCH_COLUMNS, _BATCH_KEY)
        return [dict(zip(BATCH_COLUMNS, row, strict=True)) for row in rows]


def _final(
    rows: list[tuple[Any, ...]], columns: tuple[str, ...], key: tuple[str, ...]
) -> list[tuple[Any, ...]]:
    """The latest row per key, in the order the keys were first written."""
    at = [columns.index(name) for name in key]
    latest: dict[tuple[Any, ...], tuple[Any, ...]] = {}
    for row in rows:
        latest[tuple(row[i] for i in at)] = row
    return list(latest.values())
