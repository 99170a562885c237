"""The hot path: one pass over a span's attributes straight into record fields.

Instead of building a dict of every attribute and then probing it field by field,
each attribute key is looked up once in a precomputed table that says which
field it fills and with which precedence (see :data:`conventions.FIELDS`).
Attributes nobody reads are never decoded. A flag word records which conventions
and LLM markers were seen, for the LLM test and the convention label.
"""

from __future__ import annotations

from typing import Any

from llmpulse.stream_jobs.conventions import FIELDS, LLM_MARKERS, NON_INFERENCE_OPERATIONS
from llmpulse.stream_jobs.decode import any_value

__all__ = [
    "F_GENAI",
    "F_GENAI_OLD",
    "F_LLM",
    "F_OPENINFERENCE",
    "F_OPENLIT",
    "convention_of",
    "extract",
    "is_agent",
    "is_llm",
    "key_table",
]

F_LLM = 1
F_OPENINFERENCE = 2
F_OPENLIT = 4
F_GENAI = 8
F_GENAI_OLD = 16
_OI_KINDS = frozenset({"LLM", "EMBEDDING"})
_SCALARS = frozenset({"string_value", "int_value", "double_value", "bool_value", "bytes_value"})
_FLAGS = {
    "openinference.span.kind": F_OPENINFERENCE,
    "llm.model_name": F_OPENINFERENCE,
    "gen_ai.application_name": F_OPENLIT,
    "gen_ai.server.time_to_first_token": F_OPENLIT,
    "gen_ai.provider.name": F_GENAI,
    "gen_ai.usage.input_tokens": F_GENAI,
    "gen_ai.system": F_GENAI_OLD,
    "gen_ai.usage.prompt_tokens": F_GENAI_OLD,
}


def _table() -> dict[str, tuple[int, tuple[tuple[str, int], ...]]]:
    targets: dict[str, list[tuple[str, int]]] = {}
    for field, keys in FIELDS.items():
        for rank, key in enumerate(keys):
            targets.setdefault(key, []).append((field, rank))
    targets.setdefault("openinference.span.kind", []).append(("oi_kind", 0))
    every_key = set(targets) | LLM_MARKERS | set(_FLAGS)
    return {
        k: (_FLAGS.get(k, 0) | (F_LLM if k in LLM_MARKERS else 0), tuple(targets.get(k, ())))
        for k in every_key
    }


_TABLE = _table()


def key_table() -> dict[str, tuple[int, tuple[tuple[str, int], ...]]]:
    """Attribute key -> (convention flags, ((field, precedence rank), ...)): the one table
    that this module and the compiled extractor (``stream_jobs/native``) both read."""
    return dict(_TABLE)


def extract(kvs: Any) -> tuple[dict[str, Any], int]:
    """(fields, flags) from a KeyValue list; the highest-precedence key wins."""
    fields: dict[str, Any] = {}
    ranks: dict[str, int] = {}
    flags = 0
    table = _TABLE
    for kv in kvs:
        hit = table.get(kv.key)
        if hit is None:
            continue
        flag, targets = hit
        flags |= flag
        value: Any = _MISSING
        for field, rank in targets:
            if field in ranks and ranks[field] <= rank:
                continue
            if value is _MISSING:
                v = kv.value
                kind = v.WhichOneof("value")
                value = getattr(v, kind) if kind in _SCALARS else any_value(v)
            fields[field] = value
            ranks[field] = rank
    return fields, flags


_MISSING = object()


def is_llm(fields: dict[str, Any], flags: int) -> bool:
    """True when the span describes a model call in any known convention.

    An OpenInference span kind decides when present (a CHAIN or TOOL span may carry
    ``llm.*`` keys); otherwise a non-inference operation (tool, agent, workflow) is
    not a call, and any LLM marker key makes one.
    """
    kind = fields.get("oi_kind")
    if isinstance(kind, str) and kind:
        return kind in _OI_KINDS
    op = fields.get("operation")
    if isinstance(op, str) and op.isascii() and op.lower() in NON_INFERENCE_OPERATIONS:
        return False
    return bool(flags & F_LLM)


def is_agent(fields: dict[str, Any]) -> bool:
    """True for a GenAI span that is not a model call: a non-inference operation (tool,
    agent, workflow, task) or an OpenInference kind other than LLM and EMBEDDING."""
    kind = fields.get("oi_kind")
    if isinstance(kind, str) and kind:
        return kind not in _OI_KINDS
    op = fields.get("operation")
    return isinstance(op, str) and op.isascii() and op.lower() in NON_INFERENCE_OPERATIONS


def convention_of(flags: int) -> str:
    """Which convention the span follows: gen_ai, gen_ai_deprecated, openinference, openlit."""
    if flags & F_OPENINFERENCE:
        return "openinference"
    if flags & F_OPENLIT:
        return "openlit"
    if flags & F_GENAI:
        return "gen_ai"
    if flags & F_GENAI_OLD:
        return "gen_ai_deprecated"
    return "gen_ai"
