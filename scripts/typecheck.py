"""Type-check the installed package names as mypy would see an installed llmpulse.

The import names (``llmpulse.collectors``, ``llmpulse.stream_jobs``, ...) map onto the
card's top-level folders through ``[tool.setuptools] package-dir``; the editable
install reaches them through an import hook that mypy does not follow, so every
``llmpulse.*`` type would silently become ``Any``. This script lays a link tree of
the sources under ``build/typecheck-PID`` from that mapping (fresh on every run, so a new
module is always seen), runs mypy on it and prints the findings with the real paths.

    python scripts/typecheck.py              # the whole package
    python scripts/typecheck.py FILE ...     # these files, importing the package
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
TREE = ROOT / "build" / f"typecheck-{os.getpid()}"  # one per run: runs may overlap


def link_tree() -> Path:
    """Symlink every source file of every package under TREE; return TREE."""
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]
    shutil.rmtree(TREE, ignore_errors=True)
    for package, folder in config["package-dir"].items():
        target = TREE.joinpath(*package.split("."))
        target.mkdir(parents=True, exist_ok=True)
        for src in sorted((ROOT / folder).iterdir()):
            if src.is_file() and src.suffix in {".py", ".pyi", ".typed"}:
                (target / src.name).symlink_to(src)
    return TREE


def _source(module_path: str) -> Path:
    """The source file of ``llmpulse/...`` (the tree is gone once mypy has run)."""
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]
    parts = module_path.split("/")
    for depth in range(len(parts) - 1, 0, -1):
        folder = config["package-dir"].get(".".join(parts[:depth]))
        if folder is not None:
            return ROOT / folder / "/".join(parts[depth:])
    return ROOT / module_path


def main(argv: list[str]) -> int:
    tree = link_tree()
    targets = [str(Path(a).resolve()) for a in argv] or ["-p", "llmpulse"]
    cmd = [sys.executable, "-m", "mypy", "--config-file", str(ROOT / "pyproject.toml")]
    env = {**os.environ, "MYPY_CACHE_DIR": str(ROOT / ".mypy_cache")}
    try:
        out = subprocess.run([*cmd, *targets], cwd=tree, env=env, capture_output=True, text=True)
    finally:
        shutil.rmtree(tree, ignore_errors=True)
    for line in (out.stdout + out.stderr).splitlines():
        path, sep, rest = line.partition(":")
        if sep and path.startswith("llmpulse/"):  # a link in the tree: its real path
            line = f"{os.path.relpath(_source(path), Path.cwd())}:{rest}"
        elif sep and Path(path).is_absolute():
            line = f"{os.path.relpath(path, Path.cwd())}:{rest}"
        print(line)
    return out.returncode


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
