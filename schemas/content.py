"""Which span attributes and events carry prompt/completion content.

Shared by the exporter (which strips them unless the user opts in) and the
worker (which never stores them). Keys match exactly or as a dotted prefix
(``llm.input_messages.0.message.content`` matches ``llm.input_messages``).
"""

from __future__ import annotations

CONTENT_KEYS: tuple[str, ...] = (
    "gen_ai.input.messages",
    "gen_ai.output.messages",
    "gen_ai.system_instructions",
    "gen_ai.prompt",
    "gen_ai.completion",
    "gen_ai.content.prompt",
    "gen_ai.content.completion",
    "gen_ai.tool.call.arguments",
    "gen_ai.tool.call.result",
    "gen_ai.tool.definitions",
    "llm.prompts",
    "llm.input_messages",
    "llm.output_messages",
    "llm.prompt_template",
    "llm.tools",
    "input.value",
    "output.value",
    "traceloop.entity.input",
    "traceloop.entity.output",
)

CONTENT_EVENTS: frozenset[str] = frozenset(
    {
        "gen_ai.content.prompt",
        "gen_ai.content.completion",
        "gen_ai.system.message",
        "gen_ai.user.message",
        "gen_ai.assistant.message",
        "gen_ai.tool.message",
        "gen_ai.choice",
        "gen_ai.client.inference.operation.details",
    }
)

_EXACT = frozenset(CONTENT_KEYS)
_PREFIXES = tuple(k + "." for k in CONTENT_KEYS)


def is_content_key(key: str) -> bool:
    """True when attribute ``key`` carries prompt or completion content."""
    return key in _EXACT or key.startswith(_PREFIXES)
