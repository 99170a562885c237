"""The demo's models and the span attributes of one call in each convention."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

__all__ = ["Model", "call_attributes"]


@dataclass(frozen=True)
class Model:
    """A model the demo calls: who serves it, how fast, how often cached."""

    provider: str
    name: str
    response: str
    median_ms: float
    cache_share: float = 0.0
    reasoning: bool = False
    operation: str = "chat"


def call_attributes(
    convention: str,
    model: Model,
    response: str,
    inp: int,
    out: int,
    cache_read: int,
    cache_creation: int,
    reasoning: int,
    finish: str,
    outcome: str,
    latency_ms: float,
) -> dict[str, Any]:
    """The attributes an instrumentation of ``convention`` puts on the call's span."""
    prompt = '[{"role":"user","content":"Customer jane.doe@example.com asks about order"}]'
    if convention == "openinference":
        attrs: dict[str, Any] = {
            "openinference.span.kind": "EMBEDDING" if model.operation == "embeddings" else "LLM",
            "llm.provider": model.provider,
            "llm.model_name": response,
            "llm.token_count.prompt": inp,
            "llm.token_count.completion": out,
            "input.value": prompt,
        }
        if cache_read:
            attrs["llm.token_count.prompt_details.cache_read"] = cache_read
        if reasoning:
            attrs["llm.token_count.completion_details.reasoning"] = reasoning
    elif convention == "gen_ai_deprecated":
        attrs = {
            "gen_ai.system": model.provider,
            "gen_ai.request.model": model.name,
            "gen_ai.response.model": response,
            "gen_ai.usage.prompt_tokens": inp,
            "gen_ai.usage.completion_tokens": out,
            "gen_ai.prompt": prompt,
        }
        if cache_read:
            attrs["gen_ai.usage.cache_read_input_tokens"] = cache_read
        if cache_creation:
            attrs["gen_ai.usage.cache_creation_input_tokens"] = cache_creation
    else:
        attrs = {
            "gen_ai.operation.name": model.operation,
            "gen_ai.provider.name": model.provider,
            "gen_ai.request.model": model.name,
            "gen_ai.response.model": response,
            "gen_ai.usage.input_tokens": inp,
            "gen_ai.usage.output_tokens": out,
            "gen_ai.input.messages": prompt,
        }
        if cache_read:
            attrs["gen_ai.usage.cache_read.input_tokens"] = cache_read
        if cache_creation:
            attrs["gen_ai.usage.cache_creation.input_tokens"] = cache_creation
        if reasoning:
            attrs["gen_ai.usage.reasoning.output_tokens"] = reasoning
    if outcome == "ok" and model.operation != "embeddings":
        attrs["gen_ai.response.finish_reasons"] = [finish]
        attrs["llmpulse.time_to_first_token_ms"] = round(latency_ms * 0.25, 3)
    if outcome != "ok":
        attrs["error.type"] = outcome
    return attrs
