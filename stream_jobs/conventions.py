"""Attribute conventions mapped onto one set of fields.

Sources, in order of precedence: the current OTel gen_ai semantic conventions,
their deprecated names, OpenInference (``llm.*``, Arize Phoenix) and OpenLIT's
own attributes. llmpulse's own context attributes (``llmpulse.*``) carry the
business transaction, team, feature and risk tier.
"""

from __future__ import annotations

__all__ = [
    "FIELDS",
    "FIRST_TOKEN_EVENTS",
    "INPUT_WITHOUT_CACHE",
    "LLM_MARKERS",
    "NON_INFERENCE_OPERATIONS",
    "RESOURCE_FIRST",
]

#: field -> attribute keys, first present wins.
FIELDS: dict[str, tuple[str, ...]] = {
    "provider": ("gen_ai.provider.name", "gen_ai.system", "llm.provider", "llm.system"),
    "operation": ("gen_ai.operation.name", "llm.request.type", "openinference.span.kind"),
    # OpenInference's llm.model_name is the model that answered; the requested one is
    # llm.request.model_name or, else, the "model" of llm.invocation_parameters (read in
    # normalise.py); a span naming only one model has it as both.
    "request_model": ("gen_ai.request.model", "llm.request.model", "llm.request.model_name"),
    "response_model": (
        "gen_ai.response.model",
        "llm.response.model",
        "llm.response.model_name",
        "llm.model_name",
    ),
    "input_tokens": (
        "gen_ai.usage.input_tokens",
        "gen_ai.usage.prompt_tokens",
        "llm.usage.prompt_tokens",
        "llm.token_count.prompt",
    ),
    "output_tokens": (
        "gen_ai.usage.output_tokens",
        "gen_ai.usage.completion_tokens",
        "llm.usage.completion_tokens",
        "llm.token_count.completion",
    ),
    "cache_read_tokens": (
        "gen_ai.usage.cache_read.input_tokens",
        "gen_ai.usage.cache_read_input_tokens",
        "llm.token_count.prompt_details.cache_read",
    ),
    "cache_creation_tokens": (
        "gen_ai.usage.cache_creation.input_tokens",
        "gen_ai.usage.cache_write.input_tokens",  # the conventions' newer name (anthropic SDK)
        "gen_ai.usage.cache_creation_input_tokens",
        "llm.token_count.prompt_details.cache_write",
    ),
    "reasoning_tokens": (
        "gen_ai.usage.reasoning.output_tokens",
        "gen_ai.usage.reasoning_tokens",
        "llm.token_count.completion_details.reasoning",
    ),
    "finish_reasons": (
        "gen_ai.response.finish_reasons",
        "gen_ai.response.finish_reason",
        "llm.response.finish_reason",
        "llm.finish_reason",  # OpenInference
    ),
    "error_type": ("error.type",),
    # The provider's id of the response: two spans with one id describe one call.
    "response_id": ("gen_ai.response.id",),
    "ttft_ms": ("llmpulse.time_to_first_token_ms",),
    "ttft_s": ("gen_ai.server.time_to_first_token", "gen_ai.response.time_to_first_chunk"),
    "retry_attempt": (
        "llmpulse.retry.attempt",
        "gen_ai.request.retry_attempt",
        "http.request.resend_count",
    ),
    "transaction_id": ("llmpulse.transaction.id",),
    # Tool and agent spans (not calls): their names, for agent_spans.
    "tool_name": ("gen_ai.tool.name", "tool.name"),
    "agent_name": ("gen_ai.agent.name", "agent.name"),
    "risk_tier": ("llmpulse.risk_tier",),
    "team": ("llmpulse.team",),
    "feature": ("llmpulse.feature",),
    "environment": ("deployment.environment.name", "deployment.environment", "gen_ai.environment"),
    "service_name": ("service.name", "gen_ai.application_name"),
    # OpenInference: the request parameters as JSON, read for the model of a call
    # that failed before a response named it (see normalise.py).
    "invocation_parameters": ("llm.invocation_parameters",),
}

#: Fields that describe the process, not the call: the resource's value wins over a
#: span's own (OpenLIT puts ``service.name = "default"`` on every span).
RESOURCE_FIRST: tuple[str, ...] = ("service_name", "environment")

#: ``gen_ai.operation.name`` values (ASCII, compared lower-cased) of spans that are
#: not a model call (tools, agents, workflows, retrieval): counted as non-LLM spans.
#: An OpenInference span kind, when present, decides instead (LLM, EMBEDDING are calls).
NON_INFERENCE_OPERATIONS: frozenset[str] = frozenset(
    {
        "execute_tool",
        "execute_task",  # OpenLLMetry's LangChain steps (prompt templates, parsers)
        "invoke_agent",
        "create_agent",
        "invoke_workflow",
        "workflow",
        "task",
        "tool",
        "agent",
        "retrieval",
        "retrieve",
    }
)

#: Any of these on a span makes it an LLM span.
LLM_MARKERS: frozenset[str] = frozenset(
    {
        "gen_ai.operation.name",
        "gen_ai.provider.name",
        "gen_ai.system",
        "gen_ai.request.model",
        "gen_ai.response.model",
        "gen_ai.usage.input_tokens",
        "gen_ai.usage.prompt_tokens",
        "llm.model_name",
        "llm.provider",
        "llm.system",
        "llm.request.type",
    }
)

#: Span events whose time marks the first token of a streamed response (OpenInference):
#: the time to first token when no attribute gives it.
FIRST_TOKEN_EVENTS: frozenset[str] = frozenset({"First Token Stream Event"})

#: (convention, canonical provider) whose input tokens are the provider's own number,
#: cache reads and writes excluded (OpenLIT forwards Anthropic's ``input_tokens``): the
#: cached tokens are added. Any other span whose input is below its cached tokens
#: follows that rule too, and is recovered the same way.
INPUT_WITHOUT_CACHE: frozenset[tuple[str, str]] = frozenset({("openlit", "anthropic")})
