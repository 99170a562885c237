"""OTLP values as Python values: one reader for the app side and the worker."""

from __future__ import annotations

from typing import Any

from opentelemetry.proto.common.v1.common_pb2 import AnyValue

__all__ = ["any_value"]


def any_value(v: AnyValue) -> Any:
    """The Python value of an OTLP ``AnyValue`` (arrays become lists, kvlists dicts)."""
    kind = v.WhichOneof("value")
    if kind is None:
        return None
    if kind == "array_value":
        return [any_value(x) for x in v.array_value.values]
    if kind == "kvlist_value":
        return {kv.key: any_value(kv.value) for kv in v.kvlist_value.values}
    return getattr(v, kind)
