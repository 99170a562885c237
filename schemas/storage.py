"""What each column of a table can hold, read from the DDL: the storage types are the
validation (one definition).

:func:`column_types` parses ``clickhouse/*.sql`` for a table's columns;
:func:`out_of_range` says which value of a row its column cannot hold (an integer
beyond its type, a non-finite float, a time outside its ``DateTime64`` range, a
time the table's TTL (``DateTime``, to 2106) would wrap). The pipeline rejects such
a record (``out_of_range``) instead of letting one insert fail forever.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from functools import cache
from importlib import resources
from typing import Any

__all__ = ["column_types", "out_of_range"]

_INT = re.compile(r"^(U?)Int(8|16|32|64)$")
_COLUMN = re.compile(
    r"^\s+([a-z_][a-z0-9_]*)\s+([A-Za-z][A-Za-z0-9_(), ']*?)"
    r"(?:\s+(?:DEFAULT|MATERIALIZED)\b.*)?,?\s*$"
)
_ADD = re.compile(
    r"ADD COLUMN IF NOT EXISTS ([a-z_][a-z0-9_]*) ([A-Za-z][A-Za-z0-9_(), ']*?)(?:\s+DEFAULT\b.*)?;"
)
# DateTime64's range (microseconds since the epoch): 1900-01-01 .. 2299-12-31; a TTL
# on toDateTime(...) also needs the time to fit DateTime (to 2106-02-07).
_DT64_US = (-2_208_988_800 * 10**6, 4_294_967_295 * 10**6)


@cache
def column_types(table: str) -> dict[str, str]:
    """``{column: ClickHouse type}`` of ``table`` as the migrations create it."""
    folder = resources.files("llmpulse.schemas").joinpath("clickhouse")
    out: dict[str, str] = {}
    for entry in sorted(folder.iterdir(), key=lambda e: e.name):
        if not entry.name.endswith(".sql"):
            continue
        sql = entry.read_text()
        head = f"CREATE TABLE IF NOT EXISTS {{db}}.{table}\n("
        if head in sql:
            body = sql.split(head, 1)[1].split("\n)", 1)[0]
            for line in body.splitlines():
                m = _COLUMN.match(line)
                if m and "MATERIALIZED" not in line:
                    out[m.group(1)] = m.group(2).strip()
        for line in sql.splitlines():
            if line.startswith(f"ALTER TABLE {{db}}.{table} ADD COLUMN"):
                m = _ADD.search(line)
                if m:
                    out[m.group(1)] = m.group(2).strip()
    return out


_KNOWN = re.compile(
    r"^(?:Nullable\()?(?:LowCardinality\()?"
    r"(?:U?Int(?:8|16|32|64)|Float(?:32|64)|String|DateTime64\(\d, 'UTC'\)|Decimal\(\d+, \d+\)"
    r"|Array\(LowCardinality\(String\)\))\)?\)?$"
)


def _bounds(ch_type: str) -> tuple[int, int] | None:
    m = _INT.match(ch_type)
    if not m:
        return None
    bits = int(m.group(2))
    return (0, 2**bits - 1) if m.group(1) else (-(2 ** (bits - 1)), 2 ** (bits - 1) - 1)


@cache
def _checks(table: str, columns: tuple[str, ...]) -> tuple[tuple[int, str, str, int, int], ...]:
    """Per column index: (index, name, kind, lo, hi) with kind int / float / time,
    compiled once per (table, column order). Fails closed: a column the DDL lacks, or a
    type this module cannot read, is an error (validation would silently be off)."""
    types = column_types(table)
    out = []
    for i, name in enumerate(columns):
        ch_type = types.get(name)
        if ch_type is None or not _KNOWN.match(ch_type):
            raise ValueError(f"{table}.{name}: no column type this validator reads ({ch_type!r})")
        nullable = ch_type.startswith("Nullable(")
        base = ch_type[9:-1] if nullable else ch_type
        bounds = _bounds(base)
        kind = (
            "int"
            if bounds
            else "float"
            if base.startswith("Float")
            else ("time" if base.startswith("DateTime64(6") else "")
        )
        if kind:
            lo, hi = bounds or (_DT64_US if kind == "time" else (0, 0))
            out.append((i, f"{name}{'?' if nullable else ''}", kind, lo, hi))
    return tuple(out)


def out_of_range(row: Sequence[Any], columns: Sequence[str], table: str) -> str | None:
    """The first value of ``row`` (named by ``columns``) that its column cannot hold."""
    for i, name, kind, lo, hi in _checks(table, tuple(columns)):
        value = row[i]
        if value is None:
            if name.endswith("?"):
                continue
            return f"{name} is null"
        if kind == "float":
            if not (isinstance(value, int | float) and math.isfinite(value)):
                return f"{name} = {value!r} is not a finite number"
        elif isinstance(value, bool) or not isinstance(value, int):
            return f"{name.rstrip('?')} is {type(value).__name__}, not an integer"
        elif not lo <= value <= hi:
            what = "us is outside 1900..2106" if kind == "time" else f"is outside {lo}..{hi}"
            return f"{name.rstrip('?')} = {value} {what}"
    return None
