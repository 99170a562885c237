"""The normalised LLM call record and the dead-letter record.

Both are plain tuples (NamedTuple) so a batch turns into ClickHouse columns
without per-field Python work. Column order here is the insert order; the DDL in
``clickhouse/`` declares the same columns (a test keeps them in step).
"""

from __future__ import annotations

from datetime import datetime
from typing import NamedTuple


class CallRecord(NamedTuple):
    """One LLM call, normalised from whichever attribute convention it came in."""

    trace_id: str
    span_id: str
    parent_span_id: str
    transaction_id: str
    start_time: int  # microseconds since the epoch, UTC
    end_time: int  # microseconds since the epoch, UTC
    service_name: str
    environment: str
    team: str
    feature: str
    risk_tier: str
    provider: str
    operation: str
    request_model: str
    response_model: str
    input_tokens: int
    output_tokens: int
    cache_read_tokens: int
    cache_creation_tokens: int
    reasoning_tokens: int
    latency_ms: float
    ttft_ms: float | None
    status: str
    error_type: str
    retry_attempt: int
    finish_reasons: list[str]
    cost_pico: int  # cost in pico-dollars (1e-12 USD), exact; ClickHouse derives cost_usd
    price_status: str
    price_version: str
    convention: str
    source_partition: int
    source_offset: int
    cache_savings_pico: int = 0  # cache reads at the input price less the cache-read price
    response_id: str = ""  # the provider's response id ("" when none, or not a short string)
    #: How input_tokens was derived: as reported, or the reported number plus the cached
    #: tokens (the provider's own rule: see conventions.INPUT_WITHOUT_CACHE).
    input_basis: str = "reported"


class DeadLetter(NamedTuple):
    """A rejected message or span: why, where in the pipeline, and what it was."""

    source_topic: str
    source_partition: int
    source_offset: int
    span_index: int  # -1 when the whole message was rejected
    stage: str  # decode | validate | normalise | price
    reason: str  # one of REJECT_REASONS
    detail: str
    trace_id: str
    span_id: str
    service_name: str
    payload: bytes  # original bytes (truncated) or the span's attributes as JSON
    payload_size: int
    rejected_at: datetime
    #: Spans this record stands for: 1, or (for the record after a message's samples of
    #: one reason) all the further spans of that message rejected for that reason.
    span_count: int = 1


class AgentSpan(NamedTuple):
    """A tool, agent, workflow or task span of a GenAI app (table ``agent_spans``): not a
    model call, kept for the transaction view (which tools and agents it ran, how long)."""

    trace_id: str
    span_id: str
    parent_span_id: str
    transaction_id: str
    start_time: int  # microseconds since the epoch, UTC
    end_time: int
    service_name: str
    operation: str  # execute_tool, invoke_agent, ... or the OpenInference kind, lower-cased
    name: str  # the tool's or agent's name, else the span name
    duration_ms: float
    status: str  # ok | error
    source_partition: int
    source_offset: int


class BatchRow(NamedTuple):
    """What one Kafka message gave (table ``ingest_batches``): where it came from, its
    size, and how many of its spans ended as calls, non-LLM spans, rejects, unpriced."""

    source_topic: str
    source_partition: int
    source_offset: int
    message_bytes: int
    spans: int
    llm_spans: int
    non_llm_spans: int
    rejected: int
    unpriced: int
    ingested_at: datetime


CALL_COLUMNS: tuple[str, ...] = CallRecord._fields
BATCH_COLUMNS: tuple[str, ...] = BatchRow._fields
DEAD_LETTER_COLUMNS: tuple[str, ...] = DeadLetter._fields
AGENT_COLUMNS: tuple[str, ...] = AgentSpan._fields

#: Every reason a record can be rejected for, with what it means.
REJECT_REASONS: dict[str, str] = {
    "malformed_protobuf": "the message (or one span of it) is not valid OTLP protobuf",
    "oversized_message": "the message is larger than the configured maximum",
    "unreadable_batch": "its Kafka record batch could not be inflated (too large, damaged)",
    "wrong_encoding": "not OTLP protobuf nor OTLP JSON (check the producer's encoding)",
    "missing_model": "an LLM span names neither a request nor a response model",
    "missing_ids": "the span has no valid trace id or span id",
    "wrong_type": "a token count or timing attribute has a type that is not a number",
    "negative_tokens": "a token count is negative",
    "absurd_tokens": "a token count is above the configured per-call maximum",
    "inconsistent_tokens": "cached tokens exceed input tokens, or reasoning exceeds output",
    "oversized_attribute": "an identifying attribute (model, service, ...) is too long",
    "negative_duration": "the span ends before it starts",
    "absurd_duration": "latency or time to first token is not finite or above the maximum",
    "out_of_range": "a value is outside what its ClickHouse column can hold",
    "refused_by_store": "ClickHouse refused the row itself (isolated from its batch)",
    "future_timestamp": "the span starts further in the future than the allowed clock skew",
    "ancient_timestamp": "the span is older than the accepted age",
    "duplicate_span": "the same span id occurs twice in one message",
    "internal_error": "normalising the span raised an unexpected error (a bug: report it)",
}

#: The dimension values used when an attribute is absent.
UNKNOWN = "unknown"
