"""What real instrumentation libraries emit, normalised to one call record (both paths).

Each case is the shape a library was seen to send (see README "Compatibility") and
that v0.1 stored wrongly or lost.
"""

from __future__ import annotations

import json
import time

import pytest

from llmpulse.stream_jobs import Message, Pipeline
from llmpulse.stream_jobs.pricing import PriceCatalogue
from tests import otlp

NOW = time.time_ns()
CATALOGUE = PriceCatalogue.load()


@pytest.fixture(scope="module", params=["native", "python"])
def pipe(request: pytest.FixtureRequest) -> Pipeline:
    return Pipeline(clock_ns=lambda: NOW, native=request.param == "native")


def run(pipe: Pipeline, payload: bytes):  # type: ignore[no-untyped-def]
    return pipe.process([Message("t", 0, 0, payload)])


def anthropic(**extra: object) -> dict[str, object]:
    return {
        "gen_ai.operation.name": "chat",
        "gen_ai.provider.name": "anthropic",
        "gen_ai.request.model": "claude-sonnet-4-20250514",
        "gen_ai.usage.output_tokens": 50,
        **extra,
    }


def test_the_renamed_cache_write_attribute_is_read(pipe: Pipeline) -> None:
    """gen_ai.usage.cache_write.input_tokens (the anthropic SDK's) was priced as input."""
    attrs = anthropic(
        **{"gen_ai.usage.input_tokens": 3000, "gen_ai.usage.cache_write.input_tokens": 2000}
    )
    (rec,) = run(pipe, otlp.request([otlp.span(attrs)])).records()
    assert (rec.input_tokens, rec.cache_creation_tokens) == (3000, 2000)
    price = CATALOGUE.lookup_day("claude-sonnet-4-20250514", NOW // (86_400 * 10**9))
    assert price is not None
    assert rec.cost_pico == price.cost_pico(3000, 50, 0, 2000, 0)


def test_input_that_excludes_the_cache_is_recovered_not_rejected(pipe: Pipeline) -> None:
    """OpenLIT forwards Anthropic's input_tokens (cache excluded): every such call was
    an inconsistent_tokens dead letter. The input is the sum, as the conventions say."""
    attrs = anthropic(
        **{
            "gen_ai.usage.input_tokens": 12,
            "gen_ai.usage.cache_read.input_tokens": 4000,
            "gen_ai.usage.cache_creation.input_tokens": 300,
        }
    )
    res = run(pipe, otlp.request([otlp.span(attrs)]))
    assert res.dead_letters == []
    (rec,) = res.records()
    assert (rec.input_tokens, rec.cache_read_tokens, rec.cache_creation_tokens) == (4312, 4000, 300)
    assert rec.input_basis == "plus_cache"


def test_openlit_anthropic_input_is_the_providers_own_number(pipe: Pipeline) -> None:
    """OpenLIT forwards Anthropic's input_tokens (cache excluded) even when it is above
    the cached tokens: 5000 uncached + 3000 read were stored as 5000."""
    attrs = anthropic(
        **{
            "gen_ai.usage.input_tokens": 5000,
            "gen_ai.usage.cache_read.input_tokens": 3000,
            "gen_ai.server.time_to_first_token": 0.2,  # an OpenLIT key
        }
    )
    (rec,) = run(pipe, otlp.request([otlp.span(attrs)])).records()
    assert (rec.convention, rec.input_tokens, rec.input_basis) == ("openlit", 8000, "plus_cache")
    # The same numbers from the anthropic SDK's own span (input already includes cache).
    sdk = anthropic(
        **{"gen_ai.usage.input_tokens": 5000, "gen_ai.usage.cache_read.input_tokens": 3000}
    )
    (rec,) = run(pipe, otlp.request([otlp.span(sdk)])).records()
    assert (rec.input_tokens, rec.input_basis) == (5000, "reported")


def test_a_failed_openinference_call_takes_its_model_from_the_invocation_parameters(
    pipe: Pipeline,
) -> None:
    """OpenInference names a failed call's model only in llm.invocation_parameters:
    every failed call was a missing_model dead letter, error rates undercounted."""
    attrs = {
        "openinference.span.kind": "LLM",
        "llm.provider": "openai",
        "llm.system": "openai",
        "llm.invocation_parameters": json.dumps({"model": "gpt-4o-mini", "temperature": 0}),
    }
    res = run(pipe, otlp.request([otlp.span(attrs, error=True)]))
    assert res.dead_letters == []
    (rec,) = res.records()
    assert (rec.request_model, rec.status) == ("gpt-4o-mini", "error")
    assert rec.convention == "openinference"


@pytest.mark.parametrize("params", ["not json", "[1, 2]", '{"model": 5}', "[" * 100_000])
def test_invocation_parameters_that_name_no_model_leave_it_missing(
    pipe: Pipeline, params: str
) -> None:
    attrs = {"openinference.span.kind": "LLM", "llm.invocation_parameters": params}
    res = run(pipe, otlp.request([otlp.span(attrs, error=True)]))
    assert [d.reason for d in res.dead_letters] == ["missing_model"]


def test_the_resource_names_the_service_not_a_span_attribute(pipe: Pipeline) -> None:
    """OpenLIT sets service.name = "default" on each span: it replaced the app's."""
    attrs = otlp.gen_ai(
        **{"service.name": "default", "deployment.environment": "default", "llmpulse.team": "t"}
    )
    payload = otlp.request(
        [otlp.span(attrs)], service="checkout", **{"deployment.environment": "prod"}
    )
    (rec,) = run(pipe, payload).records()
    assert (rec.service_name, rec.environment, rec.team) == ("checkout", "prod", "t")
    # With nothing on the resource, the span's own value is still used.
    alone = otlp.request([otlp.span(otlp.gen_ai(**{"gen_ai.application_name": "app"}))], service="")
    (rec,) = run(pipe, alone).records()
    assert rec.service_name == "app"


@pytest.mark.parametrize(
    "attrs",
    [
        {"gen_ai.operation.name": "execute_tool", "gen_ai.tool.name": "search"},
        {"gen_ai.operation.name": "invoke_agent", "gen_ai.agent.name": "planner"},
        {"gen_ai.operation.name": "create_agent", "gen_ai.provider.name": "openai"},
        {"gen_ai.operation.name": "Execute_Tool", "gen_ai.system": "openai"},
        {"openinference.span.kind": "TOOL", "tool.name": "search"},
        {"openinference.span.kind": "AGENT", "llm.model_name": "gpt-4o"},
        {"openinference.span.kind": "CHAIN", "llm.model_name": "gpt-4o"},
        {"openinference.span.kind": "RETRIEVER"},
    ],
)
def test_tool_agent_and_workflow_spans_are_counted_not_dead_lettered(
    pipe: Pipeline, attrs: dict[str, object]
) -> None:
    res = run(pipe, otlp.request([otlp.span(attrs), otlp.span(otlp.gen_ai())]))
    assert res.dead_letters == []
    assert (len(res.records()), res.non_llm_spans) == (1, 1)


def test_an_openinference_llm_span_is_still_a_call(pipe: Pipeline) -> None:
    attrs = {"openinference.span.kind": "LLM", "llm.model_name": "gpt-4o-mini"}
    attrs |= {"llm.token_count.prompt": 10, "llm.token_count.completion": 2}
    (rec,) = run(pipe, otlp.request([otlp.span(attrs)])).records()
    assert (rec.input_tokens, rec.output_tokens, rec.price_status) == (10, 2, "ok")


def test_a_call_that_reports_no_usage_is_flagged_not_free(pipe: Pipeline) -> None:
    """A call streamed without include_usage was stored as 0 tokens, $0, price ok."""
    attrs = {"gen_ai.operation.name": "chat", "gen_ai.request.model": "gpt-4o-mini"}
    res = run(pipe, otlp.request([otlp.span(attrs), otlp.span(otlp.gen_ai())]))
    no_usage, priced = sorted(res.records(), key=lambda r: r.cost_pico)
    assert (no_usage.price_status, no_usage.cost_pico) == ("no_usage", 0)
    assert priced.price_status == "ok" and priced.cost_pico > 0
    # A failed call that reports nothing cost nothing: an error, not "no usage".
    (failed,) = run(pipe, otlp.request([otlp.span(attrs, error=True)])).records()
    assert (failed.price_status, failed.status) == ("ok", "error")
    # Zero reported is usage reported.
    zero = otlp.gen_ai(inp=0, out=0)
    (rec,) = run(pipe, otlp.request([otlp.span(zero)])).records()
    assert rec.price_status == "ok"


def otlp_json(trace_id: str = "5b8efff798038103d269b633813fc60c") -> bytes:
    """An OTLP/JSON request as the Collector's `encoding: otlp_json` writes it (hex ids,
    64-bit integers as strings, camelCase names)."""
    start = NOW - 60 * 10**9
    attr = [
        {"key": "gen_ai.operation.name", "value": {"stringValue": "chat"}},
        {"key": "gen_ai.request.model", "value": {"stringValue": "gpt-4o-mini"}},
        {"key": "gen_ai.usage.input_tokens", "value": {"intValue": "1200"}},
        {"key": "gen_ai.usage.output_tokens", "value": {"intValue": 80}},
    ]
    span = {
        "traceId": trace_id,
        "spanId": "eee19b7ec3c1b174",
        "parentSpanId": "",
        "name": "chat gpt-4o-mini",
        "kind": 3,
        "startTimeUnixNano": str(start),
        "endTimeUnixNano": str(start + 700 * 10**6),
        "attributes": attr,
        "status": {"code": 2},
    }
    resource = {"attributes": [{"key": "service.name", "value": {"stringValue": "billing"}}]}
    doc = {"resourceSpans": [{"resource": resource, "scopeSpans": [{"spans": [span]}]}]}
    return json.dumps(doc).encode()


def test_otlp_json_from_the_collector_is_read(pipe: Pipeline) -> None:
    """With the Collector's `encoding: otlp_json` every message was dead-lettered."""
    res = run(pipe, otlp_json())
    assert res.dead_letters == []
    (rec,) = res.records()
    assert (rec.trace_id, rec.span_id) == ("5b8efff798038103d269b633813fc60c", "eee19b7ec3c1b174")
    assert (rec.service_name, rec.input_tokens, rec.output_tokens) == ("billing", 1200, 80)
    assert rec.status == "error" and abs(rec.latency_ms - 700) < 1e-6
    bad_id = run(pipe, otlp_json("not-hex"))
    assert [d.reason for d in bad_id.dead_letters] == ["missing_ids"]


@pytest.mark.parametrize(
    "value",
    [
        b'{"resourceSpans": [{"scopeSpans": [{"spans": [{"name": 5}]}]}]}',
        b'{"traces": []}',
        b'[{"traceId": "5b8efff798038103", "name": "chat"}]',  # Zipkin v2 JSON
        b"{not json",
        b" " + b"{" * 5000,
    ],
)
def test_json_that_is_not_otlp_json_names_the_setting(pipe: Pipeline, value: bytes) -> None:
    res = run(pipe, value)
    assert [d.reason for d in res.dead_letters] == ["wrong_encoding"]
    assert "`encoding`" in res.dead_letters[0].detail


def test_a_message_of_no_spans_but_fields_otlp_does_not_define_is_a_dead_letter(
    pipe: Pipeline,
) -> None:
    """A wrong `encoding` (jaeger_proto): ~1 % of messages parsed as empty requests and
    vanished without a dead letter."""
    res = run(pipe, b"\x10\x05\x1a\x03abc")
    assert [d.reason for d in res.dead_letters] == ["wrong_encoding"]
    assert "`encoding`" in res.dead_letters[0].detail
    assert res.batches[0].rejected == 1
    assert run(pipe, b"").dead_letters == []  # an empty request is just empty
    garbage = run(pipe, b"\xff\xfe\x00garbage")
    assert [d.reason for d in garbage.dead_letters] == ["malformed_protobuf"]
    assert "`encoding`" in garbage.dead_letters[0].detail


def test_openinference_request_model_is_the_requested_one(pipe: Pipeline) -> None:
    """llm.model_name is the model that answered (dated); the request model was stored
    as it. The requested one is llm.request.model_name or the invocation parameters."""
    attrs = {
        "openinference.span.kind": "LLM",
        "llm.model_name": "gpt-4o-mini-2024-07-18",
        "llm.invocation_parameters": '{"model": "gpt-4o-mini", "stream": false}',
        "llm.token_count.prompt": 1500,
        "llm.token_count.completion": 40,
    }
    (rec,) = run(pipe, otlp.request([otlp.span(attrs)])).records()
    assert (rec.request_model, rec.response_model) == ("gpt-4o-mini", "gpt-4o-mini-2024-07-18")
    named = {
        "openinference.span.kind": "LLM",
        "llm.request.model_name": "claude-sonnet-4-20250514",
        "llm.response.model_name": "claude-sonnet-4-20250514-x",
        "llm.model_name": "claude-sonnet-4-20250514-x",
        "llm.token_count.prompt": 10,
    }
    (rec,) = run(pipe, otlp.request([otlp.span(named)])).records()
    assert (rec.request_model, rec.response_model) == (
        "claude-sonnet-4-20250514",
        "claude-sonnet-4-20250514-x",
    )


def test_a_first_token_event_gives_the_time_to_first_token(pipe: Pipeline) -> None:
    """OpenInference marks the first token with a span event, not an attribute."""
    span = otlp.span(otlp.gen_ai(), start_ns=NOW - 60 * 10**9, duration_ms=900.0)
    event = span.events.add()
    event.name, event.time_unix_nano = (
        "First Token Stream Event",
        span.start_time_unix_nano + 250 * 10**6,
    )
    (rec,) = run(pipe, otlp.request([span])).records()
    assert rec.ttft_ms == pytest.approx(250.0)
    late = otlp.span(otlp.gen_ai(), start_ns=NOW - 60 * 10**9, duration_ms=100.0)
    bad = late.events.add()  # after the span ended: not a first token of it
    bad.name, bad.time_unix_nano = "First Token Stream Event", late.end_time_unix_nano + 1
    (rec,) = run(pipe, otlp.request([late])).records()
    assert rec.ttft_ms is None


def test_langchain_task_spans_are_not_calls(pipe: Pipeline) -> None:
    """OpenLLMetry's LangChain `execute_task` spans were missing_model dead letters."""
    attrs = {
        "gen_ai.operation.name": "execute_task",
        "gen_ai.provider.name": "langchain",
        "traceloop.span.kind": "task",
        "gen_ai.task.input": "SENTINEL prompt",
    }
    res = run(pipe, otlp.request([otlp.span(attrs)]))
    assert res.dead_letters == [] and res.non_llm_spans == 1


def test_a_dead_letter_keeps_only_the_attributes_llmpulse_reads(pipe: Pipeline) -> None:
    """Content under keys nobody listed (gen_ai.task.input, a vendor's prompt key, the
    invocation parameters' messages) reached the dead letters."""
    attrs = {
        "gen_ai.operation.name": "chat",
        "gen_ai.task.input": "SENTINEL-1 my prompt",
        "vendor.prompt": "SENTINEL-2 my prompt",
        "llm.invocation_parameters": '{"messages": ["SENTINEL-3"]}',
        "llmpulse.team": "t",
        "gen_ai.usage.input_tokens": -1,
    }
    res = run(pipe, otlp.request([otlp.span(attrs)]))
    (dead,) = res.dead_letters
    doc = json.loads(dead.payload)
    assert b"SENTINEL" not in dead.payload
    assert doc["attributes"] == {
        "gen_ai.operation.name": "chat",
        "llmpulse.team": "t",
        "gen_ai.usage.input_tokens": -1,
    }
    assert "vendor.prompt" in doc["other_attribute_keys"]


def test_tool_and_agent_spans_are_kept_for_the_transaction_view(pipe: Pipeline) -> None:
    """Tool, agent and workflow spans are counted as non-LLM and kept with their
    transaction, name, duration and status; an HTTP span is only counted."""
    tx = {"llmpulse.transaction.id": "order-7"}
    tool = otlp.span(
        {"gen_ai.operation.name": "execute_tool", "gen_ai.tool.name": "search", **tx},
        duration_ms=120.0,
        error=True,
    )
    agent = otlp.span(
        {"openinference.span.kind": "AGENT", "agent.name": "planner", **tx}, duration_ms=900.0
    )
    chain = otlp.span({"openinference.span.kind": "CHAIN", **tx}, name="RunnableSequence")
    http = otlp.span({"http.request.method": "POST"})
    res = run(pipe, otlp.request([tool, agent, chain, http, otlp.span(otlp.gen_ai(**tx))]))
    assert res.dead_letters == [] and res.non_llm_spans == 4 and len(res.records()) == 1
    got = sorted((a.operation, a.name, a.status, a.transaction_id) for a in res.agent_spans)
    assert got == [
        ("agent", "planner", "ok", "order-7"),
        ("chain", "RunnableSequence", "ok", "order-7"),
        ("execute_tool", "search", "error", "order-7"),
    ]
    by_name = {a.name: a for a in res.agent_spans}
    assert by_name["search"].duration_ms == pytest.approx(120.0)
    assert by_name["planner"].service_name == "svc"
    assert res.batches[0].non_llm_spans == 4
