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
import time
from datetime import UTC, datetime
from typing import Any

from llmpulse.errors import RetryLater
from llmpulse.schemas.record import CALL_COLUMNS, DEAD_LETTER_COLUMNS
from llmpulse.stream_jobs.clickhouse import ClickHouseClient, check_identifier
from llmpulse.stream_jobs.pipeline import BatchResult

__all__ = ["BATCH_COLUMNS", "ClickHouseSink"]

log = logging.getLogger(__name__)

BATCH_COLUMNS = (
    "source_topic",
    "source_partition",
    "source_offset",
    "message_bytes",
    "spans",
    "llm_spans",
    "non_llm_spans",
    "rejected",
    "unpriced",
    "ingested_at",
)


class ClickHouseSink:
    """Write :class:`BatchResult` objects to the llmpulse tables."""

    def __init__(self, client: ClickHouseClient, database: str = "llmpulse") -> None:
        self.client = client
        self.database = check_identifier(database)
        self._writing_since: float | None = None  # time.time() as the write under way began

    def visible_floor(self) -> datetime:
        """No row this sink has still to make visible carries an ``ingested_at`` stamp
        (taken by ClickHouse as an insert starts) earlier than this: the start of the
        write under way, or now. Safe to call from another thread."""
        now = time.time()  # first: a write that starts after it is stamped after it
        since = self._writing_since
        return datetime.fromtimestamp(now if since is None else min(since, now), UTC)

    def write(self, result: BatchResult) -> None:
        """Insert calls, dead letters and per-message counts; raise RetryLater on failure."""
        self._writing_since = time.time()
        try:
            self._write(result)
        finally:
            self._writing_since = None

    def _write(self, result: BatchResult) -> None:
        token = result.token
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
            self._insert("dead_letters", result.dead_letters, DEAD_LETTER_COLUMNS, f"{token}:dead")
            self._insert("ingest_batches", result.batches, BATCH_COLUMNS, f"{token}:batches")
        except Exception as exc:
            raise RetryLater(f"ClickHouse write failed: {exc}", retry_after=1.0) from exc

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


def _settings(token: str) -> dict[str, Any]:
    # Replacing on insert sorts and merges each block once more (half the insert
    # time here); every read is FINAL and background merges replace anyway.
    return {"insert_deduplication_token": token, "optimize_on_insert": 0}
