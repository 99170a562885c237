"""Decode OTLP ``ExportTraceServiceRequest`` bytes into spans and attribute dicts."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from google.protobuf.message import DecodeError as _PbDecodeError
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import KeyValue
from opentelemetry.proto.trace.v1.trace_pb2 import Span

from llmpulse.schemas.otlp import any_value

__all__ = [
    "DecodeError",
    "any_value",
    "attributes",
    "decode_request",
    "iter_spans",
]


class DecodeError(ValueError):
    """The bytes are not an OTLP trace export request."""


def decode_request(payload: bytes) -> ExportTraceServiceRequest:
    """Parse one Kafka message value; raise :class:`DecodeError` if it is not OTLP."""
    req = ExportTraceServiceRequest()
    try:
        req.ParseFromString(payload)
    except (_PbDecodeError, RuntimeError, ValueError) as exc:
        raise DecodeError(f"not an OTLP ExportTraceServiceRequest: {exc}") from exc
    return req


def attributes(kvs: Any) -> dict[str, Any]:
    """A dict of the ``KeyValue`` list; later keys win, as in the SDK."""
    out: dict[str, Any] = {}
    for kv in kvs:
        kv_: KeyValue = kv
        out[kv_.key] = any_value(kv_.value)
    return out


def iter_spans(req: ExportTraceServiceRequest) -> Iterator[tuple[dict[str, Any], Span]]:
    """Yield ``(resource attributes, span)`` for every span of the request."""
    for rs in req.resource_spans:
        resource = attributes(rs.resource.attributes)
        for ss in rs.scope_spans:
            for span in ss.spans:
                yield resource, span
