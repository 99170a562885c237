"""Build (once) and run a real OpenTelemetry Collector, for interop tests with Kafka.

The binary is made by the OpenTelemetry Collector Builder (ocb) from Go modules,
as its manifest ``otelcol-builder.yaml`` beside this module says, into a cache
folder outside git (``<cache>/otelcol-<version>/``); Go's module and build caches
stay under ``<cache>/go``. A second :meth:`CollectorBuild.fetch` reuses the
binary while the manifest is unchanged. :class:`CollectorProcess` runs it with a
config of ours on free loopback ports; :mod:`.otelcol_config` writes such
configs (the keys the v0.165 kafka exporter and receiver accept).
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import shutil
import signal
import subprocess
import tempfile
import time
from collections.abc import Callable, Iterator, Mapping
from importlib import resources
from pathlib import Path
from typing import Any

from llmpulse.errors import CollectorError
from llmpulse.stream_jobs.broker.local import _accepts, default_cache_dir

__all__ = [
    "BINARY_NAME",
    "BUILDER_MODULE",
    "MANIFEST",
    "OTELCOL_VERSION",
    "CollectorBuild",
    "CollectorProcess",
    "manifest_text",
]

#: The collector release: core modules v0.165.0 (stable ones v1.71.0), contrib v0.165.1.
OTELCOL_VERSION = "0.165.0"
BUILDER_MODULE = "go.opentelemetry.io/collector/cmd/builder"
BINARY_NAME = "otelcol-llmpulse"
MANIFEST = "otelcol-builder.yaml"

Say = Callable[[str], None]


def manifest_text() -> str:
    """The builder manifest kept in the repo (``otelcol-builder.yaml``)."""
    return resources.files("llmpulse.stream_jobs.broker").joinpath(MANIFEST).read_text()


class CollectorBuild:
    """The collector binary in ``<cache>/otelcol-<version>/``, built on first use.

    >>> CollectorBuild().fetch()          # doctest: +SKIP
    PosixPath('/root/.cache/llmpulse/otelcol-0.165.0/otelcol-llmpulse')
    """

    def __init__(self, cache_dir: str | Path | None = None) -> None:
        self.cache_dir = Path(cache_dir) if cache_dir else default_cache_dir()
        self.home = self.cache_dir / f"otelcol-{OTELCOL_VERSION}"
        self.binary = self.home / BINARY_NAME
        self._marker = self.home / ".complete"

    def ready(self) -> bool:
        """True when the binary was built from the manifest as it is now."""
        try:
            return self._marker.read_text() == _digest(manifest_text()) and self.binary.is_file()
        except OSError:
            return False

    def go_env(self) -> dict[str, str]:
        """What ``go`` and ocb get on top of the inherited environment (``GOTOOLCHAIN``,
        ``GOPROXY``, ... pass through): every Go cache under the cache folder."""
        gopath = self.cache_dir / "go" / "path"
        return {
            "GOPATH": str(gopath),
            "GOMODCACHE": str(gopath / "pkg" / "mod"),
            "GOCACHE": str(self.cache_dir / "go" / "build-cache"),
            "GOBIN": str(self.home / "bin"),
            # a module cache that `rm -rf` can remove; no VCS stamping of the build
            "GOFLAGS": "-modcacherw -buildvcs=false",
            "CGO_ENABLED": "0",
        }

    def fetch(self, say: Say | None = None) -> Path:
        """Install ocb and build the collector, once; return the binary's path.

        Takes minutes on a new machine (Go modules, then compiling); ``say`` gets
        the progress lines. Raises :class:`CollectorError` with the tail of the
        failing step's output."""
        if self.ready():
            return self.binary
        say = say or (lambda _line: None)
        if shutil.which("go") is None:
            raise CollectorError(
                "'go' is not on PATH; building the OpenTelemetry Collector needs Go "
                "(go.opentelemetry.io/collector/cmd/builder from the Go module proxy)"
            )
        self.home.mkdir(parents=True, exist_ok=True)
        with _locked(self.home / ".lock"):
            if self.ready():  # another process built it while we waited
                return self.binary
            started = time.monotonic()
            manifest = manifest_text()
            builder = self.home / "bin" / "builder"
            if not builder.is_file():
                say(f"installing ocb {BUILDER_MODULE}@v{OTELCOL_VERSION} into {builder.parent}")
                self._run(["go", "install", f"{BUILDER_MODULE}@v{OTELCOL_VERSION}"], say)
            work = self.home / "manifest.yaml"
            work.write_text(manifest)
            say(f"building the collector from {MANIFEST} in {self.home} (takes minutes)")
            self._run([str(builder), "--config", str(work)], say)
            built = self.home / "src" / BINARY_NAME
            if not built.is_file():
                raise CollectorError(f"ocb reported success but left no {built}")
            tmp = self.binary.with_suffix(".tmp")
            shutil.copy2(built, tmp)
            tmp.replace(self.binary)
            self._marker.write_text(_digest(manifest))
            say(f"collector built in {time.monotonic() - started:.0f}s: {self.binary}")
        return self.binary

    def _run(self, cmd: list[str], say: Say) -> None:
        tail: list[str] = []
        # env(1) sets the Go variables for the child: this module reads no environment
        settings = [f"{k}={v}" for k, v in self.go_env().items()]
        proc = subprocess.Popen(
            ["env", *settings, *cmd],
            cwd=self.home,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        assert proc.stdout is not None
        for line in proc.stdout:
            say(line.rstrip())
            tail = [*tail[-40:], line]
        if proc.wait() != 0:
            raise CollectorError(
                f"{' '.join(cmd[:2])} failed with exit code {proc.returncode}:\n" + "".join(tail)
            )


class CollectorProcess:
    """One collector process running ``config`` (a mapping, written as YAML).

    Starts on :meth:`start`, waits until the OTLP/HTTP receiver at
    ``otlp_http_port`` accepts connections, logs to ``log_path``; :meth:`stop`
    shuts it down gracefully (SIGTERM: the batch processor and exporter queues
    drain), then kills it. Use it as a context manager.
    """

    def __init__(
        self,
        config: Mapping[str, Any],
        otlp_http_port: int,
        binary: Path | None = None,
        workdir: Path | None = None,
    ) -> None:
        self.config = config
        self.otlp_http_port = otlp_http_port
        self.binary = binary or CollectorBuild().fetch()
        self.workdir = Path(workdir or tempfile.mkdtemp(prefix="llmpulse-otelcol-"))
        self.config_path = self.workdir / "config.yaml"
        self.log_path = self.workdir / "collector.log"
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def otlp_http_endpoint(self) -> str:
        """Where to POST OTLP/HTTP traces (``.../v1/traces``)."""
        return f"http://127.0.0.1:{self.otlp_http_port}/v1/traces"

    def start(self, timeout: float = 60.0) -> CollectorProcess:
        self.workdir.mkdir(parents=True, exist_ok=True)
        # JSON is YAML: the collector's file provider reads it as its config
        self.config_path.write_text(json.dumps(self.config, indent=2))
        with open(self.log_path, "ab") as log:
            self.proc = subprocess.Popen(
                [str(self.binary), f"--config=file:{self.config_path}"],
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,
            )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise CollectorError(
                    f"the collector exited with {self.proc.returncode}:\n{self.tail()}"
                )
            if _accepts(self.otlp_http_port):
                return self
            time.sleep(0.1)
        self.stop()
        raise CollectorError(f"the collector did not listen within {timeout:.0f}s:\n{self.tail()}")

    def stop(self, timeout: float = 30.0) -> int | None:
        """SIGTERM, then SIGKILL after ``timeout``; the exit code (None if never started)."""
        if self.proc is None:
            return None
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        return self.proc.returncode

    def tail(self, lines: int = 40) -> str:
        """The last lines of the collector's log."""
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""

    def __enter__(self) -> CollectorProcess:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def _digest(text: str) -> str:
    return f"{OTELCOL_VERSION} {hashlib.sha256(text.encode()).hexdigest()}"


@contextlib.contextmanager
def _locked(path: Path) -> Iterator[None]:
    """An exclusive lock on ``path`` (two builds into one folder would clash)."""
    with open(path, "w") as f:
        fcntl.flock(f, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)
