"""One library's app, run by the compat venv's python in a process of its own.

``python app.py SPEC_JSON``: installs llmpulse (``llmpulse.collectors.install``)
with the given service name, Kafka bootstrap and topic, turns the library's
instrumentation on (with content capture ON, the worst case for privacy), makes
each call kind N times inside ``lp.transaction(...)`` against the canned providers,
shuts the tracer provider down (so every span is sent) and writes
``{"calls": [...], "spans": [...], "versions": {...}}`` to ``SPEC.out``: per call its
kind, transaction id, outcome and the traces of the spans it made; every span as
the app saw it before llmpulse's exporter filtered it (name, kind, ids, attributes,
events, status, resource).

Only the standard library, the SDKs, the instrumentation and llmpulse.collectors
are imported here: this file runs outside the project's own venv.
"""

from __future__ import annotations

import asyncio
import importlib.metadata
import json
import os
import sys
import traceback
from collections.abc import Callable
from typing import Any

PROMPT_SENTINEL = "SENTINEL-PROMPT-5ecre7"
QUESTION = f"What is the capital of France? {PROMPT_SENTINEL}"


def _instrument(name: str, spec: dict[str, Any]) -> None:
    """Turn instrumentation ``name`` on (after install(): they use the global provider)."""
    if name == "openai-v2":
        from opentelemetry.instrumentation.openai_v2 import OpenAIInstrumentor

        OpenAIInstrumentor().instrument()
    elif name == "openllmetry-openai":
        from opentelemetry.instrumentation.openai import OpenAIInstrumentor as LlmOpenAI

        LlmOpenAI().instrument()
    elif name == "openllmetry-anthropic":
        from opentelemetry.instrumentation.anthropic import AnthropicInstrumentor

        AnthropicInstrumentor().instrument()
    elif name == "openinference-openai":
        from openinference.instrumentation.openai import OpenAIInstrumentor as OiOpenAI

        OiOpenAI().instrument()
    elif name == "openinference-anthropic":
        from openinference.instrumentation.anthropic import AnthropicInstrumentor as OiAnthropic

        OiAnthropic().instrument()
    elif name == "openlit":
        import openlit

        pricing = os.path.join(os.path.dirname(spec["out"]), "openlit-pricing.json")
        with open(pricing, "w") as f:  # no network: OpenLIT fetches its prices otherwise
            json.dump({"chat": {}, "embeddings": {}, "images": {}, "audio": {}}, f)
        openlit.init(pricing_json=pricing, disable_metrics=True)
    elif name == "langchain-openinference":
        from openinference.instrumentation.langchain import LangChainInstrumentor

        LangChainInstrumentor().instrument()
    elif name == "langchain-openllmetry":
        from opentelemetry.instrumentation.langchain import LangchainInstrumentor

        LangchainInstrumentor().instrument()
    elif name == "anthropic-sdk":
        pass  # the anthropic SDK's own tracing: on by default once a provider is set
    else:
        raise SystemExit(f"unknown instrumentation {name}")


def _openai_calls(base: str) -> dict[str, Callable[[], Any]]:
    import openai

    client = openai.OpenAI(api_key="sk-compat", base_url=f"{base}/openai/v1", max_retries=0)
    failing = openai.OpenAI(api_key="sk-compat", base_url=f"{base}/error/v1", max_retries=0)
    mistral = openai.OpenAI(api_key="compat", base_url=f"{base}/mistral/v1", max_retries=0)
    messages: Any = [{"role": "user", "content": QUESTION}]

    def stream(include_usage: bool) -> Any:
        extra: dict[str, Any] = {"stream_options": {"include_usage": True}} if include_usage else {}
        chunks = client.chat.completions.create(
            model="gpt-4o-mini", messages=messages, stream=True, **extra
        )
        return "".join((c.choices[0].delta.content or "") for c in chunks if c.choices)

    def chat_async() -> Any:
        async def call() -> Any:
            async with openai.AsyncOpenAI(
                api_key="sk-compat", base_url=f"{base}/openai/v1", max_retries=0
            ) as aclient:
                return await aclient.chat.completions.create(model="gpt-4o-mini", messages=messages)

        return asyncio.run(call())

    return {
        "chat": lambda: client.chat.completions.create(model="gpt-4o-mini", messages=messages),
        "chat_async": chat_async,
        "chat_stream_usage": lambda: stream(True),
        "chat_stream_no_usage": lambda: stream(False),
        "responses": lambda: client.responses.create(model="o3-mini", input=QUESTION),
        "openai_error": lambda: failing.chat.completions.create(
            model="gpt-4o-mini", messages=messages, temperature=9.0
        ),
        "mistral_compat": lambda: mistral.chat.completions.create(
            model="mistral-large-latest", messages=messages
        ),
    }


def _anthropic_calls(base: str) -> dict[str, Callable[[], Any]]:
    import anthropic

    client = anthropic.Anthropic(api_key="compat", base_url=f"{base}/anthropic", max_retries=0)
    failing = anthropic.Anthropic(api_key="compat", base_url=f"{base}/error", max_retries=0)
    model = "claude-sonnet-4-20250514"
    system: Any = [
        {"type": "text", "text": "You answer briefly.", "cache_control": {"type": "ephemeral"}}
    ]
    messages: Any = [{"role": "user", "content": QUESTION}]

    def stream() -> Any:
        events = client.messages.create(
            model=model, max_tokens=256, system=system, messages=messages, stream=True
        )
        return [e.type for e in events]

    def messages_async() -> Any:
        async def call() -> Any:
            async with anthropic.AsyncAnthropic(
                api_key="compat", base_url=f"{base}/anthropic", max_retries=0
            ) as aclient:
                return await aclient.messages.create(
                    model=model, max_tokens=256, system=system, messages=messages
                )

        return asyncio.run(call())

    return {
        "messages": lambda: client.messages.create(
            model=model, max_tokens=256, system=system, messages=messages
        ),
        "messages_async": messages_async,
        "messages_stream": stream,
        "anthropic_error": lambda: failing.messages.create(
            model=model, max_tokens=256, messages=messages
        ),
    }


def _langchain_calls(base: str) -> dict[str, Callable[[], Any]]:
    from langchain_openai import ChatOpenAI

    llm = ChatOpenAI(model="gpt-4o-mini", api_key="sk-compat", base_url=f"{base}/openai/v1")
    streaming = ChatOpenAI(
        model="gpt-4o-mini", api_key="sk-compat", base_url=f"{base}/openai/v1", stream_usage=True
    )
    failing = ChatOpenAI(
        model="gpt-4o-mini", api_key="sk-compat", base_url=f"{base}/error/v1", max_retries=0
    )
    from langchain_core.output_parsers import StrOutputParser
    from langchain_core.prompts import ChatPromptTemplate
    from langchain_core.tools import tool

    @tool
    def weather(city: str) -> str:
        """The weather in ``city``."""
        return f"sunny in {city}"

    chain = ChatPromptTemplate.from_messages([("user", "{q}")]) | llm | StrOutputParser()

    def chain_and_tool() -> Any:
        answer = chain.invoke({"q": QUESTION})
        return weather.invoke({"city": answer[:5]})

    return {
        "lc_chat": lambda: llm.invoke(QUESTION),
        "lc_chain_tool": chain_and_tool,
        "lc_stream_usage": lambda: [c.content for c in streaming.stream(QUESTION)],
        "lc_error": lambda: failing.invoke(QUESTION),
    }


def _span_record(span: Any) -> dict[str, Any]:
    def plain(value: Any) -> Any:
        return list(value) if isinstance(value, tuple) else value

    parent = span.parent
    return {
        "name": span.name,
        "kind": str(span.kind).rsplit(".", 1)[-1],
        "scope": span.instrumentation_scope.name if span.instrumentation_scope else None,
        "trace_id": format(span.context.trace_id, "032x"),
        "span_id": format(span.context.span_id, "016x"),
        "parent_span_id": format(parent.span_id, "016x") if parent else None,
        "start_ns": span.start_time,
        "end_ns": span.end_time,
        "status": str(span.status.status_code).rsplit(".", 1)[-1],
        "status_description": span.status.description,
        "attributes": {k: plain(v) for k, v in (span.attributes or {}).items()},
        "events": [
            {
                "name": e.name,
                "time_ns": e.timestamp,
                "attributes": {k: plain(v) for k, v in (e.attributes or {}).items()},
            }
            for e in span.events
        ],
        "links": len(span.links),
        "resource": {k: plain(v) for k, v in span.resource.attributes.items()},
    }


def main(spec_path: str) -> int:
    with open(spec_path) as f:
        spec = json.load(f)
    library: str = spec["library"]
    os.environ.update(spec.get("env", {}))

    from opentelemetry import trace
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

    import llmpulse.collectors as lp

    exporter = lp.install(
        service_name=spec["service"], kafka=spec["bootstrap"], topic=spec["topic"]
    )
    provider = trace.get_tracer_provider()
    assert isinstance(provider, TracerProvider)
    memory = InMemorySpanExporter()
    provider.add_span_processor(SimpleSpanProcessor(memory))
    for name in spec["instrument"]:
        _instrument(name, spec)

    factories = {
        "openai": _openai_calls,
        "anthropic": _anthropic_calls,
        "langchain": _langchain_calls,
    }
    calls: list[dict[str, Any]] = []
    for group in spec["groups"]:
        kinds = factories[group](spec["base_url"])
        for kind in spec["kinds"][group]:
            for i in range(spec["repeat"]):
                tx_id = f"{spec['service']}:{kind}:{i}"
                seen = len(memory.get_finished_spans())
                outcome, detail = "ok", ""
                with lp.transaction(tx_id, team=spec["team"]):
                    try:
                        kinds[kind]()
                    except Exception as exc:
                        outcome, detail = "raised", f"{type(exc).__name__}: {exc}"[:300]
                new = memory.get_finished_spans()[seen:]
                calls.append(
                    {
                        "kind": kind,
                        "index": i,
                        "transaction_id": tx_id,
                        "outcome": outcome,
                        "detail": detail,
                        "traces": sorted({format(s.context.trace_id, "032x") for s in new}),
                        "spans": [format(s.context.span_id, "016x") for s in new],
                    }
                )
    provider.shutdown()
    versions = {}
    for name in spec["packages"]:
        try:
            versions[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            versions[name] = None
    out = {
        "library": library,
        "service": spec["service"],
        "calls": calls,
        "spans": [_span_record(s) for s in memory.get_finished_spans()],
        "versions": versions,
        "exporter_stats": {
            k: getattr(exporter.stats, k)
            for k in ("spans_exported", "spans_dropped", "messages_sent", "messages_failed")
        },
    }
    with open(spec["out"], "w") as f:
        json.dump(out, f, indent=1, sort_keys=True, default=str)
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main(sys.argv[1]))
    except Exception:
        traceback.print_exc()
        sys.exit(1)
