"""Consumer lag, sampled by the worker into ``consumer_lag`` for the pipeline dashboard."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from typing import Any

from llmpulse.stream_jobs.ingest import Ingest
from llmpulse.stream_jobs.settings import WorkerSettings
from llmpulse.stream_jobs.worker_process import LagProbe

__all__ = ["LAG_COLUMNS", "LagRecorder"]

LAG_COLUMNS = ["ts", "topic", "group_id", "partition", "committed", "end_offset", "lag"]


class LagRecorder:
    """Reads this group's committed and end offsets per partition (in a thread, via
    kafka-python) and stores them on the ClickHouse thread."""

    def __init__(self, settings: WorkerSettings, ingest: Ingest) -> None:
        self.settings = settings
        self.ingest = ingest
        self._probe: LagProbe | None = None

    def sample(self) -> list[list[Any]]:
        """One row per partition: time, topic, group, partition, committed, end, lag."""
        if self._probe is None:
            s = self.settings
            self._probe = LagProbe(s.kafka_bootstrap, s.group_id, s.topic)
        now = datetime.now(UTC)
        return [
            [now, self.settings.topic, self.settings.group_id, p, c, e, max(e - c, 0)]
            for p, c, e in self._probe.partitions()
        ]

    def store(self, rows: list[list[Any]]) -> None:
        table = f"{self.settings.clickhouse_database}.consumer_lag"
        self.ingest.sink.client.insert(table, rows, column_names=LAG_COLUMNS)

    async def record(self) -> None:
        rows = await asyncio.get_running_loop().run_in_executor(None, self.sample)
        if rows:
            await self.ingest.in_db_thread(lambda: self.store(rows))
