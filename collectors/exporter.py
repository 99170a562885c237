"""An OpenTelemetry span exporter that writes OTLP batches to Kafka.

Each ``export()`` call (one ``BatchSpanProcessor`` batch) becomes ONE Kafka
message on topic ``otlp_spans``: an OTLP protobuf ``ExportTraceServiceRequest``,
the same bytes the OTel Collector's kafka exporter writes with ``otlp_proto``.

Delivery guarantee: at most once, never blocking the app. Sends are
asynchronous through kafka-python, which retries while the broker is away; the
bytes not yet acknowledged are bounded (``max_buffer_bytes``). When that bound
is reached, or a message fails for longer than ``delivery_timeout_ms``, the
batch is dropped and counted in :attr:`KafkaSpanExporter.stats`. A
crash of the app loses what is still buffered. ``export()`` never raises.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export import SpanExporter, SpanExportResult

from llmpulse.collectors.config import DEFAULT_TOPIC, KafkaConnection, flag, setting
from llmpulse.collectors.redaction import redact_span

__all__ = ["ExporterStats", "KafkaSpanExporter"]

log = logging.getLogger(__name__)
_MAX_MESSAGE = 4 * 1024 * 1024
_CONNECT_BACKOFF_S = 5.0  # no new connection attempt this long after one failed
_WARN_EVERY_S = 10.0  # at most one drop warning per interval


@dataclass
class ExporterStats:
    """Counters of what the exporter did, for the app's own health checks."""

    spans_exported: int = 0
    spans_dropped: int = 0  # every span lost, wherever (the SDK's queue included)
    spans_dropped_in_queue: int = 0  # of which: the SDK's span queue full, or left at shutdown
    messages_sent: int = 0
    messages_failed: int = 0


class KafkaSpanExporter(SpanExporter):
    """Export span batches to Kafka as OTLP protobuf.

    Arguments win over ``LLMPULSE_*`` environment variables, which win over the
    defaults (see :mod:`llmpulse.collectors.config`).
    """

    def __init__(
        self,
        bootstrap_servers: str | None = None,
        topic: str | None = None,
        capture_content: bool | None = None,
        producer_config: dict[str, Any] | None = None,
        max_message_bytes: int = _MAX_MESSAGE,
        max_buffer_bytes: int = 32 * 1024 * 1024,
        connection: KafkaConnection | None = None,
    ) -> None:
        if connection is None:
            connection = KafkaConnection.from_env(bootstrap_servers)
        self.connection = connection
        self.bootstrap_servers = connection.bootstrap
        self.topic = setting(topic, "LLMPULSE_TOPIC", DEFAULT_TOPIC)
        self.capture_content = flag(capture_content, "LLMPULSE_CAPTURE_CONTENT")
        self.max_message_bytes = max_message_bytes
        self.max_buffer_bytes = max_buffer_bytes
        self._buffered = 0  # bytes handed to the producer and not yet acked or failed
        self.stats = ExporterStats()
        self._config: dict[str, Any] = connection.client_config(
            **{
                "acks": 1,
                "linger_ms": 5,
                "retries": 2**31 - 1,
                "delivery_timeout_ms": 120_000,
                # Waiting for metadata happens on the SDK's export thread, never the app's.
                "max_block_ms": 5000,
                "bootstrap_timeout_ms": 5000,  # first connection; retried on the next export
                "max_request_size": max_message_bytes + 64 * 1024,
                "client_id": "llmpulse-exporter",
                **(producer_config or {}),
            }
        )
        self._producer: Any = None
        self._connect_again_at = 0.0
        self._warned_at = float("-inf")
        self._lock = threading.Lock()
        self._shutdown = False

    # ------------------------------------------------------------------ kafka
    def _get_producer(self) -> Any:
        if self._producer is None:
            # After a failed connection, batches are dropped (counted) at once for a
            # while instead of each waiting for the bootstrap timeout again: the
            # queue behind them would overflow and shutdown would take minutes.
            if time.monotonic() < self._connect_again_at:
                raise ConnectionError("Kafka unreachable at the last try; not retrying yet")
            from kafka import KafkaProducer

            try:
                self._producer = KafkaProducer(**self._config)
            except Exception:
                self._connect_again_at = time.monotonic() + _CONNECT_BACKOFF_S
                raise
        return self._producer

    def encode(self, spans: Sequence[ReadableSpan]) -> bytes:
        """The OTLP protobuf bytes for ``spans``, content stripped unless opted in."""
        clean = [redact_span(s, self.capture_content) for s in spans]
        return bytes(encode_spans(clean).SerializeToString())

    def _chunks(self, spans: Sequence[ReadableSpan]) -> list[tuple[bytes, int]]:
        payload = self.encode(spans)
        if len(payload) <= self.max_message_bytes or len(spans) == 1:
            return [(payload, len(spans))]
        half = len(spans) // 2
        return self._chunks(spans[:half]) + self._chunks(spans[half:])

    # --------------------------------------------------------------- contract
    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        """Queue the batch as one Kafka message (split if too large); never raises."""
        if self._shutdown:
            return SpanExportResult.FAILURE
        if not spans:
            return SpanExportResult.SUCCESS
        try:
            chunks = self._chunks(spans)
            producer = self._get_producer()
        except Exception as exc:  # broker unreachable, encoding bug, ...
            self._dropped(len(spans), exc)
            return SpanExportResult.FAILURE
        result = SpanExportResult.SUCCESS
        for payload, count in chunks:
            size = len(payload)
            with self._lock:
                full = self._buffered + size > self.max_buffer_bytes
                if not full:
                    self._buffered += size
            if full:
                self._dropped(
                    count,
                    BufferError(f"send buffer full ({self.max_buffer_bytes} bytes unacknowledged)"),
                )
                result = SpanExportResult.FAILURE
                continue
            try:
                future = producer.send(self.topic, value=payload)
            except Exception as exc:  # no metadata within max_block_ms, closed, ...
                self._release(size)
                self._dropped(count, exc)
                result = SpanExportResult.FAILURE
                continue
            future.add_callback(self._on_sent, count, size)
            future.add_errback(self._on_error, count, size)
        return result

    @property
    def buffered_bytes(self) -> int:
        """Bytes handed to Kafka and not yet acknowledged (bounded by max_buffer_bytes)."""
        return self._buffered

    def _release(self, size: int) -> None:
        with self._lock:
            self._buffered -= size

    def _on_sent(self, count: int, size: int, _metadata: Any) -> None:
        with self._lock:
            self._buffered -= size
            self.stats.spans_exported += count
            self.stats.messages_sent += 1

    def _on_error(self, count: int, size: int, exc: BaseException) -> None:
        self._release(size)
        self._dropped(count, exc)

    def _dropped(self, count: int, exc: BaseException, *, in_queue: bool = False) -> None:
        with self._lock:
            self.stats.spans_dropped += count
            if in_queue:
                self.stats.spans_dropped_in_queue += count
            else:
                self.stats.messages_failed += 1
            dropped = self.stats.spans_dropped
            now = time.monotonic()
            warn = now - self._warned_at >= _WARN_EVERY_S
            if warn:
                self._warned_at = now
        if warn:  # at most one line per interval, with the running total
            log.warning("llmpulse: dropped %d spans (%d so far): %s", count, dropped, exc)

    def dropped_in_queue(self, count: int, why: str) -> None:
        """Count spans the SDK's batch processor lost before they reached export()."""
        if count > 0:
            self._dropped(count, BufferError(why), in_queue=True)

    def force_flush(self, timeout_millis: int = 30_000) -> bool:
        """Wait until every queued message is acknowledged or failed."""
        if self._producer is None:
            return True
        try:
            self._producer.flush(timeout=timeout_millis / 1000)
            return True
        except Exception as exc:
            log.warning("llmpulse: flush did not complete: %s", exc)
            return False

    def shutdown(self, timeout_millis: float = 5_000) -> None:
        """Flush and close the producer within ``timeout_millis``; safe to call twice."""
        if self._shutdown:
            return
        self._shutdown = True
        if self._producer is not None:
            budget = max(timeout_millis / 1000, 0.0)
            try:
                self._producer.flush(timeout=budget * 0.8)
                self._producer.close(timeout=budget * 0.2)
            except Exception as exc:
                log.warning("llmpulse: closing the Kafka producer failed: %s", exc)
