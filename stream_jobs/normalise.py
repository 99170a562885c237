"""Validate one LLM span and turn it into a priced :class:`CallRecord`.

Pure code: no Kafka, no ClickHouse. Every way a span can be wrong ends in a
:class:`Rejection` with a reason from ``schemas.REJECT_REASONS``.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from llmpulse.schemas.record import UNKNOWN, CallRecord
from llmpulse.stream_jobs.conventions import detect_convention, first
from llmpulse.stream_jobs.pricing import PICO_PER_USD, PriceCatalogue

__all__ = ["Limits", "Rejection", "normalise_span"]

_OPERATIONS = {"llm": "chat", "embedding": "embeddings", "completion": "text_completion"}
_TOKEN_FIELDS = (
    "input_tokens",
    "output_tokens",
    "cache_read_tokens",
    "cache_creation_tokens",
    "reasoning_tokens",
)
_STATUS_ERROR = 2
_PICO = Decimal(PICO_PER_USD)


@dataclass(frozen=True)
class Limits:
    """What the validator accepts; the defaults suit most fleets."""

    max_tokens_per_call: int = 10_000_000
    max_attribute_chars: int = 256
    max_future_skew_s: float = 3600.0
    max_age_days: float = 400.0


class Rejection(Exception):
    """Why a span was not accepted: a reason from REJECT_REASONS, a detail, a stage."""

    def __init__(self, reason: str, detail: str, stage: str = "validate") -> None:
        super().__init__(f"{reason}: {detail}")
        self.reason = reason
        self.detail = detail
        self.stage = stage


def _token(value: Any, field: str, limits: Limits) -> int:
    if value is None:
        return 0
    if isinstance(value, bool):
        raise Rejection("wrong_type", f"{field} is a boolean")
    if isinstance(value, int):
        n = value
    elif isinstance(value, float) and value.is_integer():
        n = int(value)
    elif isinstance(value, str) and value.strip().lstrip("-").isdigit():
        n = int(value.strip())
    else:
        raise Rejection("wrong_type", f"{field} is {type(value).__name__} {str(value)[:40]!r}")
    if n < 0:
        raise Rejection("negative_tokens", f"{field}={n}")
    if n > limits.max_tokens_per_call:
        raise Rejection("absurd_tokens", f"{field}={n} > {limits.max_tokens_per_call}")
    return n


def _text(value: Any, field: str, limits: Limits, default: str = "") -> str:
    if value is None or value == "":
        return default
    text = value if isinstance(value, str) else str(value)
    if len(text) > limits.max_attribute_chars:
        raise Rejection(
            "oversized_attribute", f"{field} has {len(text)} chars > {limits.max_attribute_chars}"
        )
    return text


def _number(value: Any, field: str) -> float | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise Rejection("wrong_type", f"{field} is {type(value).__name__}")
    return float(value)


def _finish_reasons(value: Any) -> list[str]:
    if value is None:
        return []
    if isinstance(value, list | tuple):
        return [str(v)[:32] for v in value[:8]]
    return [str(value)[:32]]


def normalise_span(
    span: Any,
    attrs: dict[str, Any],
    resource: dict[str, Any],
    catalogue: PriceCatalogue,
    now_ns: int,
    limits: Limits,
    source: tuple[int, int] = (0, 0),
) -> CallRecord:
    """Validate, normalise and price one LLM span; raise :class:`Rejection` if bad."""
    trace_id = span.trace_id.hex()
    span_id = span.span_id.hex()
    if len(trace_id) != 32 or len(span_id) != 16:
        raise Rejection("missing_ids", f"trace_id={trace_id!r} span_id={span_id!r}")
    start_ns, end_ns = span.start_time_unix_nano, span.end_time_unix_nano
    if end_ns < start_ns:
        raise Rejection("negative_duration", f"ends {(start_ns - end_ns) / 1e6:.3f} ms early")
    if start_ns > now_ns + limits.max_future_skew_s * 1e9:
        raise Rejection(
            "future_timestamp", f"starts {(start_ns - now_ns) / 1e9:.0f}s after the worker's clock"
        )
    if start_ns < now_ns - limits.max_age_days * 86400e9:
        raise Rejection("ancient_timestamp", f"starts {(now_ns - start_ns) / 86400e9:.0f} days ago")

    request_model = _text(first(attrs, "request_model"), "request_model", limits)
    response_model = _text(
        attrs.get("gen_ai.response.model")
        or attrs.get("llm.response.model")
        or attrs.get("llm.model_name"),
        "response_model",
        limits,
    )
    if not request_model and not response_model:
        raise Rejection("missing_model", "no request or response model attribute")
    request_model = request_model or response_model
    response_model = response_model or request_model

    tokens = [_token(first(attrs, f), f, limits) for f in _TOKEN_FIELDS]
    inp, out, cache_read, cache_creation, reasoning = tokens
    if cache_read + cache_creation > inp:
        raise Rejection(
            "inconsistent_tokens", f"cached {cache_read}+{cache_creation} > input {inp}"
        )
    if reasoning > out:
        raise Rejection("inconsistent_tokens", f"reasoning {reasoning} > output {out}")

    ttft = _number(first(attrs, "ttft_ms"), "ttft_ms")
    if ttft is None:
        ttft_s = _number(first(attrs, "ttft_s"), "ttft_s")
        ttft = ttft_s * 1000.0 if ttft_s is not None else None
    retry = _token(first(attrs, "retry_attempt"), "retry_attempt", limits)

    provider_raw = _text(first(attrs, "provider"), "provider", limits, UNKNOWN)
    provider = catalogue.canonical_provider(provider_raw)
    operation = _text(first(attrs, "operation"), "operation", limits, "chat").lower()
    operation = _OPERATIONS.get(operation, operation)

    start = datetime.fromtimestamp(start_ns / 1e9, UTC)
    price = catalogue.lookup(response_model, start.date()) or catalogue.lookup(
        request_model, start.date()
    )
    if price is None:
        cost, price_status, price_version = Decimal(0), "unknown_model", ""
    else:
        pico = price.cost_pico(inp, out, cache_read, cache_creation, reasoning)
        cost, price_status, price_version = Decimal(pico) / _PICO, "ok", price.version

    is_error = span.status.code == _STATUS_ERROR
    error_type = _text(first(attrs, "error_type"), "error_type", limits)
    if is_error and not error_type:
        error_type = "error"

    return CallRecord(
        trace_id=trace_id,
        span_id=span_id,
        parent_span_id=span.parent_span_id.hex(),
        transaction_id=_text(first(attrs, "transaction_id"), "transaction_id", limits, trace_id),
        start_time=start,
        end_time=datetime.fromtimestamp(end_ns / 1e9, UTC),
        service_name=_text(first(attrs, "service_name", resource), "service_name", limits, UNKNOWN),
        environment=_text(first(attrs, "environment", resource), "environment", limits, UNKNOWN),
        team=_text(first(attrs, "team", resource), "team", limits, UNKNOWN),
        feature=_text(first(attrs, "feature", resource), "feature", limits, UNKNOWN),
        risk_tier=_text(first(attrs, "risk_tier", resource), "risk_tier", limits, UNKNOWN),
        provider=provider,
        operation=operation,
        request_model=request_model,
        response_model=response_model,
        input_tokens=inp,
        output_tokens=out,
        cache_read_tokens=cache_read,
        cache_creation_tokens=cache_creation,
        reasoning_tokens=reasoning,
        latency_ms=(end_ns - start_ns) / 1e6,
        ttft_ms=ttft,
        status="error" if is_error or error_type else "ok",
        error_type=error_type,
        retry_attempt=retry,
        finish_reasons=_finish_reasons(first(attrs, "finish_reasons")),
        cost_usd=cost,
        price_status=price_status,
        price_version=price_version,
        convention=detect_convention(attrs),
        source_partition=source[0],
        source_offset=source[1],
    )
