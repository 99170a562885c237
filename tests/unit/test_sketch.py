"""DDSketch against exact numpy quantiles, merged sketches against the union."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from llmpulse.stream_jobs.analytics.sketch import (
    ALPHA,
    DDSketch,
    bucket_of,
    sql_bucket,
    sql_quantile,
    sql_sketch,
)

QS = (0.5, 0.9, 0.95, 0.99, 0.999)


def data(kind: str, n: int, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    if kind == "lognormal":
        return rng.lognormal(np.log(800), 1.0, n)
    if kind == "pareto":  # heavy tail: infinite variance
        return (rng.pareto(1.5, n) + 1) * 100
    return rng.uniform(0.5, 60_000, n)


@pytest.mark.parametrize("kind", ["lognormal", "pareto", "uniform"])
def test_quantiles_within_relative_error_of_exact(kind: str) -> None:
    """Every quantile is within 1% of numpy's exact sample at the same rank."""
    x = data(kind, 200_000)
    s = DDSketch()
    s.add_many(x)
    for q in QS:
        exact = np.quantile(x, q, method="lower")
        assert abs(s.quantile(q) - exact) / exact <= ALPHA + 1e-12, q


def test_merged_sketches_equal_the_sketch_of_the_union() -> None:
    """Merging per-minute sketches gives the union's buckets and its quantiles."""
    parts = [data("pareto", 5_000, seed=i) * (1 + i / 10) for i in range(12)]
    merged = DDSketch()
    for p in parts:
        s = DDSketch()
        s.add_many(p)
        merged.merge(s)
    union = DDSketch()
    allx = np.concatenate(parts)
    union.add_many(allx)
    assert merged.buckets() == union.buckets()
    for q in QS:
        exact = np.quantile(allx, q, method="lower")
        assert abs(merged.quantile(q) - exact) / exact <= ALPHA + 1e-12


def test_averaging_percentiles_would_be_wrong_merging_is_right() -> None:
    """The reason sketches are merged: the mean of two p95s is not the p95 of both."""
    fast, slow = data("lognormal", 9_000, 1) * 0.2, data("lognormal", 1_000, 2) * 5
    a, b = DDSketch(), DDSketch()
    a.add_many(fast)
    b.add_many(slow)
    exact = np.quantile(np.concatenate([fast, slow]), 0.95, method="lower")
    averaged = (a.quantile(0.95) + b.quantile(0.95)) / 2
    merged = a.merge(b).quantile(0.95)
    assert abs(merged - exact) / exact <= ALPHA + 1e-12
    assert abs(averaged - exact) / exact > 0.2


def test_clickhouse_builds_the_same_sketch(chdb_client: Any) -> None:
    """SQL bucketing equals Python bucketing; SQL quantiles equal Python quantiles."""
    x = np.round(data("lognormal", 3_000, 4), 6)
    values = ",".join(repr(float(v)) for v in x)
    row = chdb_client.query(
        f"WITH sumMap([{sql_bucket('v')}], [toUInt64(1)]) AS m "
        f"SELECT m.1, m.2, {sql_quantile('m', 0.5)}, {sql_quantile('m', 0.99)} "
        f"FROM (SELECT arrayJoin([{values}]) AS v)"
    ).result_rows[0]
    s = DDSketch()
    s.add_many(x)
    assert (list(row[0]), list(row[1])) == s.buckets()
    assert row[2] == pytest.approx(s.quantile(0.5), rel=1e-12)
    assert row[3] == pytest.approx(s.quantile(0.99), rel=1e-12)


@pytest.mark.parametrize("values", [[], [5.0], [5.0, 5.0, 5.0], [0.0, 0.0, 7.5, 7.5, 9e5]])
def test_sketch_from_sorted_buckets_equals_summap(chdb_client: Any, values: list[float]) -> None:
    """sql_sketch (run lengths of sorted buckets) builds exactly what sumMap builds."""
    x = list(values) + [float(v) for v in np.round(data("pareto", 500, 3), 3)] * bool(values)
    keys, counts = sql_sketch("s", "runs")
    literal = "[" + ",".join(repr(v) for v in x) + "]::Array(Float64)"
    row = chdb_client.query(
        f"SELECT {keys}, {counts}, m.1, m.2 FROM ("
        f"  SELECT arraySort(groupArray({sql_bucket('v')})) AS s,"
        f"         sumMap([{sql_bucket('v')}], [toUInt64(1)]) AS m"
        f"  FROM (SELECT arrayJoin({literal}) AS v))"
    ).result_rows[0]
    s = DDSketch()
    if x:
        s.add_many(np.array(x))
    assert (list(row[0]), list(row[1])) == s.buckets() == (list(row[2]), list(row[3]))


def test_zero_and_empty() -> None:
    """Zero latencies land in the smallest bucket; an empty sketch reads NaN."""
    assert bucket_of(np.array([0.0]))[0] == bucket_of(np.array([1e-3]))[0]
    assert np.isnan(DDSketch().quantile(0.5))
