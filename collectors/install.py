"""``install()``: the one line an app adds to send its LLM calls to llmpulse."""

from __future__ import annotations

from typing import Any

from opentelemetry import trace
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider

from llmpulse.collectors.config import setting
from llmpulse.collectors.context import TransactionBatchSpanProcessor
from llmpulse.collectors.exporter import KafkaSpanExporter

__all__ = ["install"]


def install(
    service_name: str | None = None,
    kafka: str | None = None,
    *,
    topic: str | None = None,
    capture_content: bool | None = None,
    environment: str | None = None,
    team: str | None = None,
    resource_attributes: dict[str, Any] | None = None,
    max_queue_size: int = 8192,
    max_export_batch_size: int = 512,
    schedule_delay_millis: int = 1000,
    shutdown_timeout_s: float = 5.0,
    exporter: KafkaSpanExporter | None = None,
    tracer_provider: TracerProvider | None = None,
) -> KafkaSpanExporter:
    """Send this app's spans to llmpulse through Kafka; return the exporter.

    Sets up the global SDK ``TracerProvider`` (or joins the one already set) with
    a ``BatchSpanProcessor`` around a :class:`KafkaSpanExporter`, which also tags
    each span with the current business transaction. The span queue
    is bounded (``max_queue_size``): when full, the SDK drops spans rather than
    block the app; every span lost there is counted in ``exporter.stats``
    (``spans_dropped_in_queue``), and shutting the provider down takes at most
    ``shutdown_timeout_s`` (then what is still queued is counted as dropped).
    Content (prompts, completions) is not exported unless ``capture_content``
    (or ``LLMPULSE_CAPTURE_CONTENT=true``) says so.

    >>> import llmpulse.collectors as lp                       # doctest: +SKIP
    >>> lp.install(service_name="checkout", kafka="kafka:9092")  # doctest: +SKIP

    ``exporter`` replaces the Kafka exporter built from ``kafka``/``topic``/
    ``capture_content`` (e.g. :class:`~llmpulse.collectors.testing.InMemoryKafkaExporter`);
    ``tracer_provider`` is joined instead of the global provider.
    """
    if exporter is None:
        exporter = KafkaSpanExporter(
            bootstrap_servers=kafka, topic=topic, capture_content=capture_content
        )
    provider = tracer_provider or trace.get_tracer_provider()
    if not isinstance(provider, TracerProvider):
        attrs: dict[str, Any] = {
            "service.name": setting(service_name, "OTEL_SERVICE_NAME", "unknown")
        }
        if environment:
            attrs["deployment.environment.name"] = environment
        if team:
            attrs["llmpulse.team"] = team
        attrs.update(resource_attributes or {})
        provider = TracerProvider(resource=Resource.create(attrs))
        trace.set_tracer_provider(provider)
    provider.add_span_processor(
        TransactionBatchSpanProcessor(
            exporter,
            max_queue_size=max_queue_size,
            max_export_batch_size=max_export_batch_size,
            schedule_delay_millis=schedule_delay_millis,
            shutdown_timeout_ms=int(shutdown_timeout_s * 1000),
        )
    )
    return exporter
