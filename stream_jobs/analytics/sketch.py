"""A mergeable quantile sketch with relative error (DDSketch, log buckets).

A value ``x`` falls in bucket ``ceil(log(x) / log(gamma))`` with
``gamma = (1 + a) / (1 - a)``; any quantile read back is within relative error
``a`` of a true sample at that rank. Merging is adding bucket counts, so minute
sketches merge into hours, days, services or fleets exactly — never by averaging
percentiles. The same bucketing is written in SQL (:func:`sql_bucket`), so
ClickHouse builds the sketches (:func:`sql_sketch`), merges them (``sumMap``), and
dashboards read quantiles from merged buckets (:func:`sql_quantile`).

>>> s = DDSketch()
>>> s.add_many([10.0, 20.0, 30.0, 40.0, 1000.0])
>>> round(s.quantile(0.5), 1), s.count
(30.3, 5)
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence

import numpy as np

__all__ = [
    "ALPHA",
    "LOG_GAMMA",
    "MIN_VALUE",
    "DDSketch",
    "sql_bucket",
    "sql_quantile",
    "sql_sketch",
]

ALPHA = 0.01
GAMMA = (1 + ALPHA) / (1 - ALPHA)
LOG_GAMMA = math.log(GAMMA)
MIN_VALUE = 1e-3  # values below (zero latencies) count in the bucket of MIN_VALUE


def bucket_of(values: np.ndarray) -> np.ndarray:
    """Bucket index of each value."""
    v = np.maximum(np.asarray(values, dtype=np.float64), MIN_VALUE)
    return np.ceil(np.log(v) / LOG_GAMMA).astype(np.int32)


def value_of(index: int) -> float:
    """The representative value of a bucket (relative error <= ALPHA for its members)."""
    return 2.0 * GAMMA**index / (GAMMA + 1.0)


class DDSketch:
    """Bucket counts keyed by log index; ``update``/``merge``/``quantile``."""

    def __init__(self) -> None:
        self._counts: dict[int, int] = {}
        self.count = 0

    def add(self, value: float) -> None:
        self.add_many([value])

    def add_many(self, values: Sequence[float] | np.ndarray) -> None:
        keys, counts = np.unique(bucket_of(np.asarray(values)), return_counts=True)
        for k, c in zip(keys.tolist(), counts.tolist(), strict=True):
            self._counts[k] = self._counts.get(k, 0) + c
        self.count += int(counts.sum())

    def merge(self, other: DDSketch) -> DDSketch:
        """Add ``other``'s counts into this sketch; return self."""
        for k, c in other._counts.items():
            self._counts[k] = self._counts.get(k, 0) + c
        self.count += other.count
        return self

    @classmethod
    def from_buckets(cls, keys: Iterable[int], counts: Iterable[int]) -> DDSketch:
        s = cls()
        for k, c in zip(keys, counts, strict=True):
            s._counts[int(k)] = s._counts.get(int(k), 0) + int(c)
            s.count += int(c)
        return s

    def buckets(self) -> tuple[list[int], list[int]]:
        """Sorted bucket keys and their counts (what ClickHouse stores)."""
        keys = sorted(self._counts)
        return keys, [self._counts[k] for k in keys]

    def quantile(self, q: float) -> float:
        """The q-quantile (0 <= q <= 1); NaN for an empty sketch."""
        if self.count == 0:
            return math.nan
        rank = q * (self.count - 1)
        cum = 0
        keys, counts = self.buckets()
        for k, c in zip(keys, counts, strict=True):
            cum += c
            if cum > rank:
                return value_of(k)
        return value_of(keys[-1])


def sql_bucket(expr: str) -> str:
    """SQL for the bucket index of ``expr`` (same as :func:`bucket_of`)."""
    return f"toInt32(ceil(log(greatest({expr}, {MIN_VALUE})) / {LOG_GAMMA!r}))"


def sql_sketch(sorted_buckets: str, name: str) -> tuple[str, str]:
    """SQL for a sketch's ``(keys, counts)`` from a sorted array of bucket indexes.

    ``sorted_buckets`` is typically ``arraySort(groupArray(<sql_bucket>))`` computed by
    an inner query; the keys are its distinct values and the counts their run
    lengths. Same result as ``sumMap([bucket], [1])`` at half the cost (no array per
    row). ``name`` aliases the run starts (unique per query).
    """
    s = sorted_buckets
    starts = f"(arrayFilter(i -> i = 1 OR {s}[i] != {s}[i - 1], arrayEnumerate({s})) AS {name})"
    keys = f"arrayMap(i -> {s}[i], {starts})"
    counts = f"arrayPopFront(arrayDifference(arrayPushBack({name}, length({s}) + 1)))"
    return keys, counts


def sql_quantile(m: str, q: float) -> str:
    """SQL reading the q-quantile from a merged ``(keys, counts)`` tuple named ``m``.

    ``m`` is typically an alias of ``sumMap(latency_keys, latency_counts)``; an empty
    sketch reads as NaN.
    """
    g = repr(GAMMA)
    first = f"arrayFirstIndex(c -> c > {q!r} * (arraySum({m}.2) - 1), arrayCumSum({m}.2))"
    return f"if(arraySum({m}.2) = 0, nan, 2 * pow({g}, arrayElement({m}.1, {first})) / ({g} + 1))"
