"""Canned provider servers on loopback, and what each call kind must be stored as.

One ``http.server`` answers as OpenAI (chat completions, plain and streamed with
and without ``stream_options.include_usage``; the responses API), as Anthropic
(messages, plain and streamed SSE, with prompt-caching usage), as an
OpenAI-compatible Mistral endpoint, and with provider errors under ``/error/``.
Bodies follow the providers' published schemas (openai-python's
``ChatCompletion``/``ChatCompletionChunk``/``Response`` and anthropic-sdk-python's
``Message``/``RawMessageStreamEvent`` types). Completions carry a sentinel string,
as prompts do, so a test can tell that no content reached storage.
"""

from __future__ import annotations

import http.server
import itertools
import json
import threading
import time
from dataclasses import dataclass
from typing import Any

__all__ = ["COMPLETION_SENTINEL", "KINDS", "Expected", "Handler", "calls_of"]

COMPLETION_SENTINEL = "SENTINEL-COMPLETION-c0ffee"
#: Seconds between streamed chunks, so time to first token is measurable.
CHUNK_GAP_S = 0.01
CREATED = 1_764_000_000
_ids = itertools.count(1)
_ids_lock = threading.Lock()


def _id(prefix: str) -> str:
    """A fresh id, as providers give each response its own (instrumentations key on it)."""
    with _ids_lock:
        return f"{prefix}compat{next(_ids):08d}"


@dataclass(frozen=True)
class Expected:
    """What llmpulse must store for one call: tokens as the provider reported them,
    input INCLUDING cache reads and writes (the OTel gen_ai conventions); ``None``
    tokens where the provider reported no usage."""

    kind: str
    provider: str
    model: str
    input_tokens: int | None = None
    output_tokens: int | None = None
    cache_read_tokens: int = 0
    cache_creation_tokens: int = 0
    reasoning_tokens: int = 0
    error: bool = False
    streamed: bool = False


#: Call kinds by group (the ``kinds`` of versions.toml): what the app does, and
#: what the canned server answers.
KINDS: dict[str, list[Expected]] = {
    "openai": [
        Expected("chat", "openai", "gpt-4o-mini", 1500, 40, cache_read_tokens=1024),
        Expected("chat_async", "openai", "gpt-4o-mini", 1500, 40, cache_read_tokens=1024),
        Expected("chat_stream_usage", "openai", "gpt-4o-mini", 1200, 30, 256, streamed=True),
        Expected("chat_stream_no_usage", "openai", "gpt-4o-mini", streamed=True),
        Expected("responses", "openai", "o3-mini", 900, 120, 512, reasoning_tokens=64),
        Expected("openai_error", "openai", "gpt-4o-mini", error=True),
        Expected("mistral_compat", "mistral", "mistral-large-latest", 700, 25),
    ],
    "anthropic": [
        Expected(
            "messages",
            "anthropic",
            "claude-sonnet-4-20250514",
            20 + 3000 + 1000,
            50,
            cache_read_tokens=3000,
            cache_creation_tokens=1000,
        ),
        Expected(
            "messages_async",
            "anthropic",
            "claude-sonnet-4-20250514",
            20 + 3000 + 1000,
            50,
            cache_read_tokens=3000,
            cache_creation_tokens=1000,
        ),
        Expected(
            "messages_stream",
            "anthropic",
            "claude-sonnet-4-20250514",
            25 + 2000,
            60,
            cache_read_tokens=2000,
            streamed=True,
        ),
        Expected("anthropic_error", "anthropic", "claude-sonnet-4-20250514", error=True),
    ],
    "langchain": [
        Expected("lc_chat", "openai", "gpt-4o-mini", 1500, 40, cache_read_tokens=1024),
        # prompt | llm | parser, then a tool: chain and tool spans are not LLM calls.
        Expected("lc_chain_tool", "openai", "gpt-4o-mini", 1500, 40, cache_read_tokens=1024),
        Expected("lc_stream_usage", "openai", "gpt-4o-mini", 1200, 30, 256, streamed=True),
        Expected("lc_error", "openai", "gpt-4o-mini", error=True),
    ],
}


def calls_of(groups: tuple[str, ...] | list[str]) -> list[Expected]:
    """Every call kind of ``groups``, in order."""
    return [kind for group in groups for kind in KINDS[group]]


def _openai_usage(prompt: int, completion: int, cached: int, reasoning: int = 0) -> dict[str, Any]:
    return {
        "prompt_tokens": prompt,
        "completion_tokens": completion,
        "total_tokens": prompt + completion,
        "prompt_tokens_details": {"cached_tokens": cached, "audio_tokens": 0},
        "completion_tokens_details": {
            "reasoning_tokens": reasoning,
            "audio_tokens": 0,
            "accepted_prediction_tokens": 0,
            "rejected_prediction_tokens": 0,
        },
    }


def chat_completion(model: str, prompt: int, completion: int, cached: int) -> dict[str, Any]:
    return {
        "id": _id("chatcmpl-"),
        "object": "chat.completion",
        "created": CREATED,
        "model": model,
        "choices": [
            {
                "index": 0,
                "message": {
                    "role": "assistant",
                    "content": f"Paris. {COMPLETION_SENTINEL}",
                    "refusal": None,
                    "annotations": [],
                },
                "logprobs": None,
                "finish_reason": "stop",
            }
        ],
        "usage": _openai_usage(prompt, completion, cached),
        "service_tier": "default",
        "system_fingerprint": "fp_compat",
    }


def chat_chunks(model: str, usage: dict[str, Any] | None) -> list[dict[str, Any]]:
    """The chunks of a streamed chat completion; with ``usage``, every chunk has
    ``"usage": null`` and a last one with no choices carries it (include_usage)."""
    base = {
        "id": _id("chatcmpl-"),
        "object": "chat.completion.chunk",
        "created": CREATED,
        "model": model,
        "service_tier": "default",
        "system_fingerprint": "fp_compat",
    }
    deltas: list[tuple[dict[str, Any], str | None]] = [
        ({"role": "assistant", "content": "", "refusal": None}, None),
        ({"content": "Paris. "}, None),
        ({"content": COMPLETION_SENTINEL}, None),
        ({}, "stop"),
    ]
    chunks = []
    for delta, finish in deltas:
        chunk = {
            **base,
            "choices": [{"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish}],
        }
        if usage is not None:
            chunk["usage"] = None
        chunks.append(chunk)
    if usage is not None:
        chunks.append({**base, "choices": [], "usage": usage})
    return chunks


def response_object(model: str, exp: Expected) -> dict[str, Any]:
    assert exp.input_tokens is not None and exp.output_tokens is not None
    return {
        "id": _id("resp_"),
        "object": "response",
        "created_at": CREATED,
        "status": "completed",
        "background": False,
        "error": None,
        "incomplete_details": None,
        "instructions": None,
        "max_output_tokens": None,
        "model": model,
        "output": [
            {"id": _id("rs_"), "type": "reasoning", "summary": []},
            {
                "id": _id("msg_"),
                "type": "message",
                "status": "completed",
                "role": "assistant",
                "content": [
                    {
                        "type": "output_text",
                        "text": f"Paris. {COMPLETION_SENTINEL}",
                        "annotations": [],
                        "logprobs": [],
                    }
                ],
            },
        ],
        "parallel_tool_calls": True,
        "previous_response_id": None,
        "reasoning": {"effort": "medium", "summary": None},
        "service_tier": "default",
        "store": True,
        "temperature": 1.0,
        "text": {"format": {"type": "text"}, "verbosity": "medium"},
        "tool_choice": "auto",
        "tools": [],
        "top_p": 1.0,
        "truncation": "disabled",
        "usage": {
            "input_tokens": exp.input_tokens,
            "input_tokens_details": {"cached_tokens": exp.cache_read_tokens},
            "output_tokens": exp.output_tokens,
            "output_tokens_details": {"reasoning_tokens": exp.reasoning_tokens},
            "total_tokens": exp.input_tokens + exp.output_tokens,
        },
        "user": None,
        "metadata": {},
    }


def anthropic_usage(exp: Expected, output: int) -> dict[str, Any]:
    """Anthropic's usage: ``input_tokens`` EXCLUDES cache reads and writes."""
    assert exp.input_tokens is not None
    uncached = exp.input_tokens - exp.cache_read_tokens - exp.cache_creation_tokens
    return {
        "input_tokens": uncached,
        "cache_creation_input_tokens": exp.cache_creation_tokens,
        "cache_read_input_tokens": exp.cache_read_tokens,
        "cache_creation": {
            "ephemeral_5m_input_tokens": exp.cache_creation_tokens,
            "ephemeral_1h_input_tokens": 0,
        },
        "output_tokens": output,
        "service_tier": "standard",
    }


def anthropic_message(exp: Expected) -> dict[str, Any]:
    assert exp.output_tokens is not None
    return {
        "id": _id("msg_"),
        "type": "message",
        "role": "assistant",
        "model": exp.model,
        "content": [{"type": "text", "text": f"Paris. {COMPLETION_SENTINEL}"}],
        "stop_reason": "end_turn",
        "stop_sequence": None,
        "usage": anthropic_usage(exp, exp.output_tokens),
    }


def anthropic_events(exp: Expected) -> list[tuple[str, dict[str, Any]]]:
    assert exp.output_tokens is not None
    start = {**anthropic_message(exp), "content": [], "stop_reason": None}
    start["usage"] = anthropic_usage(exp, 1)
    return [
        ("message_start", {"type": "message_start", "message": start}),
        (
            "content_block_start",
            {
                "type": "content_block_start",
                "index": 0,
                "content_block": {"type": "text", "text": ""},
            },
        ),
        ("ping", {"type": "ping"}),
        (
            "content_block_delta",
            {
                "type": "content_block_delta",
                "index": 0,
                "delta": {"type": "text_delta", "text": "Paris. "},
            },
        ),
        (
            "content_block_delta",
            {
                "type": "content_block_delta",
                "index": 0,
                "delta": {"type": "text_delta", "text": COMPLETION_SENTINEL},
            },
        ),
        ("content_block_stop", {"type": "content_block_stop", "index": 0}),
        (
            "message_delta",
            {
                "type": "message_delta",
                "delta": {"stop_reason": "end_turn", "stop_sequence": None},
                "usage": {"output_tokens": exp.output_tokens},
            },
        ),
        ("message_stop", {"type": "message_stop"}),
    ]


def _by_kind(group: str, kind: str) -> Expected:
    return next(e for e in KINDS[group] if e.kind == kind)


class Handler(http.server.BaseHTTPRequestHandler):
    """Answers the canned providers; ``requests`` counts calls per path (one server)."""

    requests: dict[str, int] = {}  # noqa: RUF012 - shared by the server's handler threads

    def log_message(self, format: str, *args: Any) -> None:
        return None

    def _json(self, status: int, body: dict[str, Any], headers: dict[str, str]) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        for key, value in headers.items():
            self.send_header(key, value)
        self.end_headers()
        self.wfile.write(data)

    def _sse(self, events: list[tuple[str | None, dict[str, Any] | str]]) -> None:
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.send_header("Cache-Control", "no-cache")
        self.send_header("Connection", "close")
        self.end_headers()
        for event, data in events:
            text = data if isinstance(data, str) else json.dumps(data)
            head = f"event: {event}\n" if event else ""
            self.wfile.write(f"{head}data: {text}\n\n".encode())
            self.wfile.flush()
            time.sleep(CHUNK_GAP_S)
        self.close_connection = True

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = json.loads(self.rfile.read(length) or b"{}")
        path = self.path.split("?")[0]
        Handler.requests[path] = Handler.requests.get(path, 0) + 1
        anthropic_headers = {"request-id": _id("req_")}
        if path.startswith("/error/"):
            if path.endswith("/messages"):
                error = {"type": "invalid_request_error", "message": "max_tokens: too large"}
                self._json(400, {"type": "error", "error": error}, anthropic_headers)
            else:
                error = {
                    "message": "Invalid value for 'temperature'.",
                    "type": "invalid_request_error",
                    "param": "temperature",
                    "code": "invalid_value",
                }
                self._json(400, {"error": error}, {"x-request-id": _id("req_")})
            return
        if path == "/openai/v1/chat/completions":
            stream = bool(body.get("stream"))
            include = bool((body.get("stream_options") or {}).get("include_usage"))
            model = "gpt-4o-mini-2024-07-18"
            if not stream:
                exp = _by_kind("openai", "chat")
                assert exp.input_tokens is not None and exp.output_tokens is not None
                self._json(
                    200,
                    chat_completion(
                        model, exp.input_tokens, exp.output_tokens, exp.cache_read_tokens
                    ),
                    {"x-request-id": _id("req_")},
                )
                return
            exp = _by_kind("openai", "chat_stream_usage")
            assert exp.input_tokens is not None and exp.output_tokens is not None
            usage = _openai_usage(exp.input_tokens, exp.output_tokens, exp.cache_read_tokens)
            chunks = chat_chunks(model, usage if include else None)
            self._sse([*((None, c) for c in chunks), (None, "[DONE]")])
            return
        if path == "/openai/v1/responses":
            self._json(
                200, response_object("o3-mini-2025-01-31", _by_kind("openai", "responses")), {}
            )
            return
        if path == "/mistral/v1/chat/completions":
            exp = _by_kind("openai", "mistral_compat")
            assert exp.input_tokens is not None and exp.output_tokens is not None
            self._json(
                200,
                chat_completion("mistral-large-2411", exp.input_tokens, exp.output_tokens, 0),
                {},
            )
            return
        if path == "/anthropic/v1/messages":
            if body.get("stream"):
                events = anthropic_events(_by_kind("anthropic", "messages_stream"))
                self._sse(list(events))
            else:
                self._json(
                    200, anthropic_message(_by_kind("anthropic", "messages")), anthropic_headers
                )
            return
        self._json(
            404, {"error": {"message": f"no canned answer for {path}", "type": "not_found"}}, {}
        )
