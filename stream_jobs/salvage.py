"""Recover the good spans of a message that does not decode whole.

The protobuf library rejects a whole ``ExportTraceServiceRequest`` for one bad span
(an attribute nested past its recursion limit, one invalid UTF-8 byte in a string).
:func:`salvage_request` walks the request's outer layers on the wire (request →
resource spans → scope spans → span) and decodes each span on its own, so one bad
span costs only that span. The outer layers must be sound: a broken resource or
envelope still rejects the message whole.
"""

from __future__ import annotations

from collections.abc import Iterator

from google.protobuf.message import DecodeError as _PbDecodeError
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

__all__ = ["salvage_request"]

_LEN = 2


class _Broken(ValueError):
    """The wire structure itself is damaged."""


def _varint(buf: bytes, i: int) -> tuple[int, int]:
    value = shift = 0
    while True:
        if i >= len(buf) or shift > 63:
            raise _Broken("truncated or over-long varint")
        b = buf[i]
        i += 1
        value |= (b & 0x7F) << shift
        if b < 0x80:
            return value, i
        shift += 7


def _fields(buf: bytes) -> Iterator[tuple[int, int, bytes]]:
    """(field number, wire type, bytes of a length-delimited value) of ``buf``."""
    i = 0
    while i < len(buf):
        start = i
        tag, i = _varint(buf, i)
        if i - start > 5 or tag > 0xFFFFFFFF or tag >> 3 == 0:  # as upb: no such tag
            raise _Broken("invalid field tag")
        field, wire = tag >> 3, tag & 7
        if wire == 0:
            _, i = _varint(buf, i)
        elif wire == 1:
            i += 8
        elif wire == 5:
            i += 4
        elif wire == _LEN:
            n, i = _varint(buf, i)
            if i + n > len(buf):
                raise _Broken("a length-delimited field runs past its message")
            yield field, wire, buf[i : i + n]
            i += n
            continue
        else:
            raise _Broken(f"wire type {wire}")
        if i > len(buf):
            raise _Broken("a fixed-width field runs past its message")


def salvage_request(payload: bytes) -> tuple[ExportTraceServiceRequest, dict[int, str]] | None:
    """The request with every span that decodes, and ``{span index: error}`` for those
    that do not (left empty in place, so indices keep their meaning); None when the
    outer layers themselves do not decode."""
    req = ExportTraceServiceRequest()
    broken: dict[int, str] = {}
    index = -1
    try:
        for field, wire, rs_bytes in _fields(payload):
            if field != 1 or wire != _LEN:
                continue
            rs = req.resource_spans.add()
            for f2, w2, value in _fields(rs_bytes):
                if f2 == 1 and w2 == _LEN:
                    rs.resource.MergeFromString(value)
                elif f2 == 3 and w2 == _LEN:
                    rs.schema_url = value.decode()
                elif f2 == 2 and w2 == _LEN:
                    ss = rs.scope_spans.add()
                    for f3, w3, v3 in _fields(value):
                        if f3 == 1 and w3 == _LEN:
                            ss.scope.MergeFromString(v3)
                        elif f3 == 3 and w3 == _LEN:
                            ss.schema_url = v3.decode()
                        elif f3 == 2 and w3 == _LEN:
                            index += 1
                            span = ss.spans.add()
                            try:
                                span.MergeFromString(v3)
                            except (_PbDecodeError, RuntimeError, ValueError) as exc:
                                span.Clear()
                                broken[index] = str(exc)[:300] or type(exc).__name__
    except (_Broken, _PbDecodeError, RuntimeError, ValueError):
        return None
    return req, broken
