"""`grafana publish` fails clearly on bad credentials and on an unreachable Grafana."""

from __future__ import annotations

import http.server
import json
from collections.abc import Iterator

import pytest

from llmpulse.errors import ConfigError
from llmpulse.stream_jobs.broker.local import free_port
from llmpulse.stream_jobs.grafana.publish import publish
from tests.conftest import loopback_http


@pytest.fixture
def rejecting_server() -> Iterator[tuple[str, list[str]]]:
    """An HTTP server on loopback that answers every API call like Grafana on a bad key."""
    seen: list[str] = []

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            seen.append(self.headers.get("Authorization", ""))
            body = json.dumps({"message": "invalid API key"}).encode()
            self.send_response(401)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

    with loopback_http(Handler) as url:
        yield url, seen


def test_bad_credentials_stop_at_the_first_call(rejecting_server: tuple[str, list[str]]) -> None:
    """401 becomes a ConfigError naming the credentials; nothing else is attempted."""
    url, seen = rejecting_server
    with pytest.raises(ConfigError, match="rejected the credentials"):
        publish(url, token="glsa_wrong")
    assert seen == ["Bearer glsa_wrong"]


def test_unreachable_grafana_is_a_clear_error() -> None:
    """Nothing listening: a ConfigError that says Grafana cannot be reached."""
    with pytest.raises(ConfigError, match="cannot reach Grafana"):
        publish(f"http://127.0.0.1:{free_port()}", user="admin", password="x")
