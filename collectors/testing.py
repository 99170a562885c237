"""Test doubles for the app side: assert on what the app WOULD send, without Kafka.

:class:`InMemoryKafkaExporter` is the real :class:`KafkaSpanExporter` (same
content redaction, same OTLP encoding, same split of large batches, same
counters) with the Kafka producer replaced by a list: each message it would
produce is kept, in order. :func:`install_in_memory` sets up what
:func:`~llmpulse.collectors.install` sets up (resource, transaction tagging,
batch processor) around one. Light: opentelemetry-sdk and -proto only, no
kafka-python at all.

>>> from opentelemetry.sdk.trace import TracerProvider
>>> from llmpulse.collectors import transaction
>>> provider = TracerProvider()
>>> exporter = install_in_memory(tracer_provider=provider)
>>> with transaction("order-1"), provider.get_tracer("app").start_as_current_span("chat") as s:
...     s.set_attribute("gen_ai.input.messages", "my card is 4111 1111 1111 1111")
>>> provider.force_flush()  # spans wait in the batch processor, as in production
True
>>> exporter.get_span_attributes()  # content stripped, transaction tagged
[{'llmpulse.transaction.id': 'order-1'}]
>>> provider.shutdown()
"""

from __future__ import annotations

import threading
from collections.abc import Iterable
from typing import Any, NamedTuple

from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import KeyValue
from opentelemetry.proto.trace.v1.trace_pb2 import Span

from llmpulse.collectors.exporter import KafkaSpanExporter
from llmpulse.collectors.install import install
from llmpulse.schemas.otlp import any_value

__all__ = [
    "InMemoryKafkaExporter",
    "KafkaMessage",
    "decode_attributes",
    "install_in_memory",
]


class KafkaMessage(NamedTuple):
    """One message the exporter would have produced (fields as the worker's ``Message``)."""

    topic: str
    partition: int
    offset: int
    value: bytes


class _Acked:
    """kafka-python's send future, already acknowledged by the broker."""

    def __init__(self, metadata: KafkaMessage) -> None:
        self.metadata = metadata

    def add_callback(self, fn: Any, *args: Any) -> _Acked:
        fn(*args, self.metadata)
        return self

    def add_errback(self, fn: Any, *args: Any) -> _Acked:
        return self


class _MemoryProducer:
    """The part of kafka-python's ``KafkaProducer`` the exporter uses, keeping messages."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.messages: list[KafkaMessage] = []
        self.next_offset: dict[str, int] = {}

    def send(self, topic: str, value: bytes, **_: Any) -> _Acked:
        with self.lock:
            offset = self.next_offset.get(topic, 0)
            self.next_offset[topic] = offset + 1
            message = KafkaMessage(topic, 0, offset, bytes(value))
            self.messages.append(message)
        return _Acked(message)

    def flush(self, timeout: float | None = None) -> None:
        return None

    def close(self, timeout: float | None = None) -> None:
        return None


class InMemoryKafkaExporter(KafkaSpanExporter):
    """The Kafka span exporter with its messages kept in memory instead of produced.

    Everything but the producer is the real exporter's: ``capture_content``
    (argument > ``LLMPULSE_CAPTURE_CONTENT`` > off) decides what content leaves,
    ``topic`` (argument > ``LLMPULSE_TOPIC`` > ``otlp_spans``) is where it would go,
    a batch over ``max_message_bytes`` is split, ``stats`` counts every span as
    exported. Each message is acknowledged at once, on partition 0, with offsets
    counting up from 0 per topic (and going on after :meth:`clear`, as a real
    topic's do). After ``shutdown()``, ``export()`` fails and keeps nothing more.
    """

    def __init__(
        self,
        topic: str | None = None,
        capture_content: bool | None = None,
        max_message_bytes: int | None = None,
    ) -> None:
        super().__init__(topic=topic, capture_content=capture_content)
        if max_message_bytes is not None:
            self.max_message_bytes = max_message_bytes
        self._memory = _MemoryProducer()
        self._producer = self._memory  # the real exporter's producer slot: no Kafka client

    def get_messages(self) -> tuple[KafkaMessage, ...]:
        """Every message produced so far, in order."""
        with self._memory.lock:
            return tuple(self._memory.messages)

    def get_requests(self) -> tuple[ExportTraceServiceRequest, ...]:
        """Each message decoded as the OTLP ``ExportTraceServiceRequest`` it carries."""
        return tuple(ExportTraceServiceRequest.FromString(m.value) for m in self.get_messages())

    def get_spans(self) -> tuple[Span, ...]:
        """Every exported span, as OTLP protobuf, in order."""
        return tuple(span for _, span in self._resource_spans())

    def get_span_attributes(self) -> list[dict[str, Any]]:
        """The attributes of each exported span, as plain Python values."""
        return [decode_attributes(span.attributes) for span in self.get_spans()]

    def get_resource_attributes(self) -> list[dict[str, Any]]:
        """For each exported span, its resource's attributes (``service.name``, ...)."""
        return [resource for resource, _ in self._resource_spans()]

    def clear(self) -> None:
        """Forget the messages kept so far (offsets are not reused)."""
        with self._memory.lock:
            self._memory.messages.clear()

    def _resource_spans(self) -> list[tuple[dict[str, Any], Span]]:
        out: list[tuple[dict[str, Any], Span]] = []
        for req in self.get_requests():
            for rs in req.resource_spans:
                resource = decode_attributes(rs.resource.attributes)
                out.extend((resource, span) for ss in rs.scope_spans for span in ss.spans)
        return out


def decode_attributes(key_values: Iterable[KeyValue]) -> dict[str, Any]:
    """A dict of OTLP ``KeyValue`` attributes (arrays become lists, kvlists dicts)."""
    return {kv.key: any_value(kv.value) for kv in key_values}


def install_in_memory(
    service_name: str | None = None,
    *,
    topic: str | None = None,
    capture_content: bool | None = None,
    **install_args: Any,
) -> InMemoryKafkaExporter:
    """:func:`~llmpulse.collectors.install` with an :class:`InMemoryKafkaExporter`.

    ``install_args`` are install()'s (``environment``, ``team``, ``resource_attributes``,
    ``tracer_provider``, the queue sizes) and mean the same: the global SDK
    ``TracerProvider`` is joined, or created with the same resource and set, and
    gets the same ``TransactionBatchSpanProcessor``. ``tracer_provider`` joins that
    provider instead of the global one (a test's own, so tests do not share one;
    the resource arguments are then unused, as when install() joins a provider).
    Spans wait in the batch processor as in production: ``force_flush()`` the
    provider before asserting on the exporter.
    """
    exporter = InMemoryKafkaExporter(topic=topic, capture_content=capture_content)
    install(service_name, exporter=exporter, **install_args)
    return exporter
