"""Run ``llmpulse worker`` as a child process and watch its consumer lag.

Used by the demo, the tests and the benchmark: the worker runs exactly as in
production, in its own process (which owns the embedded ClickHouse folder).
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from llmpulse.errors import LlmpulseError
from llmpulse.stream_jobs.lag import LagProbe

__all__ = ["WorkerProcess", "consumer_progress", "say", "sql_in_child"]


def say(quiet: bool, msg: str) -> None:
    """A progress line on stderr, unless ``quiet`` (the demo's, bench's and soak's)."""
    if not quiet:
        print(msg, file=sys.stderr, flush=True)


def sql_in_child(dsn: str, query: str) -> list[dict[str, Any]]:
    """Rows of ``query`` on ``dsn``, run by ``llmpulse sql`` in a child process.

    With the embedded engine one process owns one data folder: a process that
    already opened another folder (tests, the benchmark) reads through a child.
    """
    import json

    out = subprocess.run(
        [sys.executable, "-m", "llmpulse.stream_jobs.cli", "sql", "--dsn", dsn, query],
        capture_output=True,
        text=True,
        check=False,
    )
    if out.returncode != 0:
        raise LlmpulseError(f"query on {dsn} failed: {out.stderr.strip()[-2000:]}")
    return list(json.loads(out.stdout.strip().splitlines()[-1]))


def consumer_progress(bootstrap: str, group: str, topic: str) -> tuple[int, int]:
    """(committed offsets, end offsets) of ``group`` on ``topic``, summed over partitions."""
    probe = LagProbe(bootstrap, group, topic)
    try:
        return probe.progress()
    finally:
        probe.close()


class WorkerProcess:
    """``llmpulse worker`` in a child process, logging to ``log_path``."""

    def __init__(
        self,
        bootstrap: str,
        dsn: str,
        data_dir: Path,
        topic: str = "otlp_spans",
        group_id: str = "llmpulse-worker",
        dead_letter_topic: str | None = None,
        database: str = "llmpulse",
        extra_env: dict[str, str] | None = None,
    ) -> None:
        self.bootstrap = bootstrap
        self.topic = topic
        self.group_id = group_id
        self.data_dir = Path(data_dir).resolve()
        self.log_path = self.data_dir / "worker.log"
        self.cmd = [
            sys.executable,
            "-m",
            "llmpulse.stream_jobs.cli",
            "worker",
            "--kafka",
            bootstrap,
            "--dsn",
            dsn,
            "--topic",
            topic,
            "--group-id",
            group_id,
            "--data-dir",
            str(self.data_dir),
            "--database",
            database,
            "--dead-letter-topic",
            dead_letter_topic or f"{topic}.dlq",
            "--drift-topic",
            f"{topic}.drift",
        ]
        self.env = {**os.environ, **(extra_env or {})}
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self, wait: bool = True, timeout: float = 60.0) -> WorkerProcess:
        """Start the child; with ``wait``, return once it is up and handles signals."""
        self.data_dir.mkdir(parents=True, exist_ok=True)
        (self.data_dir / "ready").unlink(missing_ok=True)
        log = open(self.log_path, "ab")  # noqa: SIM115 - handed to the child
        self.proc = subprocess.Popen(
            self.cmd, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, env=self.env
        )
        log.close()
        if wait:
            self.wait_ready(timeout)
        return self

    def wait_ready(self, timeout: float = 60.0) -> None:
        """Block until the worker has started its app (it writes ``ready``)."""
        deadline = time.monotonic() + timeout
        while not (self.data_dir / "ready").exists():
            if not self.alive():
                raise LlmpulseError(
                    f"the worker exited early; see {self.log_path}:\n" + self.tail()
                )
            if time.monotonic() > deadline:
                raise LlmpulseError(
                    f"the worker did not start within {timeout:.0f}s; see {self.log_path}"
                )
            time.sleep(0.1)

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def wait_caught_up(
        self,
        timeout: float = 180.0,
        settle: float = 0.0,
        on_progress: Callable[[int, int], None] | None = None,
    ) -> None:
        """Block until every message on the topic is committed (so durably stored)."""
        deadline = time.monotonic() + timeout
        probe = LagProbe(self.bootstrap, self.group_id, self.topic)
        last_error = ""
        try:
            while True:
                if not self.alive():
                    raise LlmpulseError(
                        f"the worker exited early; see {self.log_path}:\n" + self.tail()
                    )
                try:
                    done, end = probe.progress()
                except Exception as exc:  # broker busy: try again
                    done, end, last_error = -1, 0, repr(exc)
                if on_progress and done >= 0:
                    on_progress(done, end)
                if done >= 0 and done >= end > 0:
                    time.sleep(settle)
                    return
                if time.monotonic() > deadline:
                    raise LlmpulseError(
                        f"the worker did not catch up within {timeout:.0f}s (committed "
                        f"{done} of {end}) {last_error}; see {self.log_path}"
                    )
                time.sleep(0.25)
        finally:
            probe.close()

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 60.0) -> int | None:
        """Stop the worker (SIGTERM waits for a clean shutdown); return its exit code."""
        if self.proc is None:
            return None
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)
        return self.proc.returncode

    def tail(self, lines: int = 30) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""
