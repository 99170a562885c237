"""Record LLM calls by hand, for apps without an instrumentation library.

The spans follow the current OTel gen_ai semantic conventions, so the worker
treats them exactly like those of the official instrumentations.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

from opentelemetry import trace
from opentelemetry.trace import Span, SpanKind, Status, StatusCode

__all__ = ["LLMCall", "llm_call", "record_llm_call"]

_TRACER = "llmpulse.collectors.manual"


class LLMCall:
    """Handle on an in-flight LLM call span: set usage and outcome as you learn them."""

    def __init__(self, span: Span) -> None:
        self.span = span

    def set_usage(
        self,
        input_tokens: int | None = None,
        output_tokens: int | None = None,
        cache_read_tokens: int | None = None,
        cache_creation_tokens: int | None = None,
        reasoning_tokens: int | None = None,
    ) -> None:
        """Token counts; cached ⊂ input and reasoning ⊂ output, as the spec says."""
        for key, value in (
            ("gen_ai.usage.input_tokens", input_tokens),
            ("gen_ai.usage.output_tokens", output_tokens),
            ("gen_ai.usage.cache_read.input_tokens", cache_read_tokens),
            ("gen_ai.usage.cache_creation.input_tokens", cache_creation_tokens),
            ("gen_ai.usage.reasoning.output_tokens", reasoning_tokens),
        ):
            if value is not None:
                self.span.set_attribute(key, int(value))

    def set_response(
        self,
        model: str | None = None,
        finish_reasons: Sequence[str] = (),
        response_id: str | None = None,
        time_to_first_token_ms: float | None = None,
    ) -> None:
        if model:
            self.span.set_attribute("gen_ai.response.model", model)
        if finish_reasons:
            self.span.set_attribute("gen_ai.response.finish_reasons", list(finish_reasons))
        if response_id:
            self.span.set_attribute("gen_ai.response.id", response_id)
        if time_to_first_token_ms is not None:
            self.span.set_attribute(
                "llmpulse.time_to_first_token_ms", float(time_to_first_token_ms)
            )

    def set_error(self, error_type: str, message: str = "") -> None:
        self.span.set_attribute("error.type", error_type)
        self.span.set_status(Status(StatusCode.ERROR, message or error_type))


@contextmanager
def llm_call(
    model: str,
    provider: str,
    operation: str = "chat",
    *,
    tracer_provider: trace.TracerProvider | None = None,
    start_time: int | None = None,
    attributes: dict[str, Any] | None = None,
) -> Iterator[LLMCall]:
    """A gen_ai client span around an LLM call; an exception marks it as an error."""
    tracer = trace.get_tracer(_TRACER, tracer_provider=tracer_provider)
    attrs = {
        "gen_ai.operation.name": operation,
        "gen_ai.provider.name": provider,
        "gen_ai.request.model": model,
        **(attributes or {}),
    }
    with tracer.start_as_current_span(
        f"{operation} {model}",
        kind=SpanKind.CLIENT,
        attributes=attrs,
        start_time=start_time,
        record_exception=False,
        set_status_on_exception=False,
    ) as span:
        call = LLMCall(span)
        try:
            yield call
        except Exception as exc:
            call.set_error(type(exc).__name__, str(exc)[:200])
            raise


def record_llm_call(
    model: str,
    provider: str,
    *,
    start_time_ns: int,
    end_time_ns: int,
    input_tokens: int = 0,
    output_tokens: int = 0,
    cache_read_tokens: int = 0,
    cache_creation_tokens: int = 0,
    reasoning_tokens: int = 0,
    response_model: str | None = None,
    operation: str = "chat",
    finish_reasons: Sequence[str] = (),
    error_type: str | None = None,
    time_to_first_token_ms: float | None = None,
    tracer_provider: trace.TracerProvider | None = None,
    attributes: dict[str, Any] | None = None,
) -> None:
    """Record a finished LLM call after the fact, with its own start and end times."""
    tracer = trace.get_tracer(_TRACER, tracer_provider=tracer_provider)
    attrs = {
        "gen_ai.operation.name": operation,
        "gen_ai.provider.name": provider,
        "gen_ai.request.model": model,
        **(attributes or {}),
    }
    span = tracer.start_span(
        f"{operation} {model}", kind=SpanKind.CLIENT, attributes=attrs, start_time=start_time_ns
    )
    call = LLMCall(span)
    call.set_usage(
        input_tokens, output_tokens, cache_read_tokens, cache_creation_tokens, reasoning_tokens
    )
    call.set_response(
        response_model or model, finish_reasons, time_to_first_token_ms=time_to_first_token_ms
    )
    if error_type:
        call.set_error(error_type)
    span.end(end_time=end_time_ns)
