"""Let the worker reuse its large buffers instead of taking fresh pages for each one.

Every Kafka message the worker reads (~280 KB for 512 spans) and every block it
inserts (~30 MB for 100k rows) is a large allocation. With glibc's defaults many of
them get fresh pages from the kernel, which zeroes each page on first touch: perf
put 12-17 % of the worker's CPU in ``clear_page_erms``. With a 64 MiB mmap
threshold and a 256 MiB trim threshold the buffers are reused from the heap
(1 % left in the Python threads), for up to 256 MiB more resident memory (stated
with the benchmark's peak memory).

One arena: glibc gives each thread that allocates its own arena, made of 64 MiB
heaps that are unmapped again as soon as they empty. The Kafka fetch thread's
16 MiB responses and their copies overflow such a heap, so each fetch took a fresh
one and the kernel zeroed it again (perf: page clearing under ``memmove`` on that
thread). With ``MALLOC_ARENA_MAX=1`` every thread allocates from the main heap,
which the trim threshold keeps: a quarter fewer page faults at the same rate. The
threads hardly contend for it (Python's run one at a time; the embedded ClickHouse
engine has its own allocator).

glibc reads these settings when the process starts (``mallopt`` later only did half
as well), so ``llmpulse worker`` re-executes itself once with them in its
environment: same PID, same arguments. Set them yourself to choose other values,
or ``LLMPULSE_ALLOCATOR_TUNING=false`` to leave the allocator alone. Other C
libraries ignore them.
"""

from __future__ import annotations

import os
import sys

__all__ = ["ALLOCATOR_ENV", "reexec_with_tuned_allocator"]

ALLOCATOR_ENV = {
    "MALLOC_MMAP_THRESHOLD_": str(64 << 20),
    "MALLOC_TRIM_THRESHOLD_": str(256 << 20),
    "MALLOC_ARENA_MAX": "1",
}


def reexec_with_tuned_allocator() -> None:
    """Re-execute this process with :data:`ALLOCATOR_ENV` unless it already has them
    (or is not on Linux). Returns only when nothing needs doing."""
    if not sys.platform.startswith("linux"):
        return
    if all(k in os.environ for k in ALLOCATOR_ENV):
        return
    env = {**ALLOCATOR_ENV, **os.environ}  # values the user set win
    sys.stdout.flush()
    sys.stderr.flush()
    os.execve(sys.executable, [sys.executable, *sys.orig_argv[1:]], env)
