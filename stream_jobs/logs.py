"""Rate-limited logging: a component that fails in a loop (a client while its broker
is down) must not write dozens of lines a second.

:class:`RateLimitFilter` lets each message template through at most once per
``interval_s`` per logger; the next one that passes says how many were held back.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable

__all__ = ["RateLimitFilter", "rate_limit_handlers"]


class RateLimitFilter(logging.Filter):
    """At most one record per (logger, template, level) per ``interval_s``."""

    def __init__(
        self, interval_s: float = 10.0, clock: Callable[[], float] = time.monotonic
    ) -> None:
        super().__init__()
        self.interval_s = interval_s
        self.clock = clock
        self._last: dict[tuple[str, str, int], tuple[float, int]] = {}
        self._lock = threading.Lock()

    def filter(self, record: logging.LogRecord) -> bool:
        key = (record.name, str(record.msg), record.levelno)
        now = self.clock()
        with self._lock:
            last, held = self._last.get(key, (float("-inf"), 0))
            if now - last < self.interval_s:
                self._last[key] = (last, held + 1)
                return False
            self._last[key] = (now, 0)
        if held:
            record.msg = f"{record.msg} [{held} similar lines held back]"
        return True


def rate_limit_handlers(interval_s: float = 10.0, logger: logging.Logger | None = None) -> int:
    """Add one shared :class:`RateLimitFilter` to every handler of ``logger`` (the
    root logger by default) that has none yet; return how many got it."""
    target = logger or logging.getLogger()
    shared = RateLimitFilter(interval_s)
    added = 0
    for handler in target.handlers:
        if not any(isinstance(f, RateLimitFilter) for f in handler.filters):
            handler.addFilter(shared)
            added += 1
    return added
