"""Property-based fuzzing: no input makes the pipeline raise or lose a message."""

from __future__ import annotations

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from llmpulse.stream_jobs import Message, Pipeline
from tests import otlp

PIPE = Pipeline(max_message_bytes=100_000)

scalar = st.one_of(
    st.integers(min_value=-(2**63), max_value=2**63 - 1),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=50),
    st.booleans(),
    st.lists(st.text(max_size=5), max_size=3),
)
keys = st.sampled_from(
    [
        "gen_ai.request.model",
        "gen_ai.response.model",
        "gen_ai.usage.input_tokens",
        "gen_ai.usage.output_tokens",
        "gen_ai.usage.cache_read.input_tokens",
        "gen_ai.usage.reasoning.output_tokens",
        "gen_ai.provider.name",
        "llm.model_name",
        "llm.token_count.prompt",
        "llmpulse.retry.attempt",
        "llmpulse.time_to_first_token_ms",
        "gen_ai.server.time_to_first_token",
        "gen_ai.response.finish_reasons",
        "error.type",
        "other",
    ]
)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.dictionaries(keys, scalar, max_size=8), min_size=1, max_size=5))
def test_random_attributes_end_as_a_call_or_a_reason(spans: list[dict]) -> None:
    """Every LLM-looking span is stored or rejected with a reason; nothing raises."""
    res = PIPE.process([Message("t", 0, 0, otlp.request([otlp.span(a) for a in spans]))])
    stored = res.call_count + len(res.dead_letters) + res.non_llm_spans
    assert stored == len(spans)
    assert all(d.reason != "internal_error" for d in res.dead_letters)


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=2000))
def test_random_bytes_never_raise(payload: bytes) -> None:
    """Arbitrary bytes are decoded or dead-lettered; the message is always accounted."""
    res = PIPE.process([Message("t", 0, 7, payload)])
    assert len(res.batches) == 1
    assert all(d.reason != "internal_error" for d in res.dead_letters)
