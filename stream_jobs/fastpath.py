"""The compiled hot path (``stream_jobs/native``, Rust via PyO3) seen from Python.

:class:`NativeScanner` hands whole Kafka messages to the extension, which
decodes, validates, normalises and prices the common case straight into one
ClickHouse ``Native`` block per batch, with no Python object per span. Every
span it does not settle (any rejection, a value of an unusual type, a
duplicate) comes back by index to the Python reference path
(:mod:`.normalise`), and a message it cannot read exactly as the protobuf
library would comes back whole; so both paths give the same rows and the same
dead letters (``tests/unit/test_fastpath.py`` checks it on generated input).

:func:`read_block` reads such a block back into :class:`CallRecord` tuples.
"""

from __future__ import annotations

import struct
from typing import Any, NamedTuple

from llmpulse.schemas.record import CallRecord
from llmpulse.stream_jobs.extract import key_table
from llmpulse.stream_jobs.normalise import Limits
from llmpulse.stream_jobs.pricing import PriceCatalogue

__all__ = ["Fed", "NativeScanner", "native_available", "read_block"]


def native_available() -> bool:
    """True when the extension was built at install time (it needs cargo)."""
    try:
        from llmpulse.stream_jobs import _native  # noqa: F401
    except ImportError:
        return False
    return True


class Fed(NamedTuple):
    """What the extension made of one message."""

    spans: int
    llm: int
    non_llm: int
    unpriced: int
    slow: list[tuple[int, bool]]  # (span index, duplicate of an earlier span) for Python


class NativeScanner:
    """Feeds messages to the extension; one Native block of llm_calls rows per batch."""

    def __init__(self, catalogue: PriceCatalogue, limits: Limits) -> None:
        from llmpulse.stream_jobs import _native

        def price(model: str, day: int) -> tuple[tuple[int, ...], str] | None:
            found = catalogue.lookup_day(model, day)
            return None if found is None else (found.rates, found.version)

        table = {k: (flags, list(targets)) for k, (flags, targets) in key_table().items()}
        self._scanner: Any = _native.Scanner(
            table,
            int(limits.max_tokens_per_call),
            int(limits.max_attribute_chars),
            price,
            catalogue.canonical_provider,
        )

    def feed(
        self, value: bytes, partition: int, offset: int, future_ns: float, ancient_ns: float
    ) -> Fed | str:
        """Read one message; a str says why the Python path must read it instead."""
        out = self._scanner.feed(value, partition, offset, future_ns, ancient_ns)
        return out if isinstance(out, str) else Fed(*out)

    def take_block(self) -> tuple[bytes, int]:
        """(Native block, rows) of the messages fed since the last call."""
        block, rows = self._scanner.take_block()
        return block, int(rows)


_FIXED = {
    "DateTime64(6, 'UTC')": "q",
    "Int64": "q",
    "UInt64": "Q",
    "Float64": "d",
    "UInt16": "H",
    "Int32": "i",
}


class _Cursor:
    def __init__(self, data: bytes) -> None:
        self.data, self.pos = data, 0

    def varint(self) -> int:
        out = shift = 0
        while True:
            b = self.data[self.pos]
            self.pos += 1
            out |= (b & 0x7F) << shift
            shift += 7
            if b < 0x80:
                return out

    def string(self) -> str:
        n = self.varint()
        self.pos += n
        return self.data[self.pos - n : self.pos].decode()

    def fixed(self, code: str, n: int) -> list[Any]:
        values = struct.unpack_from(f"<{n}{code}", self.data, self.pos)
        self.pos += struct.calcsize(f"<{n}{code}")
        return list(values)

    def column(self, ty: str, n: int) -> list[Any]:
        if ty == "String":
            return [self.string() for _ in range(n)]
        if ty in _FIXED:
            return self.fixed(_FIXED[ty], n)
        if ty == "Nullable(Float64)":
            nulls = self.fixed("B", n)
            values = self.fixed("d", n)
            return [None if z else v for z, v in zip(nulls, values, strict=True)]
        if ty == "Array(String)":
            ends = self.fixed("Q", n)
            flat = [self.string() for _ in range(ends[-1] if ends else 0)]
            return [flat[a:b] for a, b in zip([0, *ends][:-1], ends, strict=True)]
        raise ValueError(f"unexpected column type {ty!r} in a Native block")


def read_block(data: bytes) -> list[CallRecord]:
    """The rows of a Native block written by the extension, as CallRecords."""
    if not data:
        return []
    cur = _Cursor(data)
    ncols, nrows = cur.varint(), cur.varint()
    columns: dict[str, list[Any]] = {}
    for _ in range(ncols):
        name, ty = cur.string(), cur.string()
        columns[name] = cur.column(ty, nrows)
    if tuple(columns) != CallRecord._fields:
        raise ValueError(f"block columns {tuple(columns)} are not CallRecord's")
    return [CallRecord(*row) for row in zip(*columns.values(), strict=True)]
