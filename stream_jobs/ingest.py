"""The ingest step the Faust agent calls: process a batch, make it durable, report.

Delivery guarantee: at least once into ClickHouse, exactly once as read (see
:mod:`llmpulse.stream_jobs.sink`). :meth:`Ingest.handle` returns only once the
batch's rows and dead letters are written; the agent acks (commits) the
messages after that, so a crash at any point replays uncommitted messages and
the replay is deduplicated. ClickHouse being down means retrying with backoff,
forever, with a log line per attempt: no offset moves meanwhile.
"""

from __future__ import annotations

import asyncio
import base64
import json
import logging
import time
from collections.abc import Awaitable, Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

from llmpulse.errors import RetryLater
from llmpulse.schemas.record import DeadLetter
from llmpulse.stream_jobs.pipeline import BatchResult, Message, Pipeline
from llmpulse.stream_jobs.sink import Sink

__all__ = ["Ingest", "IngestStats", "dead_letter_json"]

log = logging.getLogger(__name__)

SendDeadLetter = Callable[[bytes, bytes], Awaitable[Any]]


@dataclass
class IngestStats:
    """Running totals since the worker started."""

    messages: int = 0
    spans: int = 0
    calls: int = 0
    rejected: int = 0
    non_llm: int = 0
    write_retries: int = 0
    started: float = 0.0
    process_s: float = 0.0  # time spent decoding, normalising and pricing
    write_s: float = 0.0  # time spent writing to ClickHouse (retries included)
    last_batch_messages: int = 0  # messages in the latest batch (full: catching up)
    last_batch_at: float = 0.0  # when it was durable (time.monotonic())
    behind: int = 0  # messages already in the log after the latest batch (see app.backlog)

    def line(self) -> str:
        secs = max(time.monotonic() - self.started, 1e-9)
        return (
            f"messages={self.messages} spans={self.spans} calls={self.calls} "
            f"rejected={self.rejected} non_llm={self.non_llm} "
            f"retries={self.write_retries} rate={self.spans / secs:,.0f} spans/s "
            f"process={self.process_s:.1f}s write={self.write_s:.1f}s behind={self.behind}"
        )


def dead_letter_json(dl: DeadLetter) -> bytes:
    """The dead-letter topic's record: self-describing JSON, payload in base64."""
    doc = dl._asdict()
    doc["payload_b64"] = base64.b64encode(doc.pop("payload")).decode()
    doc["rejected_at"] = dl.rejected_at.isoformat()
    return json.dumps(doc).encode()


class Ingest:
    """Process → write to ClickHouse (retrying) → send dead letters."""

    def __init__(
        self,
        pipeline: Pipeline,
        sink: Sink,
        send_dead_letter: SendDeadLetter | None = None,  # None: dead letters only in ClickHouse
        max_backoff: float = 30.0,
    ) -> None:
        self.pipeline = pipeline
        self.sink = sink
        self.send_dead_letter = send_dead_letter
        self.max_backoff = max_backoff
        self.stats = IngestStats(started=time.monotonic())
        # One thread owns the ingest's ClickHouse calls; analytics, on their own session,
        # run on another, so a long refresh statement never holds a batch back.
        self.executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="clickhouse")
        self.analytics_executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="analytics")

    async def handle(self, messages: Sequence[Message]) -> BatchResult:
        """Return once the batch is durable; never raises on message content."""
        loop = asyncio.get_running_loop()
        t0 = time.monotonic()
        result = await loop.run_in_executor(self.executor, self.pipeline.process, messages)
        t1 = time.monotonic()
        backoff = 0.5
        while True:
            try:
                await loop.run_in_executor(self.executor, self.sink.write, result)
                break
            except RetryLater as exc:
                self.stats.write_retries += 1
                wait = min(max(exc.retry_after, backoff), self.max_backoff)
                log.warning("%s; retrying in %.1fs (offsets not committed)", exc, wait)
                await asyncio.sleep(wait)
                backoff = min(backoff * 2, self.max_backoff)
        self.stats.process_s += t1 - t0
        self.stats.write_s += time.monotonic() - t1
        if self.send_dead_letter is not None and result.dead_letters:
            pending = [
                await self.send_dead_letter(dl.reason.encode(), dead_letter_json(dl))
                for dl in result.dead_letters
            ]
            await asyncio.gather(*[p for p in pending if asyncio.isfuture(p)])
        st = self.stats
        st.last_batch_messages, st.last_batch_at = len(messages), time.monotonic()
        st.messages += len(messages)
        st.spans += result.spans
        st.calls += result.call_count
        st.rejected += sum(dl.span_count for dl in result.dead_letters)
        st.non_llm += result.non_llm_spans
        return result

    async def in_db_thread(self, fn: Callable[[], Any]) -> Any:
        """Run ``fn`` on the thread that owns every ClickHouse call."""
        return await asyncio.get_running_loop().run_in_executor(self.executor, fn)

    async def in_analytics_thread(self, fn: Callable[[], Any]) -> Any:
        """Run ``fn`` on the analytics thread (analytics use their own client)."""
        return await asyncio.get_running_loop().run_in_executor(self.analytics_executor, fn)

    def close(self) -> None:
        self.executor.shutdown(wait=True)
        self.analytics_executor.shutdown(wait=True)
