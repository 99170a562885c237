"""Strip prompt/completion content from spans, or scrub PII from it on opt-in."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any

from opentelemetry.sdk.trace import Event, ReadableSpan

from llmpulse.schemas.content import CONTENT_EVENTS, is_content_key

__all__ = ["redact_span", "scrub"]

_CARD = re.compile(r"\b(?:\d[ -]?){12,18}\d\b")
_PATTERNS: tuple[tuple[re.Pattern[str], str], ...] = (
    (re.compile(r"\b[\w.+-]+@[\w-]+(?:\.[\w-]+)+\b"), "[EMAIL]"),
    (re.compile(r"\b(?:sk|pk|rk)-[A-Za-z0-9_-]{16,}\b"), "[API_KEY]"),
    (re.compile(r"\b(?:AKIA|ASIA)[A-Z0-9]{16}\b"), "[API_KEY]"),
    (re.compile(r"\b(?:ghp|gho|ghs|github_pat|xox[abpr])_?[A-Za-z0-9_-]{20,}\b"), "[API_KEY]"),
    (re.compile(r"(?i)\bbearer\s+[A-Za-z0-9._~+/-]{16,}=*"), "Bearer [TOKEN]"),
    (re.compile(r"\beyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}\b"), "[TOKEN]"),
    (re.compile(r"(?<![\w])\+?\d{1,3}[ .-]?\(?\d{2,4}\)?[ .-]?\d{3,4}[ .-]?\d{3,4}\b"), "[PHONE]"),
)


def _luhn(digits: str) -> bool:
    total, alt = 0, False
    for ch in reversed(digits):
        d = ord(ch) - 48
        if alt:
            d = d * 2 - 9 if d > 4 else d * 2
        total += d
        alt = not alt
    return total % 10 == 0


def scrub(text: str) -> str:
    """Replace e-mail addresses, card numbers, API keys/tokens and phone numbers.

    >>> scrub("mail bob@example.com, card 4111 1111 1111 1111, key sk-abcdefghijklmnop1234")
    'mail [EMAIL], card [CARD], key [API_KEY]'
    """

    def card(m: re.Match[str]) -> str:
        digits = re.sub(r"\D", "", m.group())
        return "[CARD]" if 13 <= len(digits) <= 19 and _luhn(digits) else m.group()

    text = _CARD.sub(card, text)
    for pattern, repl in _PATTERNS:
        text = pattern.sub(repl, text)
    return text


def _scrub_value(value: Any) -> Any:
    if isinstance(value, str):
        return scrub(value)
    if isinstance(value, Sequence) and not isinstance(value, bytes | bytearray):
        return tuple(scrub(v) if isinstance(v, str) else v for v in value)
    return value


def _attrs(attrs: Mapping[str, Any] | None, capture: bool) -> tuple[dict[str, Any], bool]:
    out: dict[str, Any] = {}
    changed = False
    for key, value in (attrs or {}).items():
        if is_content_key(key):
            changed = True
            if capture:
                out[key] = _scrub_value(value)
            continue
        out[key] = value
    return out, changed


def redact_span(span: ReadableSpan, capture_content: bool = False) -> ReadableSpan:
    """The span without content (or with scrubbed content); the same object if clean."""
    attrs, changed = _attrs(span.attributes, capture_content)
    events: list[Event] = []
    for ev in span.events:
        if ev.name in CONTENT_EVENTS:
            changed = True
            if capture_content:
                scrubbed = {k: _scrub_value(v) for k, v in (ev.attributes or {}).items()}
                events.append(Event(ev.name, scrubbed, ev.timestamp))
            continue
        ev_attrs, ev_changed = _attrs(ev.attributes, capture_content)
        changed = changed or ev_changed
        events.append(Event(ev.name, ev_attrs, ev.timestamp) if ev_changed else ev)
    if not changed:
        return span
    return ReadableSpan(
        name=span.name,
        context=span.context,
        parent=span.parent,
        resource=span.resource,
        attributes=attrs,
        events=events,
        links=span.links,
        kind=span.kind,
        status=span.status,
        start_time=span.start_time,
        end_time=span.end_time,
        instrumentation_scope=span.instrumentation_scope,
    )
