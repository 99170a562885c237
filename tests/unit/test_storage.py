"""Validation is the storage types: every value accepted fits its column, at the limits."""

from __future__ import annotations

import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from llmpulse.schemas import storage
from llmpulse.schemas.record import BATCH_COLUMNS, CALL_COLUMNS, CallRecord
from llmpulse.stream_jobs import Message, Pipeline
from tests import otlp

RECORD: CallRecord = (
    Pipeline(native=False)
    .process([Message("t", 0, 0, otlp.request([otlp.span(otlp.gen_ai())]))])
    .calls[0]
)
INT_COLUMNS = [c for c in storage._checks("llm_calls", CALL_COLUMNS) if c[2] == "int"]


def test_every_contract_column_has_a_type_the_validator_reads() -> None:
    """The record and batch contracts are fully covered (it fails closed otherwise)."""
    assert storage._checks("llm_calls", CALL_COLUMNS)
    assert storage._checks("ingest_batches", BATCH_COLUMNS)
    assert out_of(RECORD) is None


def test_a_type_the_validator_cannot_read_fails_closed(monkeypatch: pytest.MonkeyPatch) -> None:
    """A DDL column with a codec (or missing) stops validation with an error, never silently."""
    storage._checks.cache_clear()
    monkeypatch.setattr(storage, "column_types", lambda t: {"retry_attempt": "UInt16 CODEC(T64)"})
    with pytest.raises(ValueError, match="retry_attempt"):
        storage._checks("llm_calls", ("retry_attempt",))
    storage._checks.cache_clear()


def out_of(record: CallRecord) -> str | None:
    return storage.out_of_range(record, CALL_COLUMNS, "llm_calls")


@pytest.mark.parametrize(("index", "name", "kind", "lo", "hi"), INT_COLUMNS)
def test_integer_columns_at_and_beyond_their_limits(
    index: int, name: str, kind: str, lo: int, hi: int
) -> None:
    """lo and hi fit; one past either end is reported, naming the column."""
    for value, fits in ((lo, True), (hi, True), (lo - 1, False), (hi + 1, False)):
        row = list(RECORD)
        row[index] = value
        problem = out_of(CallRecord(*row))
        assert (problem is None) is fits, (name, value, problem)
        if not fits:
            assert problem is not None and problem.startswith(name)


@given(st.floats(allow_nan=True, allow_infinity=True))
def test_float_columns_take_exactly_the_finite_numbers(x: float) -> None:
    """latency_ms / ttft_ms: any finite float fits, NaN and infinities never do."""
    assert (out_of(RECORD._replace(latency_ms=x)) is None) is math.isfinite(x)
    assert (out_of(RECORD._replace(ttft_ms=x)) is None) is math.isfinite(x)
    assert out_of(RECORD._replace(ttft_ms=None)) is None


@given(st.integers(min_value=-(2**70), max_value=2**70))
def test_times_must_fit_datetime64_and_the_ttl(us: int) -> None:
    """start/end time in microseconds: inside 1900..2106 only."""
    fits = -2_208_988_800 * 10**6 <= us <= 4_294_967_295 * 10**6
    assert (out_of(RECORD._replace(end_time=us)) is None) is fits
