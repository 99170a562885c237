"""Type-checker probe: every assertion holds only if mypy resolves llmpulse's own types.

``tests/unit/test_typecheck.py`` runs ``scripts/typecheck.py`` on this file and on
``probe_wrong.py``; were the ``llmpulse.*`` names hidden from mypy (the editable
install's import hook), the types here would be ``Any`` and ``assert_type`` fails.
"""

from __future__ import annotations

from typing import assert_type

from llmpulse.collectors import KafkaSpanExporter
from llmpulse.collectors.exporter import ExporterStats
from llmpulse.schemas.record import CallRecord
from llmpulse.stream_jobs.clickhouse import ClickHouseClient, connect
from llmpulse.stream_jobs.pipeline import BatchResult, Pipeline
from llmpulse.stream_jobs.pricing import PriceCatalogue
from llmpulse.stream_jobs.settings import WorkerSettings


def probe(record: CallRecord, catalogue: PriceCatalogue, settings: WorkerSettings) -> None:
    assert_type(record.input_tokens, int)
    assert_type(record.ttft_ms, float | None)
    assert_type(PriceCatalogue.load(), PriceCatalogue)
    assert_type(Pipeline(catalogue).process([]), BatchResult)
    assert_type(settings.retention_days, int)
    assert_type(connect("chdb://:memory:"), ClickHouseClient)
    assert_type(KafkaSpanExporter().stats, ExporterStats)
