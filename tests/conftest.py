"""Session fixtures: one real Kafka broker, one embedded ClickHouse folder.

The broker is the project's own LocalBroker (fetched from Maven Central with
Maven, KRaft, free loopback port), started once per test session; each test gets
unique topics. The embedded ClickHouse engine allows one data folder per
process, so in-process tests share one folder with a database per test, and
folders owned by worker processes are read through ``llmpulse sql`` in a child.
"""

from __future__ import annotations

import contextlib
import http.server
import json
import subprocess
import sys
import threading
import uuid
from collections.abc import Iterator
from typing import Any

import pytest

from llmpulse.stream_jobs.broker import LocalBroker
from llmpulse.stream_jobs.worker_process import sql_in_child


@pytest.fixture(scope="session")
def kafka(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    broker = LocalBroker(tmp_path_factory.mktemp("kafka"))
    info = broker.start()
    try:
        yield info.bootstrap
    finally:
        broker.stop()


@pytest.fixture
def topic() -> str:
    return f"otlp_spans_{uuid.uuid4().hex[:10]}"


@pytest.fixture(scope="session")
def chdb_dsn(tmp_path_factory: pytest.TempPathFactory) -> str:
    """The embedded engine's store for this test process (one per process)."""
    return f"chdb://{tmp_path_factory.mktemp('chdb')}"


@pytest.fixture(scope="session")
def chdb_client(chdb_dsn: str) -> Any:
    from llmpulse.stream_jobs.clickhouse import connect

    return connect(chdb_dsn)


@pytest.fixture(scope="session")
def client_in(chdb_dsn: str) -> Any:
    """``client_in(db)``: a client whose default database is ``db``, as Grafana's
    datasource has one (panel and alert SQL names tables without a database)."""
    from llmpulse.stream_jobs.clickhouse import connect

    clients: dict[str, Any] = {}

    def get(db: str) -> Any:
        if db not in clients:
            clients[db] = connect(chdb_dsn, database=db)
        return clients[db]

    return get


@pytest.fixture
def database(chdb_client: Any) -> Iterator[str]:
    name = f"t_{uuid.uuid4().hex[:12]}"
    yield name
    chdb_client.command(f"DROP DATABASE IF EXISTS {name}")


def sql(dsn: str, query: str) -> list[dict[str, Any]]:
    """Run ``query`` on ``dsn`` in a child process (it may own another chdb folder)."""
    return sql_in_child(dsn, query)


def topic_values(bootstrap: str, topic: str, idle_ms: int = 10_000) -> list[bytes]:
    """Every record value on ``topic``, from the start, until it is idle for ``idle_ms``."""
    from kafka import KafkaConsumer

    consumer = KafkaConsumer(
        topic,
        bootstrap_servers=bootstrap,
        auto_offset_reset="earliest",
        consumer_timeout_ms=idle_ms,
    )
    try:
        return [m.value for m in consumer]
    finally:
        consumer.close()


def summary(dsn: str) -> dict[str, Any]:
    out = subprocess.run(
        [sys.executable, "-m", "llmpulse.stream_jobs.cli", "summary", "--dsn", dsn],
        capture_output=True,
        text=True,
        check=False,
    )
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout)


@contextlib.contextmanager
def loopback_http(handler: type[http.server.BaseHTTPRequestHandler]) -> Iterator[str]:
    """A real HTTP server on 127.0.0.1 answering with ``handler``; yields its base URL."""
    handler.log_message = lambda self, *args: None  # type: ignore[method-assign]
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()


@pytest.fixture
def http_receiver() -> Iterator[tuple[str, list[dict[str, Any]]]]:
    """A real HTTP server on loopback that records the JSON bodies POSTed to it."""
    received: list[dict[str, Any]] = []

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            received.append(json.loads(self.rfile.read(int(self.headers["Content-Length"]))))
            self.send_response(200)
            self.end_headers()

    with loopback_http(Handler) as url:
        yield f"{url}/hook", received
