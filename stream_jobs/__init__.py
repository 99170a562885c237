"""Pipeline side of llmpulse: the Faust worker and the plain stream logic it wires.

``Pipeline`` turns a batch of Kafka messages into priced calls and dead letters;
``Ingest`` writes it through a sink, ``ClickHouseSink`` or, in tests, the
in-memory ``MemorySink`` (same interface, same idempotency).
Needs the ``pipeline`` extra: ``pip install 'llmpulse[pipeline]'``.
"""

from llmpulse.stream_jobs.ingest import Ingest
from llmpulse.stream_jobs.memory_sink import MemorySink
from llmpulse.stream_jobs.normalise import Limits, Rejection, normalise_span
from llmpulse.stream_jobs.pipeline import BatchResult, Message, Pipeline
from llmpulse.stream_jobs.pricing import ModelPrice, PriceCatalogue
from llmpulse.stream_jobs.sink import ClickHouseSink

__all__ = [
    "BatchResult",
    "ClickHouseSink",
    "Ingest",
    "Limits",
    "MemorySink",
    "Message",
    "ModelPrice",
    "Pipeline",
    "PriceCatalogue",
    "Rejection",
    "normalise_span",
]
