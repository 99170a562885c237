"""Stream analytics: mergeable latency sketches, exact rollups, drift detection."""

from llmpulse.stream_jobs.analytics.drift import DETECTORS, METRICS, DriftEvent, DriftMonitor
from llmpulse.stream_jobs.analytics.job import AnalyticsJob, RefreshStats
from llmpulse.stream_jobs.analytics.sketch import DDSketch, sql_bucket, sql_quantile, sql_sketch

__all__ = [
    "DETECTORS",
    "METRICS",
    "AnalyticsJob",
    "DDSketch",
    "DriftEvent",
    "DriftMonitor",
    "RefreshStats",
    "sql_bucket",
    "sql_quantile",
    "sql_sketch",
]
