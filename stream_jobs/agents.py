"""Tool, agent, workflow and task spans: not model calls, kept for the transaction view.

A GenAI app's spans around its model calls (``execute_tool``, ``invoke_agent``,
OpenInference TOOL/AGENT/CHAIN/RETRIEVER kinds, OpenLLMetry's tasks) are counted as
non-LLM spans; those that can be stored (valid ids and times) also become one
:class:`~llmpulse.schemas.record.AgentSpan` each, with the transaction they belong to.
"""

from __future__ import annotations

from typing import Any

from llmpulse.schemas.record import UNKNOWN, AgentSpan
from llmpulse.stream_jobs.normalise import Limits

__all__ = ["agent_span"]

_STATUS_ERROR = 2
_MAX = 256


def _text(value: Any, default: str = "") -> str:
    return value[:_MAX] if isinstance(value, str) and value else default


def agent_span(
    span: Any, fields: dict[str, Any], now_ns: int, limits: Limits, source: tuple[int, int]
) -> AgentSpan | None:
    """The span as an AgentSpan, or None when it cannot be stored (it is still counted).

    ``fields`` are the span's over its resource's (see :func:`.extract.extract`)."""
    trace_id, span_id = span.trace_id.hex(), span.span_id.hex()
    start_ns, end_ns = span.start_time_unix_nano, span.end_time_unix_nano
    latest, earliest = limits.start_window(now_ns)
    duration_ms = (end_ns - start_ns) / 1e6
    if len(trace_id) != 32 or len(span_id) != 16 or not earliest <= start_ns <= latest:
        return None
    if not 0 <= duration_ms <= limits.max_duration_s * 1000.0:
        return None
    kind = fields.get("oi_kind")
    operation = _text(fields.get("operation")) or _text(kind)
    name = _text(fields.get("tool_name")) or _text(fields.get("agent_name")) or span.name[:_MAX]
    return AgentSpan(
        trace_id,
        span_id,
        span.parent_span_id.hex(),
        _text(fields.get("transaction_id"), trace_id),
        start_ns // 1000,
        end_ns // 1000,
        _text(fields.get("service_name"), UNKNOWN),
        operation.lower(),
        name,
        duration_ms,
        "error" if span.status.code == _STATUS_ERROR else "ok",
        source[0],
        source[1],
    )
