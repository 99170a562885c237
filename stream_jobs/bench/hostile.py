"""Hostile messages for ``llmpulse soak --hostile``: each is rejected whole or span by
span for a known reason, so mixed into live traffic the good totals stay exact and
every hostile span must show up, counted, in the dead letters.

Each kind is a case the pipeline once stalled, froze or miscounted on.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from typing import Any

from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue
from opentelemetry.proto.trace.v1.trace_pb2 import Span

__all__ = ["HOSTILE", "hostile_message"]


def _value(v: Any) -> AnyValue:
    if isinstance(v, int):
        return AnyValue(int_value=v)
    if isinstance(v, float):
        return AnyValue(double_value=v)
    return AnyValue(string_value=str(v))


def _span(extra: dict[str, Any], *, ids: bool = True, duration_ns: int = 400_000_000) -> Span:
    start = time.time_ns() - 5 * 10**9
    span = Span(
        trace_id=os.urandom(16) if ids else b"\x01",
        span_id=os.urandom(8) if ids else b"\x01",
        name="chat",
        start_time_unix_nano=start,
        end_time_unix_nano=start + duration_ns,
    )
    attrs = {
        "gen_ai.operation.name": "chat",
        "gen_ai.provider.name": "openai",
        "gen_ai.request.model": "gpt-4o-mini",
        "gen_ai.usage.input_tokens": 100,
        "gen_ai.usage.output_tokens": 10,
        **extra,
    }
    span.attributes.extend(KeyValue(key=k, value=_value(v)) for k, v in attrs.items())
    return span


def _request(spans: list[Span]) -> bytes:
    req = ExportTraceServiceRequest()
    rs = req.resource_spans.add()
    rs.resource.attributes.add(key="service.name").value.string_value = "hostile"
    rs.scope_spans.add().spans.extend(spans)
    return req.SerializeToString()


def _deep_span() -> bytes:
    """A span whose attribute nests past the protobuf depth limit, in a message of its own
    (built on the wire: the library would not serialise the request)."""
    value = AnyValue(string_value="leaf")
    for _ in range(60):
        outer = AnyValue()
        outer.kvlist_value.values.add(key="k").value.CopyFrom(value)
        value = outer
    attribute = _field(1, b"nested") + _field(2, value.SerializeToString())
    scope = _field(2, _span({}).SerializeToString() + _field(9, attribute))  # 9: attributes
    resource = ExportTraceServiceRequest.FromString(_request([])).resource_spans[0].resource
    return _field(1, _field(1, resource.SerializeToString()) + _field(2, scope))


def _field(number: int, body: bytes) -> bytes:
    out, n = bytearray([number << 3 | 2]), len(body)
    while n >= 0x80:
        out.append(n & 0x7F | 0x80)
        n >>= 7
    return bytes(out) + bytes([n]) + body


#: kind -> (reason, spans it rejects (0: the message), message builder)
HOSTILE: dict[str, tuple[str, int, Callable[[], bytes]]] = {
    "retry_past_uint16": (
        "out_of_range",
        1,
        lambda: _request([_span({"llmpulse.retry.attempt": 70_000})]),
    ),
    "ttft_infinite": (
        "absurd_duration",
        1,
        lambda: _request([_span({"llmpulse.time_to_first_token_ms": float("inf")})]),
    ),
    "ends_in_2533": ("absurd_duration", 1, lambda: _request([_span({}, duration_ns=16 * 10**18)])),
    "superscript_tokens": (
        "wrong_type",
        1,
        lambda: _request([_span({"gen_ai.usage.output_tokens": "²"})]),
    ),
    "idless_spans": ("missing_ids", 200, lambda: _request([_span({}, ids=False)] * 200)),
    "deep_kvlist": ("malformed_protobuf", 1, _deep_span),
    "garbage": ("malformed_protobuf", 0, lambda: b"\x00\xff garbage, not OTLP \xfe"),
}


def hostile_message(n: int) -> tuple[str, bytes]:
    """The ``n``-th hostile message, cycling through the kinds: (kind, bytes)."""
    kind = list(HOSTILE)[n % len(HOSTILE)]
    return kind, HOSTILE[kind][2]()
