"""Content stays in the app unless the user opts in; opted-in content is scrubbed."""

from __future__ import annotations

import pytest
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from llmpulse.collectors import redact_span, scrub

PROMPT = "Email bob@example.com or call +1 415 555 0134, card 4111-1111-1111-1111"


def make_span():
    mem = InMemorySpanExporter()
    tp = TracerProvider()
    tp.add_span_processor(SimpleSpanProcessor(mem))
    with tp.get_tracer("t").start_as_current_span("chat") as s:
        s.set_attribute("gen_ai.request.model", "gpt-4o")
        s.set_attribute("gen_ai.input.messages", PROMPT)
        s.set_attribute("gen_ai.prompt.0.content", PROMPT)
        s.set_attribute("llm.input_messages.0.message.content", PROMPT)
        s.set_attribute("input.value", PROMPT)
        s.add_event("gen_ai.user.message", {"content": PROMPT})
        s.add_event("retry", {"attempt": 1})
    return mem.get_finished_spans()[0]


def test_content_is_stripped_by_default() -> None:
    """Every content attribute and content event is gone; metadata stays."""
    out = redact_span(make_span())
    assert dict(out.attributes) == {"gen_ai.request.model": "gpt-4o"}
    assert [e.name for e in out.events] == ["retry"]


def test_opt_in_keeps_content_but_scrubs_pii() -> None:
    """With capture on, content is exported with PII replaced."""
    out = redact_span(make_span(), capture_content=True)
    text = out.attributes["gen_ai.input.messages"]
    assert "bob@example.com" not in text and "[EMAIL]" in text
    assert "[CARD]" in text and "[PHONE]" in text
    assert out.events[0].attributes["content"] == text


def test_clean_spans_are_not_copied() -> None:
    """A span without content is passed through as the same object."""
    tp = TracerProvider()
    mem = InMemorySpanExporter()
    tp.add_span_processor(SimpleSpanProcessor(mem))
    with tp.get_tracer("t").start_as_current_span("chat") as s:
        s.set_attribute("gen_ai.request.model", "gpt-4o")
    span = mem.get_finished_spans()[0]
    assert redact_span(span) is span


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("key sk-proj-abcdefghijklmnopqrstuv", "key [API_KEY]"),
        ("aws AKIAABCDEFGHIJKLMNOP", "aws [API_KEY]"),
        ("Authorization: Bearer abcdefghijklmnopqrstuvwxyz", "Authorization: Bearer [TOKEN]"),
        ("order 1234567812345678 shipped", "order 1234567812345678 shipped"),  # not Luhn
        ("card 4242 4242 4242 4242", "card [CARD]"),
        ("write to a.b+c@mail.example.org now", "write to [EMAIL] now"),
        ("no secrets here, 42 apples", "no secrets here, 42 apples"),
    ],
)
def test_scrub(text: str, expected: str) -> None:
    """Secrets and PII are replaced; ordinary numbers are not."""
    assert scrub(text) == expected
