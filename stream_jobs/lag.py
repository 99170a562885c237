"""Consumer lag, sampled by the worker into ``consumer_lag`` for the pipeline dashboard."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from typing import Any

from llmpulse.collectors.config import KafkaConnection
from llmpulse.stream_jobs.clickhouse import ClickHouseClient
from llmpulse.stream_jobs.ingest import Ingest
from llmpulse.stream_jobs.settings import WorkerSettings

__all__ = ["LAG_COLUMNS", "LagProbe", "LagRecorder"]

LAG_COLUMNS = ["ts", "topic", "group_id", "partition", "committed", "end_offset", "lag"]


class LagProbe:
    """Reads a consumer group's committed offsets and the topic's end offsets."""

    def __init__(self, kafka: KafkaConnection | str, group: str, topic: str) -> None:
        from kafka import KafkaConsumer

        conn = KafkaConnection(bootstrap=kafka) if isinstance(kafka, str) else kafka
        self.topic = topic
        # A consumer that never subscribes: it only asks about the group's offsets.
        self._consumer = KafkaConsumer(
            **conn.client_config(group_id=group, enable_auto_commit=False, client_id="llmpulse-lag")
        )

    def partitions(self) -> list[tuple[int, int, int]]:
        """(partition, committed, end offset) for each partition of the topic."""
        from kafka import TopicPartition

        parts = self._consumer.partitions_for_topic(self.topic) or set()
        tps = [TopicPartition(self.topic, p) for p in sorted(parts)]
        end = self._consumer.end_offsets(tps) if tps else {}
        return [(tp.partition, self._consumer.committed(tp) or 0, end.get(tp, 0)) for tp in tps]

    def progress(self) -> tuple[int, int]:
        """(committed, end) offsets of the group on the topic, summed over partitions."""
        parts = self.partitions()
        return sum(c for _, c, _ in parts), sum(e for _, _, e in parts)

    def close(self) -> None:
        self._consumer.close()


class LagRecorder:
    """Reads this group's committed and end offsets per partition (in a thread, via
    kafka-python) and stores them on the ClickHouse thread."""

    def __init__(self, settings: WorkerSettings, ingest: Ingest, client: ClickHouseClient) -> None:
        self.settings = settings
        self.ingest = ingest
        self.client = client  # the ingest's session: inserts run on its thread
        self._probe: LagProbe | None = None

    def sample(self) -> list[list[Any]]:
        """One row per partition: time, topic, group, partition, committed, end, lag."""
        if self._probe is None:
            s = self.settings
            self._probe = LagProbe(s.kafka, s.group_id, s.topic)
        now = datetime.now(UTC)
        return [
            [now, self.settings.topic, self.settings.group_id, p, c, e, max(e - c, 0)]
            for p, c, e in self._probe.partitions()
        ]

    def store(self, rows: list[list[Any]]) -> None:
        table = f"{self.settings.clickhouse_database}.consumer_lag"
        self.client.insert(table, rows, column_names=LAG_COLUMNS)

    async def record(self) -> None:
        rows = await asyncio.get_running_loop().run_in_executor(None, self.sample)
        if rows:
            await self.ingest.in_db_thread(lambda: self.store(rows))
