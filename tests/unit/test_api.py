"""The public API: each package lists what it exports, sorted, and it all exists."""

from __future__ import annotations

import importlib
import json
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

PACKAGES = [
    "llmpulse.stream_jobs.analytics",
    "llmpulse",
    "llmpulse.collectors",
    "llmpulse.stream_jobs",
    "llmpulse.schemas",
    "llmpulse.stream_jobs.broker",
]
ROOT = Path(__file__).resolve().parents[2]


def _isort_key(name: str) -> tuple[int, str]:
    """isort-style order, as ruff's RUF022 keeps it: CONSTANTS, Classes, functions."""
    kind = 0 if name.isupper() else 1 if name[:1].isupper() else 2
    return kind, name


@pytest.mark.parametrize("name", PACKAGES)
def test_all_is_sorted_and_complete(name: str) -> None:
    """__all__ is sorted (isort style) and every listed name exists."""
    mod = importlib.import_module(name)
    exported = list(mod.__all__)
    assert exported == sorted(exported, key=_isort_key)
    for attr in exported:
        assert hasattr(mod, attr), f"{name}.{attr}"


def test_app_side_import_pulls_nothing_heavy() -> None:
    """Importing the collectors loads no Faust, river, numpy, chDB or ClickHouse client."""
    code = (
        "import sys, json, llmpulse.collectors as c; c.KafkaSpanExporter(); "
        "print(json.dumps(sorted(m for m in ('faust','river','numpy','chdb',"
        "'clickhouse_connect','aiokafka','pydantic_settings') if m in sys.modules)))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert json.loads(out.stdout) == []


def test_plain_install_depends_only_on_the_exporter_stack() -> None:
    """pyproject: the base dependencies are OTel and kafka-python; the rest are extras."""
    meta = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    base = {d.split(">")[0].split("=")[0].strip() for d in meta["dependencies"]}
    assert base == {
        "opentelemetry-sdk",
        "opentelemetry-proto",
        "opentelemetry-exporter-otlp-proto-common",
        "kafka-python",
        "crc32c",
    }
    pipeline = " ".join(meta["optional-dependencies"]["pipeline"])
    for dep in ("faust-streaming", "clickhouse-connect", "chdb", "river", "numpy"):
        assert dep in pipeline


def test_no_generic_top_level_modules_are_installed() -> None:
    """Installed import names all live under llmpulse."""
    meta = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]
    assert all(p == "llmpulse" or p.startswith("llmpulse.") for p in meta["packages"])


def test_exporter_is_registered_for_otel_traces_exporter() -> None:
    """OTEL_TRACES_EXPORTER=llmpulse_kafka finds the exporter through its entry point."""
    from importlib.metadata import entry_points

    from llmpulse.collectors import KafkaSpanExporter

    (ep,) = entry_points(group="opentelemetry_traces_exporter", name="llmpulse_kafka")
    assert ep.load() is KafkaSpanExporter


def test_missing_extra_error_names_the_extra() -> None:
    """A missing optional dependency says which extra to install."""
    from llmpulse import MissingExtraError

    err = MissingExtraError("faust")
    assert "pip install 'llmpulse[pipeline]'" in str(err)
    assert isinstance(err, ImportError)
