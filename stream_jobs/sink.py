"""The ClickHouse sink: writes one processed batch, idempotently.

Delivery guarantee: at least once into the tables, exactly once as read. Each
write carries a deduplication token derived from the batch's source offsets, and
every table is a ReplacingMergeTree keyed by event identity, so writing the same
batch again after a crash (or the same span in another batch) adds no row to
``SELECT ... FINAL``. A failed write raises :class:`RetryLater`; the caller keeps
the offsets uncommitted and writes the same batch again.
"""

from __future__ import annotations

import logging
import re
import struct
import time
from datetime import UTC, datetime
from typing import Any, Protocol

from llmpulse.errors import RetryLater
from llmpulse.schemas.record import (
    AGENT_COLUMNS,
    BATCH_COLUMNS,
    CALL_COLUMNS,
    DEAD_LETTER_COLUMNS,
    BatchRow,
    CallRecord,
    DeadLetter,
)
from llmpulse.stream_jobs.clickhouse import ClickHouseClient, check_identifier
from llmpulse.stream_jobs.pipeline import BatchResult

__all__ = ["ClickHouseSink", "Sink", "TimedSink", "is_transient", "refused_letter"]

log = logging.getLogger(__name__)


class Sink(Protocol):
    """Where :class:`~llmpulse.stream_jobs.ingest.Ingest` makes a batch durable.

    ``write`` returns only once the batch is durable, or raises :class:`RetryLater`
    (nothing of it committed as read); writing the same batch again adds nothing.
    """

    def write(self, result: BatchResult) -> None: ...

    def visible_floor(self) -> datetime: ...


class TimedSink:
    """Base of the sinks: ``write`` times the write under way for ``visible_floor``;
    subclasses implement ``_write``."""

    _writing_since: float | None = None  # time.time() as the write under way began

    def _write(self, result: BatchResult) -> None:
        raise NotImplementedError

    def visible_floor(self) -> datetime:
        """No row this sink has still to make visible carries an ``ingested_at`` stamp
        (taken by ClickHouse as an insert starts) earlier than this: the start of the
        write under way, or now. Safe to call from another thread."""
        now = time.time()  # first: a write that starts after it is stamped after it
        since = self._writing_since
        return datetime.fromtimestamp(now if since is None else min(since, now), UTC)

    def write(self, result: BatchResult) -> None:
        """Make the batch durable; raise RetryLater on a failure to retry."""
        self._writing_since = time.time()
        try:
            self._write(result)
        finally:
            self._writing_since = None


class ClickHouseSink(TimedSink):
    """Write :class:`BatchResult` objects to the llmpulse tables."""

    def __init__(self, client: ClickHouseClient, database: str = "llmpulse") -> None:
        self.client = client
        self.database = check_identifier(database)

    def _write(self, result: BatchResult) -> None:
        token = result.token
        try:
            try:
                self._insert("llm_calls", result.calls, CALL_COLUMNS, f"{token}:calls")
                if result.native_rows:
                    self.client.raw_insert(
                        f"{self.database}.llm_calls",
                        list(CALL_COLUMNS),
                        insert_block=result.native_block,
                        fmt="Native",
                        settings=_settings(f"{token}:calls-native"),
                    )
            except Exception as exc:
                if is_transient(exc):
                    raise
                self._isolate(result, token, exc)
            self._insert("dead_letters", result.dead_letters, DEAD_LETTER_COLUMNS, f"{token}:dead")
            self._insert("ingest_batches", result.batches, BATCH_COLUMNS, f"{token}:batches")
            self._insert("agent_spans", result.agent_spans, AGENT_COLUMNS, f"{token}:agents")
        except Exception as exc:
            raise RetryLater(f"ClickHouse write failed: {exc}", retry_after=1.0) from exc

    def _isolate(self, result: BatchResult, token: str, first: Exception) -> None:
        """The store refused the calls for a reason that is not transient: bisect them,
        store every call it takes, dead-letter each one it refuses with its error.

        Deterministic (same batch, same halves, same tokens), so a replay after a crash
        mid-way stores nothing twice. A transient error while bisecting is raised."""
        records = result.records()
        log.warning(
            "ClickHouse refused a batch of %d calls (%s); isolating the rows it refuses",
            len(records),
            str(first).splitlines()[0][:300],
        )
        refused: list[tuple[CallRecord, str]] = []

        def place(lo: int, hi: int) -> None:
            try:
                self._insert("llm_calls", records[lo:hi], CALL_COLUMNS, f"{token}:calls:{lo}-{hi}")
            except Exception as exc:
                if is_transient(exc):
                    raise
                if hi - lo == 1:
                    refused.append((records[lo], str(exc).splitlines()[0][:500]))
                    return
                mid = (lo + hi) // 2
                place(lo, mid)
                place(mid, hi)

        if records:
            place(0, len(records))
        bad = {id(r) for r, _ in refused}
        result.calls = [r for r in records if id(r) not in bad]
        result.native_block, result.native_rows = b"", 0
        topics = {(b.source_partition, b.source_offset): b for b in result.batches}
        per_message: dict[tuple[int, int], int] = {}
        for record, error in refused:
            where = (record.source_partition, record.source_offset)
            batch = topics.get(where)
            n = per_message[where] = per_message.get(where, 0) + 1
            result.dead_letters.append(refused_letter(record, error, batch, -1 - n))
            if batch is not None:
                topics[where] = batch._replace(rejected=batch.rejected + 1)
        result.batches = [topics[(b.source_partition, b.source_offset)] for b in result.batches]
        log.warning("%d calls refused by ClickHouse went to the dead letters", len(refused))

    def _insert(self, table: str, rows: list[Any], columns: tuple[str, ...], token: str) -> None:
        if not rows:
            return
        data = list(zip(*rows, strict=True))  # one transpose in C, then columnar encoding
        self.client.insert(
            f"{self.database}.{table}",
            data,
            column_names=list(columns),
            column_oriented=True,
            settings=_settings(token),
        )


#: Server error codes that blame the data of the rows, not the store: cannot parse,
#: type mismatch, argument/value out of bound, cannot convert, incorrect data, too
#: large string, cannot insert NULL into a non-Nullable column.
_ROW_CODES = frozenset({6, 26, 27, 38, 41, 53, 69, 70, 72, 117, 131, 190, 321, 349})
_CODE = re.compile(r"code: (\d+)")


def is_transient(exc: BaseException) -> bool:
    """Whether a failed insert should be retried as it is (the store is unwell) rather
    than split to find the rows at fault. Only positive evidence blames a row: the
    client could not encode a value (``ValueError``, ``TypeError``, ``OverflowError``,
    ``struct.error``, clickhouse-connect's ``DataError``) or the server names a row
    error (:data:`_ROW_CODES`). Anything else (disk full, server down, a proxy's 503,
    access denied, a missing table) is retried: it never dead-letters good rows."""
    if isinstance(exc, ValueError | TypeError | OverflowError | struct.error):
        return False
    m = _CODE.search(str(exc).lower())
    if m:
        return int(m.group(1)) not in _ROW_CODES
    return type(exc).__name__ != "DataError"


def refused_letter(
    record: CallRecord, error: str, batch: BatchRow | None, index: int = -2
) -> DeadLetter:
    """The dead letter of a call the store refused: its identity and the engine's error.
    ``index`` (-2, -3, ...) keeps each refused call of a message a row of its own."""
    import json

    return DeadLetter(
        source_topic=batch.source_topic if batch is not None else "",
        source_partition=record.source_partition,
        source_offset=record.source_offset,
        span_index=index,
        stage="store",
        reason="refused_by_store",
        detail=error,
        trace_id=record.trace_id,
        span_id=record.span_id,
        service_name=record.service_name,
        payload=(payload := json.dumps(record._asdict(), default=str).encode()),
        payload_size=len(payload),
        rejected_at=datetime.now(UTC),
    )


def _settings(token: str) -> dict[str, Any]:
    # Replacing on insert sorts and merges each block once more (half the insert
    # time here); every read is FINAL and background merges replace anyway.
    return {"insert_deduplication_token": token, "optimize_on_insert": 0}
