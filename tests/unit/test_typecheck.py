"""The type check really sees llmpulse's own types (STYLE 16)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PROBES = ROOT / "tests" / "typing"


def _mypy(*files: Path) -> subprocess.CompletedProcess[str]:
    script = ROOT / "scripts" / "typecheck.py"
    return subprocess.run(
        [sys.executable, str(script), *map(str, files)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
    )


def test_probe_of_project_types_passes() -> None:
    """assert_type on llmpulse types holds: they resolve, not as Any."""
    out = _mypy(PROBES / "probe_ok.py")
    assert out.returncode == 0, out.stdout + out.stderr


def test_wrong_probe_is_rejected_line_by_line() -> None:
    """Every deliberately wrong line of the probe is an error (a blind check passes them)."""
    out = _mypy(PROBES / "probe_wrong.py")
    assert out.returncode == 1, out.stdout + out.stderr
    wrong = {
        n
        for n, line in enumerate((PROBES / "probe_wrong.py").read_text().splitlines(), 1)
        if "# PROBE:" in line
    }
    flagged = {
        int(line.split(":")[1])
        for line in out.stdout.splitlines()
        if line.startswith("tests/typing/probe_wrong.py:") and ": error:" in line
    }
    assert flagged == wrong, out.stdout
