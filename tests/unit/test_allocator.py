"""The worker re-executes itself once with glibc's allocator settings, never twice."""

from __future__ import annotations

import sys
from typing import Any

import pytest

from llmpulse.stream_jobs import allocator
from llmpulse.stream_jobs.allocator import ALLOCATOR_ENV, reexec_with_tuned_allocator


class Exec(Exception):
    pass


@pytest.fixture
def execs(monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, list[str], dict[str, str]]]:
    calls: list[tuple[str, list[str], dict[str, str]]] = []

    def fake(path: str, argv: list[str], env: dict[str, str]) -> Any:
        calls.append((path, argv, env))
        raise Exec

    monkeypatch.setattr(allocator.os, "execve", fake)
    monkeypatch.setattr(allocator.sys, "platform", "linux")
    return calls


def test_reexecs_the_same_command_with_the_settings(
    execs: list, monkeypatch: pytest.MonkeyPatch
) -> None:
    for key in ALLOCATOR_ENV:
        monkeypatch.delenv(key, raising=False)
    monkeypatch.setattr(allocator.sys, "orig_argv", ["py", "-m", "cli", "worker", "--x", "1"])
    with pytest.raises(Exec):
        reexec_with_tuned_allocator()
    path, argv, env = execs[0]
    assert path == sys.executable and argv == [sys.executable, "-m", "cli", "worker", "--x", "1"]
    assert env["MALLOC_MMAP_THRESHOLD_"] == str(64 << 20)
    assert env["MALLOC_TRIM_THRESHOLD_"] == str(256 << 20)
    assert env["MALLOC_ARENA_MAX"] == "1"


def test_user_values_win_and_a_tuned_process_does_not_reexec(
    execs: list, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("MALLOC_MMAP_THRESHOLD_", raising=False)
    monkeypatch.setenv("MALLOC_TRIM_THRESHOLD_", "12345")
    monkeypatch.setenv("MALLOC_ARENA_MAX", "4")
    with pytest.raises(Exec):
        reexec_with_tuned_allocator()
    assert execs[0][2]["MALLOC_TRIM_THRESHOLD_"] == "12345"
    assert execs[0][2]["MALLOC_ARENA_MAX"] == "4"
    monkeypatch.setenv("MALLOC_MMAP_THRESHOLD_", "999")
    reexec_with_tuned_allocator()  # all set: returns, no second exec
    assert len(execs) == 1


def test_not_on_other_platforms(execs: list, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(allocator.sys, "platform", "darwin")
    for key in ALLOCATOR_ENV:
        monkeypatch.delenv(key, raising=False)
    reexec_with_tuned_allocator()
    assert execs == []
