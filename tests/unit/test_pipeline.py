"""Decode → keep LLM spans → validate → normalise → price, on crafted OTLP input."""

from __future__ import annotations

import os
import time

import pytest

from llmpulse.schemas import REJECT_REASONS
from llmpulse.stream_jobs import Message, Pipeline
from tests import otlp

NOW = time.time_ns()


@pytest.fixture(scope="module", params=["native", "python"])
def pipe(request: pytest.FixtureRequest) -> Pipeline:
    """Every test runs on the compiled path and on the Python reference path."""
    native = request.param == "native"
    return Pipeline(max_message_bytes=200_000, clock_ns=lambda: NOW, native=native)


def run(pipe: Pipeline, *payloads: bytes):
    return pipe.process([Message("t", 0, i, p) for i, p in enumerate(payloads)])


CONVENTIONS = {
    "gen_ai": {
        "gen_ai.operation.name": "chat",
        "gen_ai.provider.name": "anthropic",
        "gen_ai.request.model": "claude-sonnet-4",
        "gen_ai.response.model": "claude-sonnet-4-20250514",
        "gen_ai.usage.input_tokens": 5000,
        "gen_ai.usage.output_tokens": 400,
        "gen_ai.usage.cache_read.input_tokens": 3000,
    },
    "gen_ai_deprecated": {
        "gen_ai.system": "anthropic",
        "gen_ai.request.model": "claude-sonnet-4",
        "gen_ai.response.model": "claude-sonnet-4-20250514",
        "gen_ai.usage.prompt_tokens": 5000,
        "gen_ai.usage.completion_tokens": 400,
        "gen_ai.usage.cache_read_input_tokens": 3000,
    },
    "openinference": {
        "openinference.span.kind": "LLM",
        "llm.provider": "anthropic",
        "llm.model_name": "claude-sonnet-4-20250514",
        "llm.token_count.prompt": 5000,
        "llm.token_count.completion": 400,
        "llm.token_count.prompt_details.cache_read": 3000,
    },
    "openlit": {
        "gen_ai.system": "anthropic",
        "gen_ai.application_name": "svc",
        "gen_ai.request.model": "claude-sonnet-4",
        "gen_ai.response.model": "claude-sonnet-4-20250514",
        "gen_ai.usage.input_tokens": 2000,  # Anthropic's own number: cache excluded
        "gen_ai.usage.output_tokens": 400,
        "gen_ai.usage.cache_read_input_tokens": 3000,
        "gen_ai.server.time_to_first_token": 0.25,
    },
}


@pytest.mark.parametrize("convention", sorted(CONVENTIONS))
def test_every_convention_yields_the_same_priced_record(pipe: Pipeline, convention: str) -> None:
    """The same call in four conventions: same provider, model, tokens and cost."""
    res = run(pipe, otlp.request([otlp.span(CONVENTIONS[convention])]))
    assert res.dead_letters == []
    (rec,) = res.records()
    assert rec.convention == convention
    assert (rec.provider, rec.response_model) == ("anthropic", "claude-sonnet-4-20250514")
    assert (rec.input_tokens, rec.output_tokens, rec.cache_read_tokens) == (5000, 400, 3000)
    # 2000*3.00 + 3000*0.30 + 400*15.00 per million
    assert rec.cost_pico == 12_900_000_000  # $0.0129
    assert rec.price_status == "ok"
    assert rec.price_version.endswith("claude-sonnet-4@2025-05-22")
    assert rec.cache_savings_pico == 3000 * (3_000_000 - 300_000)  # $0.0081 saved by caching
    if convention == "openlit":
        assert rec.ttft_ms == pytest.approx(250.0)


def test_context_attributes_fill_the_business_dimensions(pipe: Pipeline) -> None:
    """Transaction, team, feature, risk tier and retry come from llmpulse.* attributes."""
    attrs = otlp.gen_ai(
        **{
            "llmpulse.transaction.id": "order-1",
            "llmpulse.team": "payments",
            "llmpulse.feature": "refunds",
            "llmpulse.risk_tier": "high",
            "llmpulse.retry.attempt": 2,
            "error.type": "RateLimitError",
            "gen_ai.response.finish_reasons": ["length"],
        }
    )
    res = run(
        pipe,
        otlp.request(
            [otlp.span(attrs, error=True)], "checkout", **{"deployment.environment.name": "prod"}
        ),
    )
    (rec,) = res.records()
    assert (rec.transaction_id, rec.team, rec.feature, rec.risk_tier) == (
        "order-1",
        "payments",
        "refunds",
        "high",
    )
    assert (rec.service_name, rec.environment, rec.retry_attempt) == ("checkout", "prod", 2)
    assert (rec.status, rec.error_type, rec.finish_reasons) == (
        "error",
        "RateLimitError",
        ["length"],
    )


def test_transaction_defaults_to_the_trace(pipe: Pipeline) -> None:
    """Without a transaction context the trace id groups the calls."""
    tid = os.urandom(16)
    res = run(pipe, otlp.request([otlp.span(otlp.gen_ai(), trace_id=tid)]))
    assert res.records()[0].transaction_id == tid.hex()


def test_unknown_model_is_stored_flagged_not_silently_free(pipe: Pipeline) -> None:
    """A model missing from the catalogue is kept, marked unknown_model, and counted."""
    res = run(pipe, otlp.request([otlp.span(otlp.gen_ai("acme-llm-7b"))]))
    (rec,) = res.records()
    assert (rec.price_status, rec.price_version, rec.cost_pico) == ("unknown_model", "", 0)
    assert res.batches[0][8] == 1  # unpriced column of ingest_batches


def test_non_llm_spans_are_skipped_and_counted(pipe: Pipeline) -> None:
    """HTTP and DB spans are not LLM calls: counted, neither stored nor rejected."""
    spans = [otlp.span({"http.request.method": "GET"}), otlp.span(otlp.gen_ai())]
    res = run(pipe, otlp.request(spans))
    assert (len(res.records()), len(res.dead_letters), res.non_llm_spans, res.spans) == (1, 0, 1, 2)


def test_a_span_kind_that_is_not_a_string_is_not_an_llm_span(pipe: Pipeline) -> None:
    """An array-valued openinference.span.kind once raised (unhashable) and dead-lettered
    the whole message as internal_error; found by the compiled-vs-Python fuzz test."""
    spans = [otlp.span({"openinference.span.kind": ["LLM"]}), otlp.span(otlp.gen_ai())]
    res = run(pipe, otlp.request(spans))
    assert (len(res.records()), len(res.dead_letters), res.non_llm_spans) == (1, 0, 1)


BAD = [
    ("missing_model", {"gen_ai.operation.name": "chat", "gen_ai.usage.input_tokens": 1}),
    ("negative_tokens", otlp.gen_ai(inp=-5)),
    ("absurd_tokens", otlp.gen_ai(inp=50_000_000)),
    ("wrong_type", otlp.gen_ai(**{"gen_ai.usage.output_tokens": "lots"})),
    ("wrong_type", otlp.gen_ai(**{"gen_ai.usage.output_tokens": True})),
    ("inconsistent_tokens", otlp.gen_ai(out=10, **{"gen_ai.usage.reasoning.output_tokens": 50})),
    ("oversized_attribute", otlp.gen_ai("m" * 5000)),
]


@pytest.mark.parametrize(("reason", "attrs"), BAD)
def test_bad_spans_are_rejected_with_their_reason(pipe: Pipeline, reason: str, attrs: dict) -> None:
    """Each bad span becomes one dead letter; the good span beside it is kept."""
    res = run(pipe, otlp.request([otlp.span(attrs), otlp.span(otlp.gen_ai())]))
    assert [d.reason for d in res.dead_letters] == [reason]
    assert reason in REJECT_REASONS
    assert len(res.records()) == 1
    dead = res.dead_letters[0]
    assert (dead.stage, dead.span_index) == ("validate", 0)
    assert dead.detail and dead.payload


@pytest.mark.parametrize(
    ("reason", "offset_s", "duration_ms"),
    [
        ("future_timestamp", 3 * 3600, 100.0),
        ("ancient_timestamp", -500 * 86400, 100.0),
        ("negative_duration", -60, -5.0),
    ],
)
def test_clock_problems_are_rejected(
    pipe: Pipeline, reason: str, offset_s: int, duration_ms: float
) -> None:
    """Far-future, ancient and backwards spans are rejected, not stored at odd times."""
    s = otlp.span(otlp.gen_ai(), start_ns=NOW + offset_s * 10**9, duration_ms=duration_ms)
    res = run(pipe, otlp.request([s]))
    assert [d.reason for d in res.dead_letters] == [reason]


def test_small_clock_skew_is_accepted(pipe: Pipeline) -> None:
    """A span a few minutes ahead of the worker's clock is ordinary skew: kept."""
    res = run(pipe, otlp.request([otlp.span(otlp.gen_ai(), start_ns=NOW + 120 * 10**9)]))
    assert len(res.records()) == 1 and not res.dead_letters


def test_duplicate_span_in_one_message_is_rejected_once(pipe: Pipeline) -> None:
    """The second copy of a span id in the same message is a duplicate."""
    tid, sid = os.urandom(16), os.urandom(8)
    spans = [otlp.span(otlp.gen_ai(), trace_id=tid, span_id=sid) for _ in range(2)]
    res = run(pipe, otlp.request(spans))
    assert len(res.records()) == 1
    assert [d.reason for d in res.dead_letters] == ["duplicate_span"]


def test_malformed_and_oversized_messages_are_rejected_whole(pipe: Pipeline) -> None:
    """Garbage bytes and too-large messages: one dead letter each with the original bytes."""
    garbage = b"\xff\xff\xff\x0f not protobuf"
    big = otlp.request([otlp.span(otlp.gen_ai(**{"x": "y" * 300_000}))])
    good = otlp.request([otlp.span(otlp.gen_ai())])
    res = run(pipe, garbage, big, good)
    assert [(d.reason, d.stage, d.span_index) for d in res.dead_letters] == [
        ("malformed_protobuf", "decode", -1),
        ("oversized_message", "decode", -1),
    ]
    assert res.dead_letters[0].payload == garbage
    assert res.dead_letters[1].payload_size == len(big)
    assert len(res.records()) == 1
    assert [b[2] for b in res.batches] == [0, 1, 2]  # every message is accounted for


def test_dead_letters_never_carry_prompt_content(pipe: Pipeline) -> None:
    """A rejected span's stored attributes leave out message content."""
    attrs = otlp.gen_ai(inp=-1, **{"gen_ai.input.messages": "secret prompt"})
    res = run(pipe, otlp.request([otlp.span(attrs)]))
    assert b"secret prompt" not in res.dead_letters[0].payload


def test_batch_token_depends_on_source_offsets_and_content(pipe: Pipeline) -> None:
    """The same messages give the same dedup token; other offsets give another."""
    payload = otlp.request([otlp.span(otlp.gen_ai())])
    a = pipe.process([Message("t", 0, 5, payload), Message("t", 1, 9, payload)])
    b = pipe.process([Message("t", 1, 9, payload), Message("t", 0, 5, payload)])
    c = pipe.process([Message("t", 0, 6, payload)])
    assert a.token == b.token != c.token


def test_same_offsets_with_other_content_get_another_token(pipe: Pipeline) -> None:
    """A recreated topic reuses offsets: new calls there must not pass for a replay."""
    first = otlp.request([otlp.span(otlp.gen_ai())])
    second = otlp.request([otlp.span(otlp.gen_ai())])  # other ids, same length
    a = pipe.process([Message("t", 0, 0, first)])
    b = pipe.process([Message("t", 0, 0, second)])
    assert len(first) == len(second) and a.token != b.token


@pytest.mark.parametrize(
    ("reason", "attrs", "duration_ms"),
    [
        ("out_of_range", {"llmpulse.retry.attempt": 70_000}, 500.0),  # UInt16 column
        ("absurd_duration", {"gen_ai.response.time_to_first_chunk": 1e308}, 500.0),
        ("absurd_duration", {"gen_ai.response.time_to_first_chunk": float("inf")}, 500.0),
        ("absurd_duration", {"gen_ai.response.time_to_first_chunk": float("nan")}, 500.0),
        ("absurd_duration", {}, 1.6e13),  # ends in year 2533
        ("wrong_type", {"gen_ai.usage.output_tokens": "²"}, 500.0),
        ("wrong_type", {"gen_ai.usage.output_tokens": "--5"}, 500.0),
        ("wrong_type", {"gen_ai.usage.output_tokens": "٣"}, 500.0),  # int() takes it
    ],
)
def test_values_no_column_or_rollup_can_hold_are_rejected(
    pipe: Pipeline, reason: str, attrs: dict, duration_ms: float
) -> None:
    """Validation follows the storage types: nothing accepted can fail an insert later."""
    res = run(pipe, otlp.request([otlp.span(otlp.gen_ai(**attrs), duration_ms=duration_ms)]))
    assert res.call_count == 0
    assert [d.reason for d in res.dead_letters] == [reason]
    assert reason in REJECT_REASONS


def test_dead_letters_per_message_are_bounded_and_count_every_span(pipe: Pipeline) -> None:
    """600 id-less spans: missing_ids (not duplicate_span), 11 records counting 600."""
    spans = [otlp.span(otlp.gen_ai(), trace_id=b"\x01", span_id=b"\x01") for _ in range(600)]
    res = run(pipe, otlp.request(spans))
    assert res.call_count == 0
    assert {d.reason for d in res.dead_letters} == {"missing_ids"}
    assert len(res.dead_letters) == pipe.dead_letter_samples + 1
    assert sum(d.span_count for d in res.dead_letters) == 600
    assert res.batches[0].rejected == 600


def _deep_kvlist(depth: int) -> otlp.AnyValue:
    v = otlp.AnyValue(string_value="leaf")
    for _ in range(depth):
        outer = otlp.AnyValue()
        outer.kvlist_value.values.add(key="k").value.CopyFrom(v)
        v = outer
    return v


def _field(number: int, body: bytes) -> bytes:
    """A length-delimited protobuf field, encoded by hand."""
    out, n = bytearray([number << 3 | 2]), len(body)
    while n >= 0x80:
        out.append(n & 0x7F | 0x80)
        n >>= 7
    return bytes(out) + bytes([n]) + body


def test_one_undecodable_span_costs_only_that_span(pipe: Pipeline) -> None:
    """A kvlist 60 deep and an invalid UTF-8 byte: those two spans, not the message."""
    good = [otlp.span(otlp.gen_ai()).SerializeToString() for _ in range(3)]
    kv = _field(1, b"nested") + _field(2, _deep_kvlist(60).SerializeToString())
    deep = otlp.span(otlp.gen_ai()).SerializeToString() + _field(9, kv)  # 9: attributes
    utf8 = otlp.span(otlp.gen_ai(**{"llmpulse.feature": "XXXXXXXX"})).SerializeToString()
    utf8 = utf8.replace(b"XXXXXXXX", b"\xff\xfe\xfd\xfc\xff\xfe\xfd\xfc")
    resource = otlp.request([], service="svc")  # its resource, without spans
    spans = b"".join(_field(2, s) for s in (good[0], deep, good[1], utf8, good[2]))
    rs = otlp.ExportTraceServiceRequest.FromString(resource).resource_spans[0]
    payload = _field(1, _field(1, rs.resource.SerializeToString()) + _field(2, spans))
    res = run(pipe, payload)
    assert res.call_count == 3
    assert sorted((d.reason, d.span_index) for d in res.dead_letters) == [
        ("malformed_protobuf", 1),
        ("malformed_protobuf", 3),
    ]
    assert (res.batches[0].spans, res.batches[0].rejected) == (5, 2)


def test_a_broken_envelope_is_still_rejected_whole(pipe: Pipeline) -> None:
    """Truncated bytes: one message-level dead letter, as before."""
    payload = otlp.request([otlp.span(otlp.gen_ai())])[:-7]
    res = run(pipe, payload)
    assert [(d.reason, d.span_index) for d in res.dead_letters] == [("malformed_protobuf", -1)]


def test_spans_older_than_the_retention_are_rejected_not_stored_then_deleted() -> None:
    """A 100-day-old span with 90-day retention: ancient_timestamp (the TTL dropped it)."""
    from llmpulse.stream_jobs.settings import WorkerSettings
    from llmpulse.stream_jobs.worker import limits_for

    pipe = Pipeline(limits=limits_for(WorkerSettings(retention_days=90)), native=False)
    old = otlp.span(otlp.gen_ai(), start_ns=time.time_ns() - 100 * 86_400 * 10**9)
    res = pipe.process([Message("t", 0, 0, otlp.request([old]))])
    assert [d.reason for d in res.dead_letters] == ["ancient_timestamp"]
    assert limits_for(WorkerSettings(retention_days=900)).max_age_days == 400.0
