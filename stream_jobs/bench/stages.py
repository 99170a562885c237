"""Each stage of the worker alone, in this process: decode, normalise+price, insert."""

from __future__ import annotations

import tempfile
import time
from typing import Any

import numpy as np

from llmpulse.stream_jobs.analytics.job import AnalyticsJob
from llmpulse.stream_jobs.analytics.sketch import ALPHA, DDSketch
from llmpulse.stream_jobs.clickhouse import connect, migrate
from llmpulse.stream_jobs.decode import decode_request
from llmpulse.stream_jobs.pipeline import Message, Pipeline
from llmpulse.stream_jobs.sink import ClickHouseSink

__all__ = ["sketch_accuracy", "stage_rates"]


def _best(fn: Any, repeat: int = 3) -> float:
    best = float("inf")
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t)
    return best


def stage_rates(payloads: list[bytes], spans: int) -> dict[str, float]:
    """Spans per second of each stage alone (best of three, one thread)."""
    msgs = [Message("bench", 0, i, p) for i, p in enumerate(payloads)]
    native, reference = Pipeline(native=True), Pipeline(native=False)
    decode = _best(lambda: [decode_request(p) for p in payloads])
    compiled = _best(lambda: native.process(msgs))
    python = _best(lambda: reference.process(msgs))
    result = native.process(msgs)
    with tempfile.TemporaryDirectory() as folder:
        client = connect(f"chdb://{folder}")
        migrate(client, "bench")
        sink = ClickHouseSink(client, "bench")
        t = time.perf_counter()
        sink.write(result)
        insert = time.perf_counter() - t
        job = AnalyticsJob(client, "bench")
        t = time.perf_counter()
        job.refresh(final=True)
        analytics = time.perf_counter() - t
        client.close()
    return {
        "native_spans_per_s": spans / compiled,
        "python_spans_per_s": spans / python,
        "protobuf_decode_spans_per_s": spans / decode,
        "insert_rows_per_s": result.call_count / insert,
        "analytics_refresh_s": analytics,
        "ceiling_spans_per_s": spans / (compiled + insert),
    }


def sketch_accuracy(n: int = 1_000_000) -> dict[str, float]:
    """Worst relative error of sketch quantiles against numpy's exact ones."""
    rng = np.random.default_rng(0)
    out = {}
    for name, x in (
        ("lognormal", rng.lognormal(6.6, 1.0, n)),
        ("pareto", (rng.pareto(1.5, n) + 1) * 100),
    ):
        s = DDSketch()
        s.add_many(x)
        errs = [
            abs(s.quantile(q) - np.quantile(x, q, method="lower"))
            / np.quantile(x, q, method="lower")
            for q in (0.5, 0.9, 0.95, 0.99, 0.999)
        ]
        out[f"{name}_max_rel_error"] = float(max(errs))
    out["bound"] = ALPHA
    return out
