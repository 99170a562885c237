"""Fetch, start and stop a real Apache Kafka broker (KRaft, single node).

The broker's jars come from Maven Central through Maven (``pom.xml`` beside this
module) into a cache folder outside git; the broker runs as a detached JVM on
free loopback ports, with its data, config and log in a folder of its own.
"""

from __future__ import annotations

import base64
import contextlib
import json
import os
import shutil
import signal
import socket
import subprocess
import time
import uuid
from dataclasses import asdict, dataclass
from importlib import resources
from pathlib import Path

from llmpulse.errors import BrokerError

KAFKA_VERSION = "3.9.1"
_MAIN = "kafka.Kafka"
_STORAGE_TOOL = "kafka.tools.StorageTool"


def default_cache_dir() -> Path:
    """``$LLMPULSE_CACHE_DIR``, else ``$XDG_CACHE_HOME/llmpulse``, else ``~/.cache/llmpulse``
    (read by :class:`~llmpulse.stream_jobs.settings.BrokerSettings`)."""
    from llmpulse.stream_jobs.settings import BrokerSettings

    return BrokerSettings().resolved_cache_dir()


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nobody listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass(frozen=True)
class BrokerInfo:
    """Where a running local broker listens, and its process."""

    pid: int
    port: int
    controller_port: int
    data_dir: str

    @property
    def bootstrap(self) -> str:
        return f"127.0.0.1:{self.port}"


class LocalBroker:
    """One local Kafka broker living in ``data_dir``.

    >>> broker = LocalBroker("/tmp/llmpulse-kafka")   # doctest: +SKIP
    >>> info = broker.start()                           # doctest: +SKIP
    >>> info.bootstrap                                  # doctest: +SKIP
    '127.0.0.1:40123'
    """

    def __init__(self, data_dir: str | Path, cache_dir: str | Path | None = None) -> None:
        self.data_dir = Path(data_dir).resolve()
        self.cache_dir = Path(cache_dir) if cache_dir else default_cache_dir()
        self.libs_dir = self.cache_dir / f"kafka-{KAFKA_VERSION}" / "libs"

    # ------------------------------------------------------------------ fetch
    def fetch(self, quiet: bool = True) -> Path:
        """Download the broker jars with Maven, once; return the jar folder."""
        marker = self.libs_dir / ".complete"
        if marker.exists():
            return self.libs_dir
        for tool in ("mvn", "java"):
            if shutil.which(tool) is None:
                raise BrokerError(
                    f"{tool!r} is not on PATH; the local Kafka broker needs Java 17+ "
                    "and Maven to fetch it from Maven Central"
                )
        self.libs_dir.mkdir(parents=True, exist_ok=True)
        pom = resources.files("llmpulse.stream_jobs.broker").joinpath("pom.xml")
        work = self.libs_dir.parent / "pom.xml"
        work.write_text(pom.read_text())
        cmd = [
            "mvn",
            "-B",
            "dependency:copy-dependencies",
            "-f",
            str(work),
            f"-DoutputDirectory={self.libs_dir}",
            "-DincludeScope=runtime",
        ]
        if quiet:
            cmd.insert(1, "-q")
        proc = subprocess.run(cmd, capture_output=True, text=True)
        if proc.returncode != 0:
            raise BrokerError(
                "Maven could not fetch Kafka "
                f"{KAFKA_VERSION}:\n{proc.stdout[-2000:]}{proc.stderr[-2000:]}"
            )
        marker.write_text(KAFKA_VERSION)
        return self.libs_dir

    # ------------------------------------------------------------------ state
    @property
    def _state_file(self) -> Path:
        return self.data_dir / "broker.json"

    @property
    def log_file(self) -> Path:
        return self.data_dir / "logs" / "broker.log"

    def status(self) -> BrokerInfo | None:
        """The running broker in ``data_dir``, or None."""
        try:
            info = BrokerInfo(**json.loads(self._state_file.read_text()))
        except (OSError, ValueError, TypeError):
            return None
        if not _alive(info.pid) or not _accepts(info.port):
            return None
        return info

    # ------------------------------------------------------------------ start
    def start(self, port: int | None = None, timeout: float = 90.0) -> BrokerInfo:
        """Start the broker (fetching it first) and wait until it serves requests.

        Returns the running broker's info; a broker already running in
        ``data_dir`` is reused.
        """
        running = self.status()
        if running:
            return running
        libs = self.fetch()
        port = port or free_port()
        controller = free_port()
        kdata = self.data_dir / "kraft"
        (self.data_dir / "logs").mkdir(parents=True, exist_ok=True)
        props = self.data_dir / "server.properties"
        props.write_text(_server_properties(port, controller, kdata))
        log4j = self.data_dir / "log4j.properties"
        log4j.write_text(
            resources.files("llmpulse.stream_jobs.broker").joinpath("log4j.properties").read_text()
        )
        classpath = f"{libs}/*"
        java = [
            "java",
            "-Xms256m",
            "-Xmx768m",
            "-XX:+UseG1GC",
            f"-Dlog4j.configuration=file:{log4j}",
            f"-Dkafka.logs.dir={self.data_dir / 'logs'}",
            "-cp",
            classpath,
        ]
        if not (kdata / "meta.properties").exists():
            # "=" form: a random id may start with "-", which argparse reads as an option
            cluster_id = base64.urlsafe_b64encode(uuid.uuid4().bytes).decode().rstrip("=")
            fmt = subprocess.run(
                [*java, _STORAGE_TOOL, "format", f"--cluster-id={cluster_id}", "-c", str(props)],
                capture_output=True,
                text=True,
            )
            if fmt.returncode != 0:
                raise BrokerError(f"formatting KRaft storage failed: {fmt.stderr[-2000:]}")
        out = open(self.data_dir / "logs" / "stdout.log", "ab")  # noqa: SIM115 - owned by child
        proc = subprocess.Popen(
            [*java, _MAIN, str(props)],
            stdout=out,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )
        out.close()
        info = BrokerInfo(
            pid=proc.pid, port=port, controller_port=controller, data_dir=str(self.data_dir)
        )
        self._state_file.write_text(json.dumps(asdict(info)))
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                raise BrokerError(
                    f"the Kafka broker exited with {proc.returncode}; "
                    f"see {self.log_file} and {self.data_dir / 'logs/stdout.log'}"
                )
            if _accepts(port) and _serves_metadata(info.bootstrap):
                return info
            time.sleep(0.25)
        self.stop()
        raise BrokerError(
            f"the Kafka broker did not come up within {timeout:.0f}s; see {self.log_file}"
        )

    # ------------------------------------------------------------------- stop
    def stop(self, timeout: float = 30.0) -> bool:
        """Stop the broker cleanly (SIGTERM, then SIGKILL); True if one was running."""
        try:
            info = BrokerInfo(**json.loads(self._state_file.read_text()))
        except (OSError, ValueError, TypeError):
            return False
        was_running = _alive(info.pid)
        if was_running:
            _signal(info.pid, signal.SIGTERM)
            deadline = time.monotonic() + timeout
            while _alive(info.pid) and time.monotonic() < deadline:
                time.sleep(0.1)
            if _alive(info.pid):
                _signal(info.pid, signal.SIGKILL)
        self._state_file.unlink(missing_ok=True)
        return was_running


def _server_properties(port: int, controller: int, data: Path) -> str:
    return "\n".join(
        [
            "process.roles=broker,controller",
            "node.id=1",
            f"controller.quorum.voters=1@127.0.0.1:{controller}",
            f"listeners=PLAINTEXT://127.0.0.1:{port},CONTROLLER://127.0.0.1:{controller}",
            f"advertised.listeners=PLAINTEXT://127.0.0.1:{port}",
            "controller.listener.names=CONTROLLER",
            "inter.broker.listener.name=PLAINTEXT",
            "listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT",
            f"log.dirs={data}",
            "num.partitions=1",
            "offsets.topic.replication.factor=1",
            "offsets.topic.num.partitions=4",
            "transaction.state.log.replication.factor=1",
            "transaction.state.log.min.isr=1",
            "group.initial.rebalance.delay.ms=0",
            "auto.create.topics.enable=true",
            "message.max.bytes=16777216",
            "log.retention.hours=168",
            "",
        ]
    )


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:  # a zombie child of ours counts as dead
        with open(f"/proc/{pid}/stat") as f:
            return f.read().split(")")[-1].split()[0] != "Z"
    except OSError:
        return True


def _signal(pid: int, sig: int) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, sig)


def _accepts(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.5):
            return True
    except OSError:
        return False


def _serves_metadata(bootstrap: str) -> bool:
    from kafka import KafkaAdminClient
    from kafka.errors import KafkaError

    try:
        admin = KafkaAdminClient(bootstrap_servers=bootstrap, request_timeout_ms=3000)
    except (KafkaError, OSError, ValueError):
        return False
    try:
        admin.describe_cluster()
        return True
    except (KafkaError, OSError, ValueError):
        return False
    finally:
        admin.close()


def broker_unless(kafka: str | None, folder: Path) -> tuple[str, LocalBroker | None]:
    """``(kafka, None)`` when a broker is given, else a local one started in
    ``folder`` (the caller stops it): ``(its bootstrap, the broker)``."""
    if kafka is not None:
        return kafka, None
    broker = LocalBroker(folder)
    return broker.start().bootstrap, broker
