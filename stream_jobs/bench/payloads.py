"""Synthetic OTLP span batches for the benchmark, built straight from protobuf.

Realistic gen_ai spans (about 540 bytes each, the size the official
instrumentations produce without content) spread over ``series`` distinct
(service, model) series, 512 spans per message like a BatchSpanProcessor batch,
``calls_per_transaction`` calls per business transaction (an agent turn).

Event time: by default spans start anywhere in the ``window_s`` seconds before
``end_ns`` (a backlog being replayed). With ``rate``, event time advances with
the stream as if it had been recorded live at ``rate`` spans/s, each span within
``window_s`` of its message's time.
"""

from __future__ import annotations

import functools
import os
import random
import time
from collections.abc import Iterator

from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue
from opentelemetry.proto.trace.v1.trace_pb2 import Span

__all__ = ["MODELS", "messages"]

MODELS = [
    "gpt-4o",
    "gpt-4o-mini",
    "claude-sonnet-4",
    "gemini-2.0-flash",
    "o3-mini",
    "claude-3-5-haiku",
    "gpt-4.1",
    "gpt-4.1-mini",
    "mistral-large",
    "acme-llm-7b",
]


def _kv(key: str, value: object) -> KeyValue:
    if isinstance(value, int):
        return KeyValue(key=key, value=AnyValue(int_value=value))
    if isinstance(value, float):
        return KeyValue(key=key, value=AnyValue(double_value=value))
    return KeyValue(key=key, value=AnyValue(string_value=str(value)))


@functools.lru_cache(maxsize=65_536)
def _same(key: str, value: str) -> KeyValue:
    """A repeated attribute, built once (building KeyValues is most of the cost here)."""
    return _kv(key, value)


def messages(
    spans: int,
    series: int = 10_000,
    per_message: int = 512,
    seed: int = 1,
    window_s: float = 1800.0,
    end_ns: int | None = None,
    group_size: int = 8,
    calls_per_transaction: int = 4,
    rate: float | None = None,
) -> Iterator[bytes]:
    """Yield OTLP messages holding ``spans`` LLM spans in total.

    Each message mixes services (a collector batch does), ``group_size`` spans each.
    """
    rng = random.Random(seed)
    services = max(1, series // len(MODELS))
    end = end_ns or time.time_ns()
    sent = 0
    while sent < spans:
        n = min(per_message, spans - sent)
        at = end if rate is None else end - int((spans - sent - n) / rate * 1e9)
        req = ExportTraceServiceRequest()
        for first in range(0, n, group_size):
            svc = f"svc-{rng.randrange(services):04d}"
            size = min(group_size, n - first)
            _group(req, rng, svc, size, at, window_s, calls_per_transaction)
        sent += n
        yield req.SerializeToString()


def _group(
    req: ExportTraceServiceRequest,
    rng: random.Random,
    svc: str,
    n: int,
    end: int,
    window_s: float,
    calls_per_transaction: int,
) -> None:
    rs = req.resource_spans.add()
    rs.resource.attributes.extend(
        [
            _same("service.name", svc),
            _same("deployment.environment.name", "prod"),
            _same("telemetry.sdk.language", "python"),
            _same("telemetry.sdk.version", "1.38.0"),
        ]
    )
    ss = rs.scope_spans.add()
    ss.scope.name = "opentelemetry.instrumentation.openai_v2"
    transaction = ""
    for i in range(n):
        if i % calls_per_transaction == 0:
            transaction = f"tx-{rng.getrandbits(40):x}"
        model = MODELS[rng.randrange(len(MODELS))]
        latency = int(rng.lognormvariate(6.6, 0.6) * 1e6)
        start = end - latency - int(rng.random() * window_s * 1e9)
        inp = rng.randrange(50, 6000)
        s = ss.spans.add(
            trace_id=os.urandom(16),
            span_id=os.urandom(8),
            name=f"chat {model}",
            kind=Span.SPAN_KIND_CLIENT,
            start_time_unix_nano=start,
            end_time_unix_nano=start + latency,
        )
        s.attributes.extend(
            [
                _same("gen_ai.operation.name", "chat"),
                _same("gen_ai.provider.name", "openai"),
                _same("gen_ai.request.model", model),
                _same("gen_ai.response.model", f"{model}-2025-01-31"),
                _kv("gen_ai.response.id", f"chatcmpl-{rng.getrandbits(64):x}"),
                _kv("gen_ai.usage.input_tokens", inp),
                _kv("gen_ai.usage.output_tokens", rng.randrange(1, 900)),
                _kv("gen_ai.usage.cache_read.input_tokens", inp // 3),
                _same("server.address", "api.openai.com"),
                _kv("llmpulse.transaction.id", transaction),
                _same("llmpulse.team", f"team-{int(svc[4:]) % 12}"),
            ]
        )
        fr = s.attributes.add()
        fr.key = "gen_ai.response.finish_reasons"
        fr.value.array_value.values.add().string_value = "stop"
