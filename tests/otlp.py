"""Build OTLP protobuf requests by hand, for tests that need exact (or broken) input."""

from __future__ import annotations

import os
import time
from typing import Any

from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue
from opentelemetry.proto.trace.v1.trace_pb2 import ResourceSpans, ScopeSpans, Span


def value(v: Any) -> AnyValue:
    if isinstance(v, bool):
        return AnyValue(bool_value=v)
    if isinstance(v, int):
        return AnyValue(int_value=v)
    if isinstance(v, float):
        return AnyValue(double_value=v)
    if isinstance(v, list | tuple):
        out = AnyValue()
        out.array_value.values.extend(value(x) for x in v)
        return out
    return AnyValue(string_value=str(v))


def kvs(attrs: dict[str, Any]) -> list[KeyValue]:
    return [KeyValue(key=k, value=value(v)) for k, v in attrs.items()]


def span(
    attrs: dict[str, Any],
    *,
    trace_id: bytes | None = None,
    span_id: bytes | None = None,
    start_ns: int | None = None,
    duration_ms: float = 500.0,
    error: bool = False,
    name: str = "chat",
) -> Span:
    start = start_ns if start_ns is not None else time.time_ns() - 60 * 10**9
    s = Span(
        trace_id=trace_id or os.urandom(16),
        span_id=span_id or os.urandom(8),
        name=name,
        start_time_unix_nano=start,
        end_time_unix_nano=start + int(duration_ms * 1e6),
        kind=Span.SPAN_KIND_CLIENT,
    )
    s.attributes.extend(kvs(attrs))
    if error:
        s.status.code = 2
    return s


def request(spans: list[Span], service: str = "svc", **resource: Any) -> bytes:
    req = ExportTraceServiceRequest()
    rs = ResourceSpans()
    rs.resource.attributes.extend(kvs({"service.name": service, **resource}))
    ss = ScopeSpans()
    ss.spans.extend(spans)
    rs.scope_spans.append(ss)
    req.resource_spans.append(rs)
    return req.SerializeToString()


def gen_ai(model: str = "gpt-4o-mini", inp: int = 1000, out: int = 100, **extra: Any) -> dict:
    return {
        "gen_ai.operation.name": "chat",
        "gen_ai.provider.name": "openai",
        "gen_ai.request.model": model,
        "gen_ai.usage.input_tokens": inp,
        "gen_ai.usage.output_tokens": out,
        **extra,
    }
