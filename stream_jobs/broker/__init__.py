"""A real single-node Apache Kafka broker (KRaft) for the demo, tests and bench,
and a real OpenTelemetry Collector (built with ocb) for the interop tests."""

from llmpulse.stream_jobs.broker.collector import (
    OTELCOL_VERSION,
    CollectorBuild,
    CollectorProcess,
)
from llmpulse.stream_jobs.broker.local import KAFKA_VERSION, BrokerInfo, LocalBroker

__all__ = [
    "KAFKA_VERSION",
    "OTELCOL_VERSION",
    "BrokerInfo",
    "CollectorBuild",
    "CollectorProcess",
    "LocalBroker",
]
