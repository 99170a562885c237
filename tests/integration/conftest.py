"""Helpers for tests on the real broker: run a worker process, read its results."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from llmpulse.stream_jobs.settings import WorkerSettings
from llmpulse.stream_jobs.worker import ensure_topics
from llmpulse.stream_jobs.worker_process import WorkerProcess

pytestmark = pytest.mark.integration

#: A killed worker's partitions are handed over after 6 s instead of 30 s.
FAST_FAILOVER = {"LLMPULSE_SESSION_TIMEOUT_S": "6"}


@contextmanager
def running_worker(
    kafka: str, topic: str, folder: Path, group: str = "llmpulse-test"
) -> Iterator[WorkerProcess]:
    """A real `llmpulse worker` on ``topic`` with its own embedded ClickHouse folder."""
    ensure_topics(
        WorkerSettings(kafka_bootstrap=kafka, topic=topic, dead_letter_topic=f"{topic}.dlq")
    )
    worker = WorkerProcess(
        kafka,
        f"chdb://{folder / 'chdb'}",
        folder / "worker",
        topic=topic,
        group_id=group,
        extra_env=FAST_FAILOVER,
    )
    worker.start()
    try:
        yield worker
    finally:
        if worker.proc is not None:
            code = worker.stop()
            assert code == 0, f"worker exited with {code}:\n{worker.tail()}"
