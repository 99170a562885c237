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


def _bounds(ch_type: str) -> tuple[int, int] | None:
    m = _INT.match(ch_type)
    if not m:
        return None
    bits = int(m.group(2))
    return (0, 2**bits - 1) if m.group(1) else (-(2 ** (bits - 1)), 2 ** (bits - 1) - 1)


def _problem(value: Any, ch_type: str) -> str | None:
    if ch_type.startswith("Nullable("):
        return None if value is None else _problem(value, ch_type[9:-1])
    if value is None:
        return "is null"
    bounds = _bounds(ch_type)
    if bounds is not None:
        if isinstance(value, bool) or not isinstance(value, int):
            return f"is {type(value).__name__}, not an integer"
        lo, hi = bounds
        return None if lo <= value <= hi else f"= {value} is outside {ch_type} ({lo}..{hi})"
    if ch_type.startswith("Float"):
        ok = isinstance(value, int | float) and math.isfinite(value)
        return None if ok else f"= {value!r} is not a finite number"
    if ch_type.startswith("DateTime64(6"):
        lo, hi = _DT64_US
        ok = isinstance(value, int) and lo <= value <= hi
        return None if ok else f"= {value!r} us is outside 1900..2106"
    return None


def out_of_range(row: Sequence[Any], columns: Sequence[str], table: str) -> str | None:
    """The first value of ``row`` (named by ``columns``) that its column cannot hold."""
    types = column_types(table)
    for name, value in zip(columns, row, strict=True):
        ch_type = types.get(name)
        if ch_type is not None:
            problem = _problem(value, ch_type)
            if problem is not None:
                return f"{name} {problem}"
    return None
