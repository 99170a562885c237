"""Interop with a real OpenTelemetry Collector in front of (and behind) Kafka."""
