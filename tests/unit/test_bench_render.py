"""`llmpulse bench` prints every figure it measured, in its place."""

from __future__ import annotations

from llmpulse.stream_jobs.bench.run import render


def _e2e(per_core: float) -> dict:
    run = {
        "stored_calls": 1000,
        "rolled_up_calls": 1000,
        "series": 10,
        "wall_s": 2.0,
        "worker_cpu_s": 1.0,
        "spans_per_s_per_worker": 500.0,
        "spans_per_s_per_busy_core": per_core,
        "with_analytics_wall_s": 3.0,
        "with_analytics_cpu_s": 2.0,
        "with_analytics_spans_per_s_per_worker": 333.0,
        "with_analytics_spans_per_s_per_busy_core": per_core / 2,
        "worker_peak_rss_mb": 123.0,
        "cpu_split_s": {"worker": 0.5, "engine": 0.3, "merges": 0.2},
        "with_analytics_cpu_split_s": {"worker": 0.9, "engine": 0.6, "merges": 0.5},
        "with_analytics_spans_per_s_per_core_without_merges": per_core * 0.6,
    }
    return {"spans": 1000, "messages": 2, **run, "runs": [run, run, run]}


def test_render_shows_each_scenario_and_the_path_used() -> None:
    f = {
        "spans": 1000,
        "series": 10,
        "started": "2026-01-01 00:00:00",
        "native": True,
        "stages": {
            "native_spans_per_s": 111_111.0,
            "python_spans_per_s": 22_222.0,
            "protobuf_decode_spans_per_s": 333_333.0,
            "insert_rows_per_s": 44_444.0,
            "ceiling_spans_per_s": 55_555.0,
            "analytics_refresh_s": 0.066,
        },
        "end_to_end": _e2e(77_777.0),
        "end_to_end_backlog": _e2e(88_888.0),
        "freshness": {
            "achieved_rate_spans_per_s": 999.0,
            "freshness_p50_ms": 12.0,
            "freshness_p99_ms": 34.0,
            "rows": 5,
            "busy_cores": 0.75,
            "spans_per_s_per_busy_core": 1332.0,
        },
        "exporter": {
            k: {
                "app_thread_p50_us": 90.0 + i,
                "app_thread_p99_us": 300.0 + i,
                "exporter_part_p50_us": 4.0 + i,
                "exporter_part_p99_us": 20.0 + i,
                "export_threads_cpu_pct": 3.0,
                "dropped": 0,
            }
            for i, k in enumerate(("sdk_only", "llmpulse_kafka", "otlp_http_stock"))
        },
        "sketch": {"bound": 0.01, "lognormal_max_rel_error": 0.009, "pareto_max_rel_error": 0.008},
        "drift": [],
    }
    text = render(f)
    assert "compiled hot path: on" in text
    for figure in ("111,111", "22,222", "333,333", "44,444", "55,555", "66 ms"):
        assert figure in text
    live = text.index("live stream")
    backlog = text.index("30-minute backlog")
    assert live < text.index("77,777") < backlog < text.index("88,888")
    assert "38,888" in text[live:backlog] and "44,444 per busy core" in text[backlog:]
    assert "merges 0.5 s; without the merges 46,666 per busy core" in text[live:backlog]
    assert "without the merges 53,333 per busy core" in text[backlog:]
    assert "p50 12 ms, p99 34 ms" in text
    assert "0.75 busy cores, 1,332 spans/s per busy core" in text
    ours = next(line for line in text.splitlines() if "llmpulse Kafka exporter" in line)
    assert "91.0 /  301.0" in ours and "5.0 /   21.0" in ours and "(dropped 0)" in ours
    assert "NOT BUILT" in render({**f, "native": False})
