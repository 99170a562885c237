"""Run every library's app against the canned providers, through one real worker.

:func:`run_all` makes the venvs, starts the canned provider server and one
``llmpulse worker`` on one topic, runs each library's app (tests/compat/app.py) in
a process of its own with its own service name, waits until the worker has
committed everything, stops it and reads back, per library, the stored calls and
dead letters of the traces that library's spans had. Each library's raw spans and
what was stored of them are written to ``findings/<library>.json``.
"""

from __future__ import annotations

import json
import os
import subprocess
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tests.compat.providers import KINDS, Expected, Handler, calls_of
from tests.compat.venvs import Library, ensure_venv, libraries
from tests.conftest import loopback_http, sql
from tests.integration.conftest import running_worker

__all__ = ["REPEAT", "TEAM", "LibraryRun", "run_all"]

#: Calls of each kind per library (``LLMPULSE_COMPAT_REPEAT``, for a heavier run).
REPEAT = int(os.environ.get("LLMPULSE_COMPAT_REPEAT", "3"))
TEAM = "compat-team"
APP = Path(__file__).with_name("app.py")

#: Content capture ON in every library (each one's own switch), the worst case.
CAPTURE_ENV = {
    "OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT": "true",
    "TRACELOOP_TRACE_CONTENT": "true",
    "ANTHROPIC_OPEN_TELEMETRY_TRACES_CONTENT_MODE": "content",
    "OPENINFERENCE_HIDE_INPUTS": "false",
    "OPENINFERENCE_HIDE_OUTPUTS": "false",
}


@dataclass
class LibraryRun:
    """One library's app run and what llmpulse stored of it."""

    library: Library
    service: str
    expected: list[Expected]
    app: dict[str, Any] = field(default_factory=dict)
    app_error: str = ""
    rows: list[dict[str, Any]] = field(default_factory=list)
    dead_letters: list[dict[str, Any]] = field(default_factory=list)

    def calls(self, kind: str) -> list[dict[str, Any]]:
        return [c for c in self.app.get("calls", []) if c["kind"] == kind]

    def rows_of(self, call: dict[str, Any]) -> list[dict[str, Any]]:
        traces = set(call["traces"])
        return [r for r in self.rows if r["trace_id"] in traces]

    def traces(self) -> set[str]:
        return {s["trace_id"] for s in self.app.get("spans", [])}


def _run_app(run: LibraryRun, python: Path, spec: dict[str, Any], folder: Path) -> None:
    spec_path = folder / f"{run.library.name}.spec.json"
    spec_path.write_text(json.dumps(spec))
    env = {
        "PATH": "/usr/local/bin:/usr/bin:/bin",
        "HOME": str(folder),
        "OPENAI_API_KEY": "sk-compat",
        "ANTHROPIC_API_KEY": "compat",
        "LANGCHAIN_TRACING_V2": "false",
        "OTEL_PYTHON_DISABLED_INSTRUMENTATIONS": "",
        **CAPTURE_ENV,
        **dict(run.library.env),
    }
    out = subprocess.run(
        [str(python), str(APP), str(spec_path)],
        capture_output=True,
        text=True,
        env=env,
        timeout=240,
        check=False,
    )
    (folder / f"{run.library.name}.log").write_text(out.stdout + out.stderr)
    if out.returncode != 0:
        run.app_error = (out.stdout + out.stderr)[-4000:]
        return
    run.app = json.loads(Path(spec["out"]).read_text())


def _parallel(items: list[Any], fn: Any, workers: int = 2) -> None:
    with ThreadPoolExecutor(workers) as pool:
        for _ in pool.map(fn, items):
            pass


def run_all(
    kafka: str, topic: str, folder: Path, findings: Path, only: list[str] | None = None
) -> dict[str, LibraryRun]:
    """Every library of versions.toml (or ``only`` these), run and read back."""
    libs = {n: lib for n, lib in libraries().items() if not only or n in only}
    pythons: dict[str, Path] = {}

    def make(venv: str) -> None:
        pythons[venv] = ensure_venv(venv)

    _parallel(sorted({lib.venv for lib in libs.values()}), make)
    runs = {
        name: LibraryRun(lib, f"compat-{name}", calls_of(lib.kinds)) for name, lib in libs.items()
    }
    folder.mkdir(parents=True, exist_ok=True)
    with loopback_http(Handler) as base_url, running_worker(kafka, topic, folder) as worker:

        def one(run: LibraryRun) -> None:
            spec = {
                "library": run.library.name,
                "instrument": list(run.library.instrument),
                "service": run.service,
                "team": TEAM,
                "bootstrap": kafka,
                "topic": topic,
                "base_url": base_url,
                "groups": list(run.library.kinds),
                "kinds": {g: [e.kind for e in KINDS[g]] for g in run.library.kinds},
                "repeat": REPEAT,
                "packages": list(run.library.names),
                "out": str(folder / f"{run.library.name}.out.json"),
            }
            _run_app(run, pythons[run.library.venv], spec, folder)

        _parallel(list(runs.values()), one)
        if any(run.app for run in runs.values()):
            worker.wait_caught_up(timeout=120)
    dsn = f"chdb://{folder / 'chdb'}"
    rows = sql(dsn, "SELECT *, toString(cost_usd) AS cost FROM llmpulse.llm_calls FINAL")
    dead = sql(dsn, "SELECT * FROM llmpulse.dead_letters FINAL")
    for run in runs.values():
        traces = run.traces()
        run.rows = [r for r in rows if r["trace_id"] in traces]
        run.dead_letters = [d for d in dead if d["trace_id"] in traces]
        _write_findings(run, findings)
    orphans = [d for d in dead if not d["trace_id"]]
    findings.mkdir(parents=True, exist_ok=True)
    (findings / "_message_dead_letters.json").write_text(json.dumps(orphans, indent=1, default=str))
    return runs


def _write_findings(run: LibraryRun, findings: Path) -> None:
    findings.mkdir(parents=True, exist_ok=True)
    out = {
        "library": run.library.name,
        "service": run.service,
        "app_error": run.app_error,
        "versions": run.app.get("versions"),
        "exporter_stats": run.app.get("exporter_stats"),
        "calls": run.app.get("calls"),
        "spans": run.app.get("spans"),
        "stored_llm_calls": run.rows,
        "dead_letters": run.dead_letters,
        "written_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }
    path = findings / f"{run.library.name}.json"
    path.write_text(json.dumps(out, indent=1, sort_keys=True, default=str))
