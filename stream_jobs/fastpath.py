"""The compiled hot path (``stream_jobs/native``, Rust via PyO3) seen from Python.

:class:`NativeScanner` hands whole Kafka messages to the extension, which
decodes, validates, normalises and prices the common case straight into one
ClickHouse ``Native`` block per batch, with no Python object per span. Every
span it does not settle (any rejection, a value of an unusual type, a
duplicate) comes back by index to the Python reference path
(:mod:`.normalise`), and a message it cannot read exactly as the protobuf
library would comes back whole; so both paths give the same rows and the same
dead letters (``tests/unit/test_fastpath.py`` checks it on generated input).

The rules both paths share are defined once, in Python: the key table and the
rules of :func:`_rules` are handed to the extension when it is built. What the
extension keeps as its own constants, for speed (field slots, the block's
columns and types, labels), :func:`check_contract` compares with the Python
definitions first, and a mismatch is a :class:`~llmpulse.errors.ConfigError`.

:func:`read_block` reads such a block back into :class:`CallRecord` tuples.
"""

from __future__ import annotations

import struct
from collections.abc import Mapping
from types import SimpleNamespace
from typing import Any, NamedTuple, get_type_hints

from llmpulse.errors import ConfigError
from llmpulse.schemas import record
from llmpulse.schemas.record import CallRecord
from llmpulse.stream_jobs import conventions, extract, normalise
from llmpulse.stream_jobs.extract import key_table
from llmpulse.stream_jobs.normalise import Limits
from llmpulse.stream_jobs.pricing import PriceCatalogue

__all__ = ["Fed", "NativeScanner", "check_contract", "native_available", "read_block"]


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
    agents: list[int]  # indices of the tool/agent spans (non-LLM) that Python keeps


class NativeScanner:
    """Feeds messages to the extension; one Native block of llm_calls rows per batch."""

    def __init__(self, catalogue: PriceCatalogue, limits: Limits) -> None:
        from llmpulse.stream_jobs import _native

        def price(model: str, day: int) -> tuple[tuple[int, ...], str] | None:
            found = catalogue.lookup_day(model, day)
            return None if found is None else (found.rates, found.version)

        table = key_table()
        contract = getattr(_native, "contract", None)
        if contract is None:
            raise ConfigError(f"{_STALE}: it has no contract(); {_REBUILD}")
        check_contract(contract(), table)
        self._scanner: Any = _native.Scanner(
            {k: (flags, list(targets)) for k, (flags, targets) in table.items()},
            int(limits.max_tokens_per_call),
            int(limits.max_attribute_chars),
            price,
            catalogue.canonical_provider,
            _rules(table, limits),
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


def _rules(table: Mapping[str, tuple[int, Any]], limits: Limits) -> dict[str, Any]:
    """What the extension takes from Python when it is built (``span::Rules``)."""
    flags = 0
    for f, _ in table.values():
        flags |= f
    return {
        "llm_flag": extract.F_LLM,
        "llm_kinds": sorted(extract._OI_KINDS),
        # convention_of of every flag word the table can set, indexed by the word
        "conventions": [extract.convention_of(f) for f in range(1 << flags.bit_length())],
        "unknown": record.UNKNOWN,
        "operations": sorted(normalise._OPERATIONS.items()),
        "non_inference": sorted(conventions.NON_INFERENCE_OPERATIONS),
        "resource_first": list(conventions.RESOURCE_FIRST),
        "first_token_events": sorted(conventions.FIRST_TOKEN_EVENTS),
        # Spans of these conventions with cached tokens are Python's (INPUT_WITHOUT_CACHE).
        "raw_input_conventions": sorted({c for c, _ in conventions.INPUT_WITHOUT_CACHE}),
        "max_duration_ms": float(limits.max_duration_s * 1000.0),
    }


_STALE = "the compiled hot path (stream_jobs/native) does not match the Python code"
_REBUILD = (
    "rebuild it (pip install -e .) after changing either side, "
    "or run the Python path (Pipeline(native=False))"
)

#: The CallRecord field type that each ClickHouse type of the block holds.
_PYTHON_TYPES: dict[str, Any] = {
    "String": str,
    "DateTime64(6, 'UTC')": int,
    "UInt64": int,
    "Int64": int,
    "UInt16": int,
    "Int32": int,
    "Float64": float,
    "Nullable(Float64)": float | None,
    "Array(String)": list[str],
}


def check_contract(contract: Mapping[str, Any], table: Mapping[str, tuple[int, Any]]) -> None:
    """Raise :class:`ConfigError` where the extension's own constants are not Python's.

    ``contract`` is ``_native.contract()``, ``table`` the key table the extension
    is to be given. Checked: the extractor's fields against the fields the table
    fills; the block's columns against ``CALL_COLUMNS`` (names, order) and the
    CallRecord field types; the constants and inline labels of ``normalise``.
    """
    problems: list[str] = []
    filled = {field for _, targets in table.values() for field, _ in targets}
    slots = set(contract["fields"])
    if filled != slots:
        problems.append(
            f"the extractor lacks fields {sorted(filled - slots)} that the key table fills "
            f"and has fields {sorted(slots - filled)} that it does not"
        )
    names = tuple(name for name, _ in contract["columns"])
    if names != record.CALL_COLUMNS:
        problems.append(f"the block's columns {names} are not CALL_COLUMNS {record.CALL_COLUMNS}")
    hints = get_type_hints(CallRecord)
    for name, ty in contract["columns"]:
        if name in hints and _PYTHON_TYPES.get(ty) != hints[name]:
            problems.append(
                f"column {name} is {ty} in the block "
                f"but CallRecord.{name} is {CallRecord.__annotations__[name]}"
            )
    for key, number in [
        ("status_error", normalise._STATUS_ERROR),
        ("ns_per_day", normalise._NS_PER_DAY),
    ]:
        if contract[key] != number:
            problems.append(f"{key} is {contract[key]!r} in the extension, {number!r} in Python")
    labels, finish_reasons = _reference_labels()
    for key, label in labels.items():
        if contract["labels"].get(key) != label:
            problems.append(
                f"label {key!r} is {contract['labels'].get(key)!r} in the extension, "
                f"{label!r} in Python"
            )
    if tuple(contract["finish_reasons"]) != finish_reasons:
        problems.append(
            f"finish reasons (how many, characters each) are {tuple(contract['finish_reasons'])} "
            f"in the extension, {finish_reasons} in Python"
        )
    if problems:
        raise ConfigError(f"{_STALE}: {'; '.join(problems)}; {_REBUILD}")


def _reference_labels() -> tuple[dict[str, str], tuple[int, int]]:
    """The labels and finish-reason limits that :func:`.normalise.normalise_span`
    spells inline, read off what it makes of two probe spans."""
    catalogue = PriceCatalogue.from_dict(
        {"models": [{"model": "priced", "input": 1, "output": 1, "effective_from": "1970-01-01"}]}
    )

    def probe(model: str, status: int, reasons: list[str] | None) -> CallRecord:
        span = SimpleNamespace(
            trace_id=b"\x01" * 16,
            span_id=b"\x02" * 8,
            parent_span_id=b"",
            start_time_unix_nano=0,
            end_time_unix_nano=0,
            status=SimpleNamespace(code=status),
        )
        fields = {"request_model": model, "finish_reasons": reasons, "input_tokens": 1}
        return normalise.normalise_span(span, fields, 0, catalogue, 0, Limits())

    failed = probe("unpriced", normalise._STATUS_ERROR, ["x" * 100] * 100)
    good = probe("priced", 0, None)
    labels = {
        "operation": failed.operation,  # no operation attribute
        "error_type": failed.error_type,  # an error status without error.type
        "error": failed.status,
        "unpriced": failed.price_status,
        "reported": good.input_basis,
        "ok": good.status,
        "priced": good.price_status,
    }
    reasons = failed.finish_reasons
    return labels, (len(reasons), max((len(r) for r in reasons), default=0))


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
