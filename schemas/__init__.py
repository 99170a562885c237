"""The event contract: LLM call record, dead-letter record, price catalogue, DDL."""

from llmpulse.schemas.record import (
    CALL_COLUMNS,
    DEAD_LETTER_COLUMNS,
    REJECT_REASONS,
    CallRecord,
    DeadLetter,
)

__all__ = [
    "CALL_COLUMNS",
    "DEAD_LETTER_COLUMNS",
    "REJECT_REASONS",
    "CallRecord",
    "DeadLetter",
]
