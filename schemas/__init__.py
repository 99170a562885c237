"""The event contract: LLM call record, dead-letter record, content keys.

The price catalogue (``prices.toml``) and the ClickHouse DDL (``clickhouse/``) are
data files beside this package, read by :mod:`llmpulse.stream_jobs`.
"""

from llmpulse.schemas.content import CONTENT_EVENTS, CONTENT_KEYS, is_content_key
from llmpulse.schemas.record import (
    BATCH_COLUMNS,
    CALL_COLUMNS,
    DEAD_LETTER_COLUMNS,
    REJECT_REASONS,
    BatchRow,
    CallRecord,
    DeadLetter,
)

__all__ = [
    "BATCH_COLUMNS",
    "CALL_COLUMNS",
    "CONTENT_EVENTS",
    "CONTENT_KEYS",
    "DEAD_LETTER_COLUMNS",
    "REJECT_REASONS",
    "BatchRow",
    "CallRecord",
    "DeadLetter",
    "is_content_key",
]
