"""The command line: broker lifecycle, migrate, summary, help and clear errors."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.integration


def cli(*args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "llmpulse.stream_jobs.cli", *args],
        capture_output=True,
        text=True,
        check=check,
        timeout=180,
    )


def test_kafka_start_status_stop(tmp_path: Path) -> None:
    """`llmpulse kafka` starts a real broker, reports it, stops it."""
    folder = str(tmp_path / "k")
    started = cli("kafka", "start", "--data-dir", folder)
    bootstrap = started.stdout.strip()
    assert bootstrap.startswith("127.0.0.1:")
    try:
        status = cli("kafka", "status", "--data-dir", folder)
        assert bootstrap in status.stdout
        assert (tmp_path / "k" / "logs" / "broker.log").stat().st_size > 0
    finally:
        assert cli("kafka", "stop", "--data-dir", folder).stdout.strip() == "stopped"
    assert cli("kafka", "status", "--data-dir", folder, check=False).returncode == 1


def test_migrate_then_summary_on_an_empty_store(tmp_path: Path) -> None:
    """migrate is idempotent from the CLI; summary of nothing is zeros."""
    dsn = f"chdb://{tmp_path / 'db'}"
    assert "applied now: [1, 2, 3, 4, 5, 6, 7, 8, 9, 10]" in cli("migrate", "--dsn", dsn).stdout
    assert "applied now: none" in cli("migrate", "--dsn", dsn, "--retention-days", "30").stdout
    assert '"calls": 0' in cli("summary", "--dsn", dsn).stdout


@pytest.mark.parametrize(
    "sub", ["kafka", "migrate", "worker", "demo", "summary", "sql", "bench", "soak", "report"]
)
def test_every_subcommand_has_help(sub: str) -> None:
    """--help describes each subcommand."""
    out = cli(sub, "--help").stdout
    assert "usage: llmpulse" in out and len(out) > 200


def test_bad_dsn_is_a_clear_error(tmp_path: Path) -> None:
    """A DSN with an unknown scheme fails with a message naming the accepted ones."""
    res = cli("migrate", "--dsn", "mysql://x", check=False)
    assert res.returncode == 2
    assert "must start with chdb://, http:// or https://" in res.stderr
