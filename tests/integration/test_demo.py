"""README's main command: the demo runs from nothing and its totals reconcile."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.integration


def test_demo_starts_everything_and_stored_equals_emitted(tmp_path: Path) -> None:
    """`llmpulse demo --json` starts its own broker and worker and reconciles exactly."""
    out = subprocess.run(
        [
            sys.executable,
            "-m",
            "llmpulse.stream_jobs.cli",
            "demo",
            "--events",
            "800",
            "--seed",
            "3",
            "--json",
            "--out",
            str(tmp_path / "demo"),
        ],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert out.returncode == 0, out.stderr[-3000:]
    summary = json.loads(out.stdout)
    assert summary["ok"] is True and all(summary["checks"].values())
    emitted, stored = summary["emitted"], summary["stored"]
    assert stored["calls"] == emitted["calls"] >= 800
    assert stored["cost_usd"].rstrip("0") == emitted["cost_usd"].rstrip("0")
    assert {m["provider"] for m in stored["by_model"]} >= {"openai", "anthropic", "google"}
    assert stored["cache_read_tokens"] > 0 and stored["reasoning_tokens"] > 0
    assert stored["retries"] > 0 and stored["unpriced"] > 0
    assert (tmp_path / "demo" / "summary.json").exists()
    html = Path(summary["report_files"]["html"]).read_text()
    assert "data:image/png;base64," in html and "LLM cost report" in html
    assert Path(summary["report_files"]["csv"]).read_text().count("\n") > 5
    png = Path(summary["report_files"]["panels"]).read_bytes()
    assert png[:8] == b"\x89PNG\r\n\x1a\n" and len(png) > 20_000  # four drawn panels
    assert not (tmp_path / "demo" / "kafka" / "broker.json").exists()  # broker stopped
