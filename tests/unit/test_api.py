"""The public API: each package lists what it exports, sorted, complete, and it all exists."""

from __future__ import annotations
import __future__

import ast
import importlib
import inspect
import json
import pkgutil
import re
import subprocess
import sys
import tomllib
import types
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SETUPTOOLS = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]


def _walk(name: str, folder: Path) -> Iterator[str]:
    if not (folder / "__init__.py").is_file():
        return  # a folder of data files (schemas/clickhouse: SQL), not a Python package
    yield name
    for info in pkgutil.iter_modules([str(folder)]):
        if info.ispkg:
            yield from _walk(f"{name}.{info.name}", folder / info.name)


def _packages() -> list[str]:
    """Every package under llmpulse, walked with pkgutil from the folders pyproject maps.

    The import names map onto top-level folders (``llmpulse.collectors`` is
    ``collectors/``), which an editable install reaches through an import hook that
    pkgutil cannot walk from ``llmpulse.__path__``: so the walk starts from each
    mapped folder, without importing anything.
    """
    found: set[str] = set()
    for name, folder in SETUPTOOLS["package-dir"].items():
        found.update(_walk(name, ROOT / folder))
    return sorted(found)


PACKAGES = _packages()
#: Modules that are a public entry point of their own (imported by name, not re-exported).
MODULES = ["llmpulse.collectors.testing", "llmpulse.stream_jobs.memory_sink"]

#: What each package's docstring (or the README) promises it exports.
PROMISED: dict[str, set[str]] = {
    "llmpulse": {"LlmpulseError", "MissingExtraError", "RetryLater", "__version__"},
    # README's one line, its transaction context and its drop counters
    "llmpulse.collectors": {"ExporterStats", "KafkaSpanExporter", "install", "transaction"},
    "llmpulse.schemas": {"CONTENT_KEYS", "CallRecord", "DeadLetter", "is_content_key"},
    "llmpulse.stream_jobs": {
        "BatchResult",
        "ClickHouseSink",
        "Ingest",
        "MemorySink",
        "Message",
        "Pipeline",
        "PriceCatalogue",
    },
    "llmpulse.stream_jobs.analytics": {"AnalyticsJob", "DDSketch", "DriftMonitor", "sql_quantile"},
    "llmpulse.stream_jobs.bench": set(),  # the `llmpulse bench` command is its interface
    "llmpulse.stream_jobs.broker": {"BrokerInfo", "LocalBroker"},
    "llmpulse.stream_jobs.demo": set(),  # the `llmpulse demo` / `traffic` commands
    "llmpulse.stream_jobs.grafana": {"DASHBOARDS", "build_dashboard", "check_panels"},
    "llmpulse.stream_jobs.report": {
        "build_daily_report",
        "send_daily_report",
        "write_report_files",
    },
    "llmpulse.collectors.testing": {"InMemoryKafkaExporter", "install_in_memory"},
    "llmpulse.stream_jobs.memory_sink": {"MemorySink"},
}


def _isort_key(name: str) -> tuple[int, str]:
    """isort-style order, as ruff's RUF022 keeps it: CONSTANTS, Classes, functions."""
    kind = 0 if name.isupper() else 1 if name[:1].isupper() else 2
    return kind, name


def _package_public_names(mod: types.ModuleType) -> set[str]:
    """Names bound in a package ``__init__`` (imported or defined), submodules aside."""
    return {
        name
        for name, value in vars(mod).items()
        if not name.startswith("_")
        and not isinstance(value, types.ModuleType)
        and not isinstance(value, type(__future__.annotations))  # a `from __future__` flag
    }


def _module_public_names(mod: types.ModuleType) -> set[str]:
    """Names a module defines at top level (def, class, assignment), imports aside."""
    tree = ast.parse(inspect.getsource(mod))
    names: set[str] = set()
    for node in tree.body:
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
            names.add(node.name)
        elif isinstance(node, ast.Assign | ast.AnnAssign):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            names.update(t.id for t in targets if isinstance(t, ast.Name))
    return {n for n in names if not n.startswith("_")}


def test_the_walk_finds_every_package() -> None:
    """pkgutil finds the known packages, and each one is in pyproject's packages list."""
    assert {"llmpulse", "llmpulse.collectors", "llmpulse.stream_jobs.analytics"} <= set(PACKAGES)
    declared = set(SETUPTOOLS["packages"])
    assert set(PACKAGES) <= declared, "a package the wheel would leave out"


@pytest.mark.parametrize("name", PACKAGES + MODULES)
def test_all_is_sorted_and_exists(name: str) -> None:
    """__all__ is sorted (isort style) and every listed name exists."""
    mod = importlib.import_module(name)
    assert hasattr(mod, "__all__"), f"{name} has no __all__"
    exported = list(mod.__all__)
    assert exported == sorted(exported, key=_isort_key)
    assert len(set(exported)) == len(exported)
    for attr in exported:
        assert hasattr(mod, attr), f"{name}.{attr}"


@pytest.mark.parametrize("name", PACKAGES)
def test_package_all_lists_every_public_name(name: str) -> None:
    """Every public name in a package __init__ (not a submodule) is in __all__."""
    mod = importlib.import_module(name)
    assert _package_public_names(mod) - set(mod.__all__) == set()


@pytest.mark.parametrize("name", MODULES)
def test_module_all_lists_every_public_name(name: str) -> None:
    """Every public name a module defines is in its __all__."""
    mod = importlib.import_module(name)
    assert _module_public_names(mod) - set(mod.__all__) == set()


@pytest.mark.parametrize("name", PACKAGES + MODULES)
def test_exports_what_its_docs_promise(name: str) -> None:
    """Each package exports what its docstring and the README say it does."""
    mod = importlib.import_module(name)
    assert name in PROMISED, f"{name}: say what it promises in PROMISED"
    assert PROMISED[name] - set(mod.__all__) == set()


def test_the_root_exports_the_whole_exception_hierarchy() -> None:
    """Every error class of llmpulse.errors is exported by llmpulse."""
    import llmpulse
    from llmpulse import errors

    classes = {
        n
        for n, v in vars(errors).items()
        if isinstance(v, type) and issubclass(v, Exception) and v.__module__ == errors.__name__
    }
    assert "LlmpulseError" in classes
    assert classes - set(llmpulse.__all__) == set()


def test_collectors_export_every_name_the_docs_call() -> None:
    """Each `lp.NAME` in the README and the collectors docstring is exported."""
    import llmpulse.collectors as lp

    text = (ROOT / "README.md").read_text() + (lp.__doc__ or "")
    called = set(re.findall(r"\blp\.([A-Za-z_]\w*)", text))
    assert {"install", "transaction", "llm_call", "record_llm_call"} <= called
    assert called - set(lp.__all__) == set()


@pytest.mark.parametrize("name", PACKAGES + MODULES)
def test_modules_named_in_docstrings_exist(name: str) -> None:
    """Every :mod:`llmpulse...` a docstring points to can be imported."""
    mod = importlib.import_module(name)
    for target in re.findall(r":mod:`~?(llmpulse[\w.]*)`", mod.__doc__ or ""):
        importlib.import_module(target)


HEAVY = (
    "faust",
    "river",
    "numpy",
    "chdb",
    "clickhouse_connect",
    "aiokafka",
    "pydantic",
    "pydantic_settings",
)
IN_MEMORY_EXPORT = """
from opentelemetry.sdk.trace import TracerProvider
from llmpulse.collectors.testing import install_in_memory
provider = TracerProvider()
exporter = install_in_memory(tracer_provider=provider)
provider.get_tracer("t").start_span("chat").end()
provider.force_flush()
assert len(exporter.get_spans()) == 1
"""


@pytest.mark.parametrize(
    ("code", "heavy"),
    [
        ("import llmpulse.collectors as c; c.KafkaSpanExporter()", HEAVY),
        (IN_MEMORY_EXPORT, (*HEAVY, "kafka", "llmpulse.stream_jobs")),
    ],
    ids=["collectors", "collectors.testing"],
)
def test_app_side_import_pulls_nothing_heavy(code: str, heavy: tuple[str, ...]) -> None:
    """The app side loads no Faust, river, numpy, chDB, ClickHouse client or pydantic;
    its in-memory double, exporting a span, not even kafka-python or the pipeline."""
    probe = (
        f"{code}\nimport sys, json\nprint(json.dumps([m for m in {heavy!r} if m in sys.modules]))"
    )
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
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
    assert all(p == "llmpulse" or p.startswith("llmpulse.") for p in SETUPTOOLS["packages"])


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


def test_install_hints_name_only_extras_that_exist() -> None:
    """MissingExtraError's extras are pyproject's, and every call in the source names one."""
    import re

    from llmpulse.errors import EXTRAS

    meta = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    assert set(EXTRAS) == set(meta["optional-dependencies"])
    for folder in ("collectors", "stream_jobs", "schemas", "llmpulse"):
        for path in (ROOT / folder).rglob("*.py"):
            for extra in re.findall(r'MissingExtraError\([^,)]+,\s*"([^"]+)"', path.read_text()):
                assert extra in EXTRAS, f"{path}: {extra}"
