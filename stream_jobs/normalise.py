"""Validate one LLM span and turn it into a priced :class:`CallRecord`.

Pure code: no Kafka, no ClickHouse. Every way a span can be wrong ends in a
:class:`Rejection` with a reason from ``schemas.REJECT_REASONS``.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any

from llmpulse.schemas.record import CALL_COLUMNS, UNKNOWN, CallRecord
from llmpulse.schemas.storage import out_of_range
from llmpulse.stream_jobs.conventions import FIRST_TOKEN_EVENTS, INPUT_WITHOUT_CACHE
from llmpulse.stream_jobs.extract import convention_of
from llmpulse.stream_jobs.pricing import PriceCatalogue

__all__ = ["NO_USAGE", "Limits", "Rejection", "normalise_span"]

_OPERATIONS = {"llm": "chat", "embedding": "embeddings", "completion": "text_completion"}
_INTEGER = re.compile(r"\s*-?[0-9]+\s*")  # what int() takes, ASCII digits only
_STATUS_ERROR = 2
_NS_PER_DAY = 86_400 * 10**9
#: ``price_status`` of a successful call that reported no token usage.
NO_USAGE = "no_usage"
#: ``input_basis``: input tokens as reported, or plus the cached tokens.
REPORTED, PLUS_CACHE = "reported", "plus_cache"


@dataclass(frozen=True)
class Limits:
    """What the validator accepts; the defaults suit most fleets."""

    max_tokens_per_call: int = 10_000_000
    max_attribute_chars: int = 256
    max_future_skew_s: float = 3600.0
    max_age_days: float = 400.0
    #: Latency and time to first token above this are rejected (``absurd_duration``):
    #: a call that lasts longer is a clock bug, and the rollups' sketches need bounds.
    max_duration_s: float = 86_400.0

    def start_window(self, now_ns: int) -> tuple[float, float]:
        """(latest, earliest) accepted start in ns: one float formula for both paths."""
        return now_ns + self.max_future_skew_s * 1e9, now_ns - self.max_age_days * 86400e9


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
    elif (isinstance(value, float) and value.is_integer()) or (
        isinstance(value, str) and _INTEGER.fullmatch(value)
    ):
        n = int(value)
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


def _response_id(value: Any, limits: Limits) -> str:
    """The provider's response id, or "" (never a reason to reject the call)."""
    if isinstance(value, str) and len(value) <= limits.max_attribute_chars:
        return value
    return ""


def _first_token_event(span: Any, start_ns: int, end_ns: int) -> float | None:
    """Milliseconds from the start to a first-token event within the span, if any."""
    for event in getattr(span, "events", ()):
        if event.name in FIRST_TOKEN_EVENTS and start_ns <= event.time_unix_nano <= end_ns:
            return float(event.time_unix_nano - start_ns) / 1e6
    return None


def _invoked_model(f: dict[str, Any]) -> str | None:
    """The model in OpenInference's ``llm.invocation_parameters`` (JSON), the only
    place it names the model of a call that failed before any response."""
    raw = f.get("invocation_parameters")
    if not isinstance(raw, str) or not raw.lstrip().startswith("{") or len(raw) > 65_536:
        return None
    try:
        params = json.loads(raw)
    except (ValueError, RecursionError):
        return None
    model = params.get("model") if isinstance(params, dict) else None
    return model if isinstance(model, str) else None


def normalise_span(
    span: Any,
    f: dict[str, Any],
    flags: int,
    catalogue: PriceCatalogue,
    now_ns: int,
    limits: Limits,
    source: tuple[int, int] = (0, 0),
) -> CallRecord:
    """Validate, normalise and price one LLM span; raise :class:`Rejection` if bad.

    ``f`` holds the span's fields (see :func:`.extract.extract`) over its
    resource's (service, environment, team, ...); ``flags`` the conventions seen.
    """
    trace_id = span.trace_id.hex()
    span_id = span.span_id.hex()
    if len(trace_id) != 32 or len(span_id) != 16:
        raise Rejection("missing_ids", f"trace_id={trace_id!r} span_id={span_id!r}")
    start_ns, end_ns = span.start_time_unix_nano, span.end_time_unix_nano
    if end_ns < start_ns:
        raise Rejection("negative_duration", f"ends {(start_ns - end_ns) / 1e6:.3f} ms early")
    latest, earliest = limits.start_window(now_ns)
    if start_ns > latest:
        raise Rejection(
            "future_timestamp", f"starts {(start_ns - now_ns) / 1e9:.0f}s after the worker's clock"
        )
    if start_ns < earliest:
        raise Rejection("ancient_timestamp", f"starts {(now_ns - start_ns) / 86400e9:.0f} days ago")

    request_model = _text(f.get("request_model"), "request_model", limits)
    response_model = _text(f.get("response_model"), "response_model", limits)
    if not request_model:
        request_model = _text(_invoked_model(f), "request_model", limits)
    if not request_model and not response_model:
        raise Rejection("missing_model", "no request or response model attribute")
    request_model = request_model or response_model
    response_model = response_model or request_model

    provider = catalogue.canonical_provider(_text(f.get("provider"), "provider", limits, UNKNOWN))
    inp = _token(f.get("input_tokens"), "input_tokens", limits)
    out = _token(f.get("output_tokens"), "output_tokens", limits)
    cache_read = _token(f.get("cache_read_tokens"), "cache_read_tokens", limits)
    cache_creation = _token(f.get("cache_creation_tokens"), "cache_creation_tokens", limits)
    reasoning = _token(f.get("reasoning_tokens"), "reasoning_tokens", limits)
    basis = REPORTED
    cached = cache_read + cache_creation
    if cached > inp or (cached and (convention_of(flags), provider) in INPUT_WITHOUT_CACHE):
        # The conventions count cached tokens in the input; a number below the cached
        # ones can only follow the provider's own rule (Anthropic's ``input_tokens``
        # excludes cache reads and writes, and some libraries pass it on): recovered.
        inp, basis = _token(inp + cached, "input_tokens", limits), PLUS_CACHE
    if reasoning > out:
        raise Rejection("inconsistent_tokens", f"reasoning {reasoning} > output {out}")

    ttft = _number(f.get("ttft_ms"), "ttft_ms")
    if ttft is None:
        ttft_s = _number(f.get("ttft_s"), "ttft_s")
        ttft = ttft_s * 1000.0 if ttft_s is not None else None
    latency_ms = (end_ns - start_ns) / 1e6
    if ttft is None:
        ttft = _first_token_event(span, start_ns, end_ns)
    max_ms = limits.max_duration_s * 1000.0
    if not latency_ms <= max_ms:
        raise Rejection("absurd_duration", f"latency {latency_ms:.0f} ms > {max_ms:.0f} ms")
    if ttft is not None and not 0.0 <= ttft <= max_ms:  # also NaN and infinities
        raise Rejection("absurd_duration", f"time to first token {ttft!r} ms, max {max_ms:.0f}")
    retry = _token(f.get("retry_attempt"), "retry_attempt", limits)

    operation = _text(f.get("operation"), "operation", limits, "chat").lower()
    operation = _OPERATIONS.get(operation, operation)

    is_error = span.status.code == _STATUS_ERROR
    day = start_ns // _NS_PER_DAY
    price = catalogue.lookup_day(response_model, day) or catalogue.lookup_day(request_model, day)
    if f.get("input_tokens") is None and f.get("output_tokens") is None and not is_error:
        # A call that reports no usage (e.g. streamed without include_usage) is not
        # free: it is flagged, counted with the unpriced, never priced at $0 as "ok".
        cost, savings, price_status, price_version = 0, 0, NO_USAGE, ""
    elif price is None:
        cost, savings, price_status, price_version = 0, 0, "unknown_model", ""
    else:
        cost = price.cost_pico(inp, out, cache_read, cache_creation, reasoning)
        rates = price.rates
        savings = cache_read * (rates[0] - rates[2])
        price_status, price_version = "ok", price.version

    error_type = _text(f.get("error_type"), "error_type", limits)
    if is_error and not error_type:
        error_type = "error"

    record = CallRecord(
        trace_id,
        span_id,
        span.parent_span_id.hex(),
        _text(f.get("transaction_id"), "transaction_id", limits, trace_id),
        start_ns // 1000,
        end_ns // 1000,
        _text(f.get("service_name"), "service_name", limits, UNKNOWN),
        _text(f.get("environment"), "environment", limits, UNKNOWN),
        _text(f.get("team"), "team", limits, UNKNOWN),
        _text(f.get("feature"), "feature", limits, UNKNOWN),
        _text(f.get("risk_tier"), "risk_tier", limits, UNKNOWN),
        provider,
        operation,
        request_model,
        response_model,
        inp,
        out,
        cache_read,
        cache_creation,
        reasoning,
        latency_ms,
        ttft,
        "error" if is_error or error_type else "ok",
        error_type,
        retry,
        _finish_reasons(f.get("finish_reasons")),
        cost,
        price_status,
        price_version,
        convention_of(flags),
        source[0],
        source[1],
        savings,
        _response_id(f.get("response_id"), limits),
        basis,
    )
    problem = out_of_range(record, CALL_COLUMNS, "llm_calls")
    if problem is not None:
        raise Rejection("out_of_range", problem)
    return record
