"""Collector configs (as mappings) with the keys the v0.165 components accept.

Checked against the sources of the contrib v0.165.1 kafka exporter and receiver
(``exporter/kafkaexporter/config.go``, ``pkg/kafka/configkafka/config.go``,
``receiver/kafkareceiver/config.go``): the topic and encoding sit under
``traces:`` (the exporter's ``traces.topic``, the receiver's ``traces.topics``,
a list); the old top-level ``topic``/``encoding`` keys are gone. The OTLP/HTTP
exporter's type is ``otlp_http`` (``otlphttp`` is a deprecated alias).

>>> otlp_to_kafka("127.0.0.1:9092", "otlp_spans", 4318)["exporters"]["kafka"]["traces"]
{'topic': 'otlp_spans', 'encoding': 'otlp_proto'}
"""

from __future__ import annotations

from typing import Any

__all__ = [
    "COMPRESSIONS",
    "TRACE_ENCODINGS",
    "batch",
    "kafka_to_otlp_http",
    "otlp_http_receiver",
    "otlp_to_kafka",
    "service",
]

#: ``producer.compression`` values of the v0.165 kafka exporter (franz-go codecs).
COMPRESSIONS = ("none", "gzip", "snappy", "lz4", "zstd")
#: ``traces.encoding`` values of the v0.165 kafka exporter without an encoding extension.
TRACE_ENCODINGS = (
    "otlp_proto",
    "otlp_json",
    "jaeger_proto",
    "jaeger_json",
    "zipkin_proto",
    "zipkin_json",
)


def otlp_http_receiver(port: int) -> dict[str, Any]:
    """The OTLP receiver with only its HTTP protocol, on ``127.0.0.1:port``."""
    return {"protocols": {"http": {"endpoint": f"127.0.0.1:{port}"}}}


def batch(timeout: str = "200ms", spans: int = 1000) -> dict[str, Any]:
    """The batch processor, capped at ``spans`` per batch: the kafka exporter drops a
    message over ``producer.max_message_bytes`` (1 MB by default) whole, as a permanent
    error, and the processor's default (8192 spans, no cap) passes that with ~5000
    chat spans."""
    return {"timeout": timeout, "send_batch_size": spans, "send_batch_max_size": spans}


def service(receivers: list[str], exporters: list[str], log_level: str = "info") -> dict[str, Any]:
    """One traces pipeline through the batch processor; no telemetry port of its own
    (the collector's metrics endpoint would take :8888 in every instance)."""
    return {
        "telemetry": {"metrics": {"level": "none"}, "logs": {"level": log_level}},
        "pipelines": {
            "traces": {"receivers": receivers, "processors": ["batch"], "exporters": exporters}
        },
    }


def otlp_to_kafka(
    bootstrap: str,
    topic: str,
    otlp_http_port: int,
    *,
    encoding: str = "otlp_proto",
    compression: str = "none",
    partition_traces_by_id: bool = False,
    batch_timeout: str = "200ms",
) -> dict[str, Any]:
    """OTLP/HTTP in, the kafka exporter out: what an app's collector runs in front
    of llmpulse (``encoding: otlp_proto`` is the worker's input contract)."""
    exporter: dict[str, Any] = {
        "brokers": bootstrap.split(","),
        "traces": {"topic": topic, "encoding": encoding},
        "producer": {"compression": compression},
    }
    if partition_traces_by_id:
        exporter["partition_traces_by_id"] = True
    return {
        "receivers": {"otlp": otlp_http_receiver(otlp_http_port)},
        "processors": {"batch": batch(batch_timeout)},
        "exporters": {"kafka": exporter},
        "service": service(["otlp"], ["kafka"]),
    }


def kafka_to_otlp_http(
    bootstrap: str,
    topic: str,
    otlp_http_port: int,
    traces_endpoint: str,
    *,
    group_id: str = "otel-collector",
    encoding: str = "otlp_proto",
    batch_timeout: str = "200ms",
) -> dict[str, Any]:
    """The kafka receiver (from the topic's start) out to an OTLP/HTTP endpoint
    (``traces_endpoint`` is used as it is: nothing is appended). The OTLP receiver
    is there too, so the process has a port that tells it is up."""
    return {
        "receivers": {
            "otlp": otlp_http_receiver(otlp_http_port),
            "kafka": {
                "brokers": bootstrap.split(","),
                "traces": {"topics": [topic], "encoding": encoding},
                "group_id": group_id,
                "initial_offset": "earliest",
            },
        },
        "processors": {"batch": batch(batch_timeout)},
        "exporters": {"otlp_http": {"traces_endpoint": traces_endpoint}},
        "service": service(["otlp", "kafka"], ["otlp_http"]),
    }
