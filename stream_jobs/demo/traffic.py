"""Realistic LLM traffic through the REAL OpenTelemetry SDK and the Kafka exporter.

Several services, teams and features; OpenAI, Anthropic, Google models (cached
and reasoning tokens); business transactions with retries after rate limits and
timeouts; risk tiers; three attribute conventions; prompt content that the
exporter must strip; non-LLM spans; a few malformed spans from a legacy job and
calls to a self-hosted model that has no price. The generator keeps totals of
what it emitted so they can be compared with what the pipeline stored.
"""

from __future__ import annotations

import math
import random
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor
from opentelemetry.trace import SpanKind, Status, StatusCode

from llmpulse.collectors import KafkaSpanExporter, transaction
from llmpulse.collectors.context import TransactionSpanProcessor
from llmpulse.stream_jobs.demo.attributes import Model as _Model
from llmpulse.stream_jobs.demo.attributes import call_attributes
from llmpulse.stream_jobs.pricing import PICO_PER_USD, PriceCatalogue

__all__ = ["Emitted", "TrafficGenerator"]


#: Share of gen_ai calls wrapped in a framework span, of transactions with a tool span.
STACK_SHARE = 0.05
TOOL_SHARE = 0.1


_MODELS = {
    "gpt-4o": _Model("openai", "gpt-4o", "gpt-4o-2024-08-06", 1800, 0.3),
    "gpt-4o-mini": _Model("openai", "gpt-4o-mini", "gpt-4o-mini-2024-07-18", 700, 0.2),
    "o3-mini": _Model("openai", "o3-mini", "o3-mini-2025-01-31", 4500, 0.0, reasoning=True),
    "claude-sonnet-4": _Model(
        "anthropic", "claude-sonnet-4", "claude-sonnet-4-20250514", 2200, 0.5
    ),
    "gemini-2.0-flash": _Model("gcp.gemini", "gemini-2.0-flash", "gemini-2.0-flash-001", 600),
    "embed": _Model(
        "openai", "text-embedding-3-small", "text-embedding-3-small", 120, operation="embeddings"
    ),
    "acme-llm-7b": _Model("self_hosted", "acme-llm-7b", "acme-llm-7b", 900),
}

# service -> (team, environment, convention, [(feature, risk tier, models, weight)])
_SERVICES: dict[str, tuple[str, str, str, list[tuple[str, str, list[str], float]]]] = {
    "checkout-assistant": (
        "payments",
        "prod",
        "gen_ai",
        [
            ("refund-triage", "high", ["gpt-4o", "claude-sonnet-4"], 2.0),
            ("order-summary", "medium", ["gpt-4o-mini"], 3.0),
        ],
    ),
    "support-bot": (
        "support",
        "prod",
        "gen_ai_deprecated",
        [
            ("ticket-reply", "medium", ["claude-sonnet-4", "gpt-4o-mini"], 4.0),
            ("sentiment", "low", ["gemini-2.0-flash"], 2.0),
        ],
    ),
    "search-rag": (
        "platform",
        "prod",
        "openinference",
        [
            ("query-embed", "low", ["embed"], 3.0),
            ("answer", "medium", ["gpt-4o", "gemini-2.0-flash"], 3.0),
        ],
    ),
    "fraud-review": ("risk", "prod", "gen_ai", [("case-analysis", "high", ["o3-mini"], 1.0)]),
    "labs-sandbox": (
        "research",
        "staging",
        "gen_ai",
        [("self-hosted-eval", "low", ["acme-llm-7b"], 0.5)],
    ),
}


@dataclass
class Emitted:
    """What the generator sent, for comparison with what was stored."""

    calls: int = 0
    input_tokens: int = 0
    output_tokens: int = 0
    cache_read_tokens: int = 0
    cache_creation_tokens: int = 0
    reasoning_tokens: int = 0
    cost_pico: int = 0
    errors: int = 0
    retries: int = 0
    unpriced: int = 0
    transactions: int = 0
    non_llm_spans: int = 0
    bad_spans: int = 0
    #: Framework spans around a call (same usage): stored, linked, not counted.
    stacked_spans: int = 0
    #: Tool spans (non-LLM, kept in agent_spans).
    tool_spans: int = 0
    by_model: dict[str, int] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        out = {k: v for k, v in self.__dict__.items() if k != "cost_pico"}
        out["cost_usd"] = str(Decimal(self.cost_pico) / PICO_PER_USD)
        return out


class TrafficGenerator:
    """Emit ``events`` LLM calls through one Kafka exporter, deterministically per seed."""

    def __init__(
        self,
        exporter: KafkaSpanExporter,
        seed: int = 7,
        catalogue: PriceCatalogue | None = None,
        bad_share: float = 0.004,
        window_s: float = 3600.0,
        drift_at: float = 0.5,
    ) -> None:
        self.exporter = exporter
        self.rng = random.Random(seed)
        # Stacked and tool spans draw from their own sequence: the calls stay the same.
        self.extras = random.Random(seed + 1)
        self.catalogue = catalogue or PriceCatalogue.load()
        self.bad_share = bad_share
        self.window_s = window_s
        self.drift_at = drift_at  # share of the window after which support-bot drifts
        self._drift_after_ns = 0
        self.emitted = Emitted()
        self._providers: dict[str, TracerProvider] = {}

    def _provider(self, service: str) -> TracerProvider:
        if service not in self._providers:
            team, env, _, _ = _SERVICES[service]
            tp = TracerProvider(
                resource=Resource.create(
                    {
                        "service.name": service,
                        "deployment.environment.name": env,
                        "llmpulse.team": team,
                    }
                )
            )
            tp.add_span_processor(TransactionSpanProcessor())
            tp.add_span_processor(
                BatchSpanProcessor(
                    self.exporter,
                    max_queue_size=65536,
                    max_export_batch_size=512,
                    schedule_delay_millis=200,
                )
            )
            self._providers[service] = tp
        return self._providers[service]

    def run(self, events: int, progress: Callable[[int], None] | None = None) -> Emitted:
        """Emit at least ``events`` LLM calls (whole transactions); return the totals."""
        services = list(_SERVICES)
        weights = [sum(f[3] for f in _SERVICES[s][3]) for s in services]
        now_ns = time.time_ns()
        minute = 60 * 10**9  # start on a minute boundary: same seed, same minutes
        t0 = (now_ns - int(self.window_s * 1e9)) // minute * minute
        self._drift_after_ns = t0 + int(self.drift_at * self.window_s * 1e9)
        n = 0
        tx_no = 0
        while n < events:
            service = self.rng.choices(services, weights)[0]
            start = t0 + int((n / max(events, 1)) * self.window_s * 1e9)
            made = self._transaction(service, tx_no, start)
            tx_no += 1
            n += made
            if progress:
                progress(made)
        self.emitted.transactions = tx_no
        for tp in self._providers.values():
            tp.force_flush()
        self.exporter.force_flush()
        return self.emitted

    def _transaction(self, service: str, tx_no: int, start_ns: int) -> int:
        team, _, convention, features = _SERVICES[service]
        feature, tier, models, _ = self.rng.choices(features, [f[3] for f in features])[0]
        tracer = self._provider(service).get_tracer("llmpulse.demo")
        tx_id = f"{service[:3]}-{tx_no:07d}"
        made = 0
        with transaction(tx_id, risk_tier=tier, team=team, feature=feature) as tx:
            root = tracer.start_span(
                f"POST /{feature}",
                kind=SpanKind.SERVER,
                start_time=start_ns,
                attributes={"http.request.method": "POST"},
            )
            self.emitted.non_llm_spans += 1
            t = start_ns + 2_000_000
            from opentelemetry import trace as api

            ctx = api.set_span_in_context(root)
            for _step in range(self.rng.randint(1, 3)):
                model = _MODELS[self.rng.choice(models)]
                for attempt in range(3):
                    with tx.attempt(attempt):
                        outcome = self._outcome(attempt)
                        t = self._call(tracer, ctx, service, convention, model, t, attempt, outcome)
                    made += 1
                    if outcome == "ok":
                        break
            if self.extras.random() < TOOL_SHARE:
                t = self._tool_span(tracer, ctx, t)
            if self.rng.random() < self.bad_share * 3:
                self._bad_span(tracer, ctx, t)
            root.end(end_time=t + 1_000_000)
        return made

    def _outcome(self, attempt: int) -> str:
        r = self.rng.random()
        if attempt < 2 and r < 0.04:
            return "rate_limited"
        if attempt < 2 and r < 0.06:
            return "timeout"
        return "ok"

    def _call(
        self,
        tracer: Any,
        ctx: Any,
        service: str,
        convention: str,
        model: _Model,
        t: int,
        attempt: int,
        outcome: str,
    ) -> int:
        rng = self.rng
        embed = model.operation == "embeddings"
        inp = int(rng.lognormvariate(math.log(60 if embed else 900), 0.6)) + 1
        out = 0 if embed else int(rng.lognormvariate(math.log(220), 0.7)) + 1
        cache_read = int(inp * rng.uniform(0.3, 0.9)) if rng.random() < model.cache_share else 0
        cache_creation = 0
        if model.provider == "anthropic" and cache_read == 0 and rng.random() < 0.2:
            cache_creation = int(inp * 0.6)
        reasoning = int(out * rng.uniform(0.5, 3.0)) if model.reasoning else 0
        out += reasoning
        latency_ms = rng.lognormvariate(math.log(model.median_ms), 0.45)
        response = model.response
        if service == "support-bot" and t >= self._drift_after_ns:
            # The injected incident: the provider got slower for gpt-4o-mini, and
            # claude-sonnet-4 silently moved to a new snapshot.
            if model.name == "gpt-4o-mini":
                latency_ms *= 2.5
            if model.name == "claude-sonnet-4":
                response = "claude-sonnet-4-20250929"
        finish = "stop"
        if outcome == "timeout":
            latency_ms, out, reasoning, cache_read, cache_creation = 30_000.0, 0, 0, 0, 0
        elif outcome == "rate_limited":
            latency_ms, out, reasoning, cache_read, cache_creation = 80.0, 0, 0, 0, 0
            inp = 0
        elif rng.random() < 0.03:
            finish = "length"
        end = t + int(latency_ms * 1e6)
        attrs = call_attributes(
            convention,
            model,
            response,
            inp,
            out,
            cache_read,
            cache_creation,
            reasoning,
            finish,
            outcome,
            latency_ms,
        )
        envelope = None
        if convention == "gen_ai" and self.extras.random() < STACK_SHARE:
            # A framework's span around the SDK's (LangChain-like): one call, two spans.
            from opentelemetry import trace as api

            envelope = tracer.start_span(
                "ChatModel.invoke", context=ctx, start_time=t - 500_000, attributes=attrs
            )
            ctx = api.set_span_in_context(envelope)
            self.emitted.stacked_spans += 1
        span = tracer.start_span(
            f"{model.operation} {model.name}",
            context=ctx,
            kind=SpanKind.CLIENT,
            start_time=t,
            attributes=attrs,
        )
        for s in (span, envelope):
            if s is not None and outcome != "ok":
                s.set_status(Status(StatusCode.ERROR, outcome))
        span.end(end_time=end)
        if envelope is not None:
            envelope.end(end_time=end + 500_000)
        self._count(
            model, response, t, inp, out, cache_read, cache_creation, reasoning, attempt, outcome
        )
        return end + int(rng.uniform(5, 50) * 1e6)

    def _count(
        self,
        model: _Model,
        response: str,
        t: int,
        inp: int,
        out: int,
        cache_read: int,
        cache_creation: int,
        reasoning: int,
        attempt: int,
        outcome: str,
    ) -> None:
        e = self.emitted
        e.calls += 1
        e.input_tokens += inp
        e.output_tokens += out
        e.cache_read_tokens += cache_read
        e.cache_creation_tokens += cache_creation
        e.reasoning_tokens += reasoning
        e.errors += outcome != "ok"
        e.retries += attempt > 0
        e.by_model[model.name] = e.by_model.get(model.name, 0) + 1
        day = datetime.fromtimestamp(t / 1e9, UTC).date()
        price = self.catalogue.lookup(response, day)
        if price is None:
            e.unpriced += 1
        else:
            e.cost_pico += price.cost_pico(inp, out, cache_read, cache_creation, reasoning)

    def _tool_span(self, tracer: Any, ctx: Any, t: int) -> int:
        """An agent's tool call between model calls (not a call: kept in agent_spans)."""
        end = t + int(self.extras.uniform(20, 400) * 1e6)
        tool = tracer.start_span(
            "execute_tool search_orders",
            context=ctx,
            kind=SpanKind.INTERNAL,
            start_time=t,
            attributes={
                "gen_ai.operation.name": "execute_tool",
                "gen_ai.tool.name": "search_orders",
            },
        )
        tool.end(end_time=end)
        self.emitted.non_llm_spans += 1
        self.emitted.tool_spans += 1
        return end + 1_000_000

    def _bad_span(self, tracer: Any, ctx: Any, t: int) -> None:
        """A span from a legacy batch job with a negative token count."""
        span = tracer.start_span(
            "chat gpt-4o-mini",
            context=ctx,
            kind=SpanKind.CLIENT,
            start_time=t,
            attributes={
                "gen_ai.operation.name": "chat",
                "gen_ai.provider.name": "openai",
                "gen_ai.request.model": "gpt-4o-mini",
                "gen_ai.usage.input_tokens": -42,
                "gen_ai.usage.output_tokens": 10,
            },
        )
        span.end(end_time=t + 1_000_000)
        self.emitted.bad_spans += 1
