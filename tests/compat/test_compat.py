"""Real provider SDKs + real instrumentations -> install() -> Kafka -> worker -> ClickHouse.

Each library (tests/compat/versions.toml) runs its app in a process and venv of its
own against the canned providers (tests/compat/providers.py), REPEAT calls of each
kind, through one real worker. The assertions are the product's goal for every
library: one stored row per logical call, the provider's exact token counts
(input including cache reads and writes), a cost for known models, errors stored
as errors, the service name given to install(), the transaction tags, and no
prompt or completion content anywhere. What fails today is listed in ``KNOWN``
with the defect (strict xfail: it turns red once fixed, so the entry goes).

Raw spans and stored rows of each library: ``$LLMPULSE_COMPAT_FINDINGS/<library>.json``
(``/tmp/compat_findings`` by default). ``LLMPULSE_COMPAT_ONLY=a,b`` runs some libraries;
``LLMPULSE_COMPAT_REPEAT=N`` makes N calls of each kind instead of 3.
"""

from __future__ import annotations

import fnmatch
import json
import os
import uuid
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from tests.compat.app import PROMPT_SENTINEL
from tests.compat.harness import REPEAT, TEAM, LibraryRun, run_all
from tests.compat.providers import COMPLETION_SENTINEL, Expected, calls_of
from tests.compat.venvs import libraries

pytestmark = pytest.mark.integration

FINDINGS = Path(os.environ.get("LLMPULSE_COMPAT_FINDINGS", "/tmp/compat_findings"))
ONLY = [n for n in os.environ.get("LLMPULSE_COMPAT_ONLY", "").split(",") if n]
LIBRARIES = libraries()

#: Checks of each call kind, and of each library as a whole.
KIND_CHECKS = ("rows", "tokens", "cost", "status", "model", "ttft")
LIBRARY_CHECKS = ("app", "service", "transaction", "no_content", "no_dead_letters")

# Defects of llmpulse: none known today (stacked spans are linked, OpenInference's
# request model, first-token event and LangChain task spans are read; see git log) ...
# ... and gaps of the libraries themselves (llmpulse cannot store what is not sent).
V2_RESPONSES = "library: openai-v2 2.4b0 does not instrument the responses API (no span)"
V2_CACHE = "library: openai-v2 2.4b0 sends no cached tokens for chat completions"
NO_TTFT = "library: {} records no time to first token on its spans"
# OpenLLMetry anthropic 0.62.4 counts a streamed message's output one too many (61 for
# 60): not seen in the rows, as its span is linked to the SDK's, which is counted.
LIT_STREAM_CACHE = (
    "library: OpenLIT 1.45.0 reads no cache usage of a streamed Anthropic message "
    "(input 25 for 2025, cache_read 0)"
)
LIT_ERROR = (
    "library: OpenLIT 1.45.0's span of a failed Anthropic call has no gen_ai attributes "
    "(the model only in the span name), so it is not seen as an LLM call"
)

#: What fails today: (library glob, kind glob, check, defect). Strict xfails: each
#: passes once its defect is fixed, and then its entry goes.
KNOWN: list[tuple[str, str, str, str]] = [
    ("openai-v2", "responses", check, V2_RESPONSES)
    for check in ("rows", "tokens", "cost", "status", "model")
] + [
    ("openai-v2", "chat*", "tokens", V2_CACHE),
    ("openai-v2", "chat_stream_*", "ttft", NO_TTFT.format("openai-v2 2.4b0")),
    ("openllmetry-openai", "chat_stream_*", "ttft", NO_TTFT.format("OpenLLMetry openai 0.62.4")),
    ("openlit", "messages_stream", "tokens", LIT_STREAM_CACHE),
    ("openlit", "anthropic_error", "rows", LIT_ERROR),
    ("openlit", "anthropic_error", "status", LIT_ERROR),
    ("openlit", "anthropic_error", "model", LIT_ERROR),
    (
        "langchain-openinference",
        "lc_stream_usage",
        "ttft",
        NO_TTFT.format("OpenInference langchain 0.1.80"),
    ),
    (
        "langchain-openllmetry",
        "lc_stream_usage",
        "ttft",
        NO_TTFT.format("OpenLLMetry langchain 0.62.4"),
    ),
]


def _known(library: str, kind: str, check: str) -> str | None:
    """The defect that makes this check fail today, if any."""
    for lib_glob, kind_glob, known_check, reason in KNOWN:
        matches = fnmatch.fnmatch(library, lib_glob) and fnmatch.fnmatch(kind, kind_glob)
        if matches and known_check == check:
            return reason
    return None


def _expect_defect(request: pytest.FixtureRequest, run: LibraryRun, kind: str, check: str) -> None:
    """Mark the running test a strict xfail when ``KNOWN`` names its defect."""
    reason = _known(run.library.name, kind, check)
    if reason:
        request.applymarker(pytest.mark.xfail(reason=reason, strict=True))


def _param(library: str, kind: str, check: str) -> Any:
    ident = f"{library}-{kind}-{check}" if kind != "*" else f"{library}-{check}"
    return pytest.param(library, kind, check, id=ident)


def _applies(exp: Expected, check: str) -> bool:
    if check == "tokens":
        return exp.input_tokens is not None
    if check == "cost":
        return not exp.error
    if check == "ttft":
        return exp.streamed
    return True


KIND_PARAMS = [
    _param(name, exp.kind, check)
    for name, lib in LIBRARIES.items()
    for exp in calls_of(lib.kinds)
    for check in KIND_CHECKS
    if _applies(exp, check)
]
LIBRARY_PARAMS = [_param(name, "*", check) for name in LIBRARIES for check in LIBRARY_CHECKS]


@pytest.fixture(scope="module")
def runs(kafka: str, tmp_path_factory: pytest.TempPathFactory) -> dict[str, LibraryRun]:
    folder = tmp_path_factory.mktemp("compat")
    return run_all(kafka, f"compat_{uuid.uuid4().hex[:10]}", folder, FINDINGS, ONLY or None)


def _run(runs: dict[str, LibraryRun], library: str) -> LibraryRun:
    if library not in runs:
        pytest.skip(f"{library} not in LLMPULSE_COMPAT_ONLY")
    run = runs[library]
    assert not run.app_error, f"the {library} app failed:\n{run.app_error}"
    return run


def _show(rows: list[dict[str, Any]], *keys: str) -> list[dict[str, Any]]:
    return [{k: r.get(k) for k in keys} for r in rows]


TOKENS = ("input_tokens", "output_tokens", "cache_read_tokens", "cache_creation_tokens")
TOKENS_ALL = (*TOKENS, "reasoning_tokens")


def _check_kind(run: LibraryRun, exp: Expected, check: str) -> None:
    calls = run.calls(exp.kind)
    assert len(calls) == REPEAT
    for call in calls:
        assert (call["outcome"] == "raised") == exp.error, call  # the SDK behaved as expected
        # Stacked spans may be kept and linked: a row with a duplicate_of (schema v9)
        # is not counted anywhere, so it is not a stored call here either.
        rows = [r for r in run.rows_of(call) if not r.get("duplicate_of")]
        where = f"{run.library.name} {exp.kind} #{call['index']}"
        if check == "rows":
            assert call["traces"], f"{where}: the library made no span for this call"
            assert len(rows) == 1, f"{where}: {len(rows)} stored rows " + json.dumps(
                _show(rows, "span_id", "parent_span_id", "request_model", *TOKENS), default=str
            )
            continue
        assert rows, f"{where}: nothing stored"
        if check == "tokens":
            assert exp.input_tokens is not None
            got = {k: sum(int(r[k]) for r in rows) for k in TOKENS_ALL}
            want = {
                "input_tokens": exp.input_tokens,
                "output_tokens": exp.output_tokens,
                "cache_read_tokens": exp.cache_read_tokens,
                "cache_creation_tokens": exp.cache_creation_tokens,
                "reasoning_tokens": exp.reasoning_tokens,
            }
            assert got == want, f"{where}: stored (summed over {len(rows)} rows) != reported"
        elif check == "cost":
            if exp.input_tokens is None:  # no usage reported: never silently free
                assert all(r["price_status"] != "ok" or Decimal(r["cost"]) > 0 for r in rows), (
                    f"{where}: no usage, stored as a free priced call: "
                    + json.dumps(_show(rows, "price_status", "cost"), default=str)
                )
            else:
                assert all(r["price_status"] == "ok" for r in rows), _show(rows, "price_status")
                assert sum(Decimal(r["cost"]) for r in rows) > 0, f"{where}: cost 0"
        elif check == "status":
            want_status = "error" if exp.error else "ok"
            assert [r["status"] for r in rows] == [want_status] * len(rows), _show(
                rows, "status", "error_type"
            )
            if exp.error:
                assert all(r["error_type"] for r in rows), _show(rows, "error_type")
        elif check == "ttft":
            assert all(r["ttft_ms"] is not None and r["ttft_ms"] > 0 for r in rows), _show(
                rows, "span_id", "ttft_ms", "latency_ms"
            )
        elif check == "model":
            assert all(r["request_model"] == exp.model for r in rows), _show(
                rows, "request_model", "response_model"
            )


@pytest.mark.parametrize(("library", "kind", "check"), KIND_PARAMS)
def test_call_kind(
    request: pytest.FixtureRequest,
    runs: dict[str, LibraryRun],
    library: str,
    kind: str,
    check: str,
) -> None:
    """Each call of this kind is stored once, with the provider's figures."""
    run = _run(runs, library)
    _expect_defect(request, run, kind, check)
    exp = next(e for e in run.expected if e.kind == kind)
    _check_kind(run, exp, check)


def _library_check(run: LibraryRun, check: str) -> None:
    name = run.library.name
    if check == "app":
        assert run.app["exporter_stats"]["spans_dropped"] == 0, run.app["exporter_stats"]
        assert run.rows or run.dead_letters, f"{name}: nothing reached the worker"
    elif check == "service":
        assert {r["service_name"] for r in run.rows} == {run.service}
    elif check == "transaction":
        tx_of = {t: c["transaction_id"] for c in run.app["calls"] for t in c["traces"]}
        wrong = [
            (r["trace_id"], r["transaction_id"], r["team"])
            for r in run.rows
            if (r["transaction_id"], r["team"]) != (tx_of.get(r["trace_id"]), TEAM)
        ]
        assert run.rows and not wrong, wrong
    elif check == "no_content":
        stored = json.dumps([run.rows, run.dead_letters], default=str)
        for sentinel in (PROMPT_SENTINEL, COMPLETION_SENTINEL):
            assert sentinel not in stored, f"{name}: content ({sentinel}) stored"
        spans = json.dumps(run.app["spans"])
        captured = PROMPT_SENTINEL in spans or COMPLETION_SENTINEL in spans
        assert captured, f"{name} captured no content in the app: the check proves nothing"
    elif check == "no_dead_letters":
        assert not run.dead_letters, json.dumps(
            _show(run.dead_letters, "reason", "detail", "span_id"), default=str
        )


@pytest.mark.parametrize(("library", "kind", "check"), LIBRARY_PARAMS)
def test_library(
    request: pytest.FixtureRequest,
    runs: dict[str, LibraryRun],
    library: str,
    kind: str,
    check: str,
) -> None:
    """The library's calls carry install()'s service, the transaction, and no content."""
    run = _run(runs, library)
    _expect_defect(request, run, kind, check)
    _library_check(run, check)
