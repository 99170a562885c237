"""A real single-node Apache Kafka broker (KRaft) for the demo, tests and bench."""

from llmpulse.stream_jobs.broker.local import KAFKA_VERSION, BrokerInfo, LocalBroker

__all__ = ["KAFKA_VERSION", "BrokerInfo", "LocalBroker"]
