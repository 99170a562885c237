"""The worker sends yesterday's report by itself, once, even across a restart."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from kafka import KafkaProducer

from llmpulse.stream_jobs.settings import WorkerSettings
from llmpulse.stream_jobs.worker import ensure_topics
from llmpulse.stream_jobs.worker_process import WorkerProcess
from tests import otlp
from tests.conftest import sql

pytestmark = pytest.mark.integration


def test_scheduled_report_is_sent_once_across_restarts(
    kafka: str, topic: str, tmp_path: Path, http_receiver: tuple[str, list[dict[str, Any]]]
) -> None:
    """Yesterday's calls in, one webhook post out with their exact total; none on restart."""
    url, received = http_receiver
    env = {
        "LLMPULSE_REPORT_WEBHOOK_URL": url,
        "LLMPULSE_REPORT_WEBHOOK_KIND": "generic",
        "LLMPULSE_REPORT_HOUR_UTC": "0",
        "LLMPULSE_REPORT_CHECK_INTERVAL_S": "2",
    }
    ensure_topics(
        WorkerSettings(kafka_bootstrap=kafka, topic=topic, dead_letter_topic=f"{topic}.dlq")
    )
    yesterday = datetime.now(UTC).replace(hour=12, minute=0, second=0) - timedelta(days=1)
    producer = KafkaProducer(bootstrap_servers=kafka)
    for i in range(20):
        start = int((yesterday + timedelta(minutes=i)).timestamp() * 1e9)
        producer.send(
            topic, otlp.request([otlp.span(otlp.gen_ai("gpt-4o", inp=1000 + i), start_ns=start)])
        )
    producer.flush()
    producer.close()
    dsn = f"chdb://{tmp_path / 'chdb'}"
    for run in range(2):
        worker = WorkerProcess(
            kafka, dsn, tmp_path / f"w{run}", topic=topic, group_id="report", extra_env=env
        ).start()
        worker.wait_caught_up(timeout=120)
        deadline = time.monotonic() + (40 if run == 0 else 8)
        while time.monotonic() < deadline and (run > 0 or not received):
            time.sleep(0.2)
        assert worker.stop() == 0
    assert len(received) == 1, received
    total = sql(dsn, "SELECT toString(sum(cost_usd)) c FROM llmpulse.llm_calls FINAL")[0]["c"]
    assert Decimal(received[0]["total_usd"]) == Decimal(total) > 0
    assert received[0]["day"] == yesterday.date().isoformat()
