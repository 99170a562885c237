"""The compiled path against the Python reference path: same rows, same dead letters."""

from __future__ import annotations

import random
import time
from typing import Any

from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

from llmpulse.stream_jobs import Message, Pipeline
from llmpulse.stream_jobs.bench.payloads import messages
from llmpulse.stream_jobs.fastpath import native_available, read_block
from tests import otlp
from tests.unit.test_fuzz import keys, scalar

NOW = time.time_ns()
NATIVE = Pipeline(max_message_bytes=100_000, clock_ns=lambda: NOW, native=True)
PYTHON = Pipeline(max_message_bytes=100_000, clock_ns=lambda: NOW, native=False)


def both(*payloads: bytes) -> tuple[Any, Any]:
    msgs = [Message("t", 3, i, p) for i, p in enumerate(payloads)]
    return NATIVE.process(msgs), PYTHON.process(msgs)


def _comparable(records: list) -> list:
    """Records with NaN (a ttft of NaN is stored as such) made equal to itself."""
    return sorted(tuple("NaN" if v != v else v for v in r) for r in records)


def same(native: Any, python: Any) -> None:
    """Identical calls, dead letters (but their time) and per-message counts."""
    assert _comparable(native.records()) == _comparable(python.records())
    assert [d._replace(rejected_at=None) for d in native.dead_letters] == [
        d._replace(rejected_at=None) for d in python.dead_letters
    ]
    assert [b[:-1] for b in native.batches] == [b[:-1] for b in python.batches]
    assert (native.spans, native.non_llm_spans) == (python.spans, python.non_llm_spans)


def test_the_extension_is_built() -> None:
    """The project's install builds it (cargo); without it the worker is ~7x slower."""
    assert native_available()
    assert NATIVE.native is not None and PYTHON.native is None


def test_bench_traffic_takes_the_compiled_path_whole() -> None:
    """Realistic spans: every row from the block, none left to Python, all equal."""
    payloads = list(messages(3_000, series=300, per_message=128, seed=5))
    native, python = both(*payloads)
    assert native.native_rows == 3_000 and native.calls == []
    assert python.native_rows == 0 and len(python.calls) == 3_000
    same(native, python)


more_keys = st.sampled_from(
    [
        "openinference.span.kind",
        "gen_ai.operation.name",
        "gen_ai.system",
        "gen_ai.usage.prompt_tokens",
        "gen_ai.application_name",
        "llm.provider",
        "llmpulse.transaction.id",
        "service.name",
        "gen_ai.response.model",
    ]
)
values = st.one_of(
    scalar,
    st.sampled_from(["LLM", "EMBEDDING", "CHAIN", "Chat", "embedding", "İ", "ß"]),
    st.text(min_size=250, max_size=260),  # around the 256-character limit
)
ids = st.one_of(
    st.sampled_from([b"\x01" * 16 + b"\x02" * 8, b"\x03" * 16 + b"\x04" * 8]),  # duplicates
    st.tuples(st.binary(max_size=18), st.binary(max_size=9)).map(lambda t: t[0] + t[1]),
    st.just(b""),
)
when = st.sampled_from([-400 * 86400, -3, 0, 3599, 3700, None])


@st.composite
def spans(draw: Any) -> Any:
    attrs = draw(st.dictionaries(st.one_of(keys, more_keys), values, max_size=8))
    if draw(st.booleans()):
        attrs.setdefault("gen_ai.request.model", draw(st.sampled_from(["gpt-4o", "zz-unknown"])))
    ident = draw(ids)
    offset_s = draw(when)
    start = None if offset_s is None else NOW + offset_s * 10**9
    s = otlp.span(
        attrs,
        trace_id=ident[:16] or None,
        span_id=ident[16:] or None,
        start_ns=start,
        duration_ms=draw(st.sampled_from([0.0, 12.5, 1800.0, -5.0])),
        error=draw(st.booleans()),
    )
    if len(ident) not in (0, 24):  # odd id lengths, as a broken SDK might send
        s.trace_id, s.span_id = ident[: len(ident) // 2], ident[len(ident) // 2 :]
    return s


resources = st.dictionaries(
    st.sampled_from(
        ["deployment.environment.name", "llmpulse.team", "gen_ai.system", "openinference.span.kind"]
    ),
    values,
    max_size=2,
)


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(spans(), min_size=1, max_size=6), resources)
def test_random_spans_give_the_same_result_on_both_paths(span_list: list, resource: dict) -> None:
    """Types, limits, ids, duplicates, clock skew, errors: both paths agree on every span."""
    same(*both(otlp.request(span_list, **resource)))


def _mutations(payload: bytes, rng: random.Random) -> list[bytes]:
    out = [payload[: rng.randrange(len(payload))] for _ in range(3)]
    for _ in range(6):
        b = bytearray(payload)
        for _ in range(rng.randrange(1, 4)):
            b[rng.randrange(len(b))] = rng.randrange(256)
        out.append(bytes(b))
    return out


@settings(max_examples=150, deadline=None)
@given(st.integers(0, 2**32))
@example(seed=3645047)  # a KeyValue key with bad UTF-8, then overwritten by a second key
def test_damaged_messages_give_the_same_result_on_both_paths(seed: int) -> None:
    """Truncated and bit-flipped requests: the same rows, or the same malformed reason."""
    rng = random.Random(seed)
    payload = next(messages(4, series=4, per_message=4, seed=seed, end_ns=NOW))
    for damaged in _mutations(payload, rng):
        same(*both(damaged))


def test_a_message_the_extension_declines_goes_whole_to_python() -> None:
    """A resource given twice (protobuf merges it) is left to the Python path, same rows."""
    req = ExportTraceServiceRequest()
    req.ParseFromString(otlp.request([otlp.span(otlp.gen_ai())], service="a"))
    rs = req.resource_spans[0].SerializeToString()
    extra_resource = req.resource_spans[0].resource.SerializeToString()
    tag = bytes([0x0A])  # field 1 (resource), length-delimited
    doubled = rs + tag + bytes([len(extra_resource)]) + extra_resource
    payload = bytes([0x0A]) + _varint(len(doubled)) + doubled
    assert isinstance(NATIVE.native.feed(payload, 0, 0, 1e30, 0.0), str)  # type: ignore[union-attr]
    native, python = both(payload)
    assert native.native_rows == 0 and len(native.calls) == 1
    same(native, python)


def _varint(n: int) -> bytes:
    out = bytearray()
    while n >= 0x80:
        out.append((n & 0x7F) | 0x80)
        n >>= 7
    out.append(n)
    return bytes(out)


def test_the_block_holds_callrecord_columns_in_order() -> None:
    """The block reads back as CallRecords (read_block checks names and order)."""
    native, _ = both(otlp.request([otlp.span(otlp.gen_ai()) for _ in range(3)]))
    rows = read_block(native.native_block)
    assert len(rows) == 3 and {r.span_id for r in rows} == {r.span_id for r in native.records()}
    assert all(len(r.trace_id) == 32 and r.transaction_id for r in rows)
