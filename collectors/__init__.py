"""App side of llmpulse: one line to send LLM call spans to Kafka.

>>> import llmpulse.collectors as lp                                # doctest: +SKIP
>>> lp.install(service_name="checkout", kafka="broker:9092")          # doctest: +SKIP
>>> with lp.transaction("order-123", risk_tier="high", team="payments"):  # doctest: +SKIP
...     ...  # every LLM span in here is tagged with the transaction

Light on purpose: opentelemetry-sdk, opentelemetry-proto and kafka-python only.
Test doubles (what the app would export, kept in memory) are in
:mod:`llmpulse.collectors.testing`: ``InMemoryKafkaExporter``, ``install_in_memory``.
"""

from llmpulse.collectors.context import Transaction, current_transaction, transaction
from llmpulse.collectors.exporter import ExporterStats, KafkaSpanExporter
from llmpulse.collectors.install import install
from llmpulse.collectors.manual import LLMCall, llm_call, record_llm_call
from llmpulse.collectors.redaction import redact_span, scrub

__all__ = [
    "ExporterStats",
    "KafkaSpanExporter",
    "LLMCall",
    "Transaction",
    "current_transaction",
    "install",
    "llm_call",
    "record_llm_call",
    "redact_span",
    "scrub",
    "transaction",
]
