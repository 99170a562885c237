"""The compatibility suite's venvs: one per set of agreeing pins, outside git.

Each lives under ``$XDG_CACHE_HOME/llmpulse/compat/<name>/`` (``~/.cache`` by
default) and is reused while a marker file inside it matches the pins of
``versions.toml`` and this checkout's path; otherwise the pins are installed into
it again (pip leaves what already matches) and llmpulse is installed from this
checkout with ``pip install -e . --no-deps``, with cargo off the PATH so the
install never rebuilds the checkout's compiled worker path in place (the app side
needs none of it).
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import subprocess
import sys
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

__all__ = ["ROOT", "VERSIONS", "Library", "ensure_venv", "libraries", "venv_dir"]

ROOT = Path(__file__).resolve().parents[2]
VERSIONS = Path(__file__).with_name("versions.toml")


@dataclass(frozen=True)
class Library:
    """One library under test: its venv, the packages it is named by, its call kinds."""

    name: str
    venv: str
    names: tuple[str, ...]
    kinds: tuple[str, ...]
    env: tuple[tuple[str, str], ...] = ()
    #: The instrumentations its app turns on (app.py's names); the library's own name.
    instrument: tuple[str, ...] = ()


def _config() -> dict[str, Any]:
    return tomllib.loads(VERSIONS.read_text())


def libraries() -> dict[str, Library]:
    """Every library of ``versions.toml``, by name."""
    return {
        name: Library(
            name,
            entry["venv"],
            tuple(entry["names"]),
            tuple(entry["kinds"]),
            tuple(sorted(entry.get("env", {}).items())),
            tuple(entry.get("instrument", [name])),
        )
        for name, entry in _config()["libraries"].items()
    }


def pins(venv: str) -> list[str]:
    """The exact requirements of ``venv``: its own packages and the base ones."""
    config = _config()
    return [*config["venvs"][venv]["packages"], *config["base"]["packages"]]


def pinned_version(venv: str, package: str) -> str:
    """The version ``versions.toml`` pins ``package`` at in ``venv``."""
    for requirement in pins(venv):
        name, _, version = requirement.partition("==")
        if name.lower() == package.lower():
            return version
    raise KeyError(f"{package} is not pinned in venv {venv}")


def venv_dir(name: str) -> Path:
    base = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    return base / "llmpulse" / "compat" / name


def _run(cmd: list[str], env: dict[str, str] | None = None) -> None:
    out = subprocess.run(cmd, capture_output=True, text=True, env=env, check=False)
    if out.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} failed:\n{out.stdout[-3000:]}\n{out.stderr[-3000:]}")


def ensure_venv(name: str) -> Path:
    """The python of venv ``name``, made or brought up to date first (under a lock)."""
    folder = venv_dir(name)
    folder.parent.mkdir(parents=True, exist_ok=True)
    python = folder / "bin" / "python"
    wanted = json.dumps({"pins": pins(name), "checkout": str(ROOT)}, sort_keys=True)
    digest = hashlib.sha256(wanted.encode()).hexdigest()
    marker = folder / ".llmpulse-compat"
    with open(folder.parent / f".{name}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if python.exists() and marker.exists() and marker.read_text() == digest:
            return python
        if not python.exists():
            _run([sys.executable, "-m", "venv", str(folder)])
        pip = [str(python), "-m", "pip", "install", "-q", "--disable-pip-version-check"]
        _run([*pip, *pins(name)])
        # No cargo on the PATH: setuptools-rust then skips the optional native module
        # instead of rebuilding it inside the (shared) checkout.
        path = os.pathsep.join(
            p for p in os.environ.get("PATH", "").split(os.pathsep) if ".cargo" not in p
        )
        _run([*pip, "--no-deps", "-e", str(ROOT)], env={**os.environ, "PATH": path})
        marker.write_text(digest)
    return python
