"""Which encoding a Kafka message is in: OTLP protobuf, OTLP JSON, or neither.

The Collector's kafka exporter writes ``otlp_proto`` (the default), ``otlp_json``
or other encodings (``jaeger_proto``, ``zipkin_*``, ``raw``). OTLP JSON is turned
into the protobuf request it stands for (ids are hex there, base64 in protobuf's
JSON mapping); anything else is a dead letter whose detail names the setting to
change, and a message that decodes to no spans but carries fields OTLP does not
define is one too (about 1 % of ``jaeger_proto`` messages parse that way).
"""

from __future__ import annotations

import base64
import json
from typing import Any

from google.protobuf import json_format, unknown_fields
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

__all__ = ["HINT", "NotOtlp", "is_json", "json_to_protobuf", "stray_fields"]

#: What to change, in every wrong-encoding dead letter.
HINT = (
    "if an OpenTelemetry Collector writes this topic, set its kafka exporter's "
    "`encoding` to otlp_proto (or otlp_json)"
)
_ID_BYTES = {"traceId": 16, "spanId": 8, "parentSpanId": 8}


class NotOtlp(ValueError):
    """The message is in an encoding llmpulse does not read."""


def is_json(value: bytes) -> bool:
    """True when the message looks like JSON: an object (OTLP JSON) or an array (Zipkin
    v2 JSON). OTLP protobuf never starts with ``{`` or ``[`` (field 15 / 11, group)."""
    first = value[:1]
    if first.isspace():
        first = value.lstrip()[:1]
    return first in (b"{", b"[")


def _ids(node: Any) -> None:
    """OTLP JSON's hex ids -> base64, as protobuf's JSON mapping reads ``bytes``."""
    if isinstance(node, dict):
        for key, value in node.items():
            if key in _ID_BYTES and isinstance(value, str):
                try:
                    raw = bytes.fromhex(value)
                except ValueError:
                    raw = b""  # not hex: the span's ids are missing (missing_ids)
                node[key] = base64.b64encode(raw).decode()
            else:
                _ids(value)
    elif isinstance(node, list):
        for item in node:
            _ids(item)


def json_to_protobuf(value: bytes) -> bytes:
    """The OTLP protobuf request an OTLP JSON message stands for; :class:`NotOtlp`."""
    try:
        doc = json.loads(value)
    except (ValueError, RecursionError) as exc:
        raise NotOtlp(f"JSON that does not parse ({str(exc)[:120]}); {HINT}") from None
    if not isinstance(doc, dict) or ("resourceSpans" not in doc and "resource_spans" not in doc):
        # e.g. a Zipkin v2 JSON array of spans, or a Jaeger JSON batch
        raise NotOtlp(f"JSON that is not an OTLP trace export (no resourceSpans); {HINT}")
    try:
        _ids(doc)
        req = json_format.ParseDict(doc, ExportTraceServiceRequest(), ignore_unknown_fields=True)
    except (json_format.ParseError, RecursionError, ValueError, TypeError) as exc:
        raise NotOtlp(f"JSON that is not OTLP JSON ({str(exc)[:160]}); {HINT}") from None
    return bytes(req.SerializeToString())


def stray_fields(req: ExportTraceServiceRequest) -> int:
    """How many top-level fields OTLP does not define the request carries."""
    return len(unknown_fields.UnknownFieldSet(req))
