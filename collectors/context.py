"""Business-transaction context: every span started inside is tagged with it.

>>> with transaction("order-123", risk_tier="high", team="payments") as tx:  # doctest: +SKIP
...     with tx.attempt(1):
...         client.chat.completions.create(...)   # span carries the four tags + retry
"""

from __future__ import annotations

import collections
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import Any

from opentelemetry.context import Context
from opentelemetry.sdk.trace import ReadableSpan, Span, SpanProcessor
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SpanExporter

__all__ = [
    "Transaction",
    "TransactionBatchSpanProcessor",
    "TransactionSpanProcessor",
    "current_transaction",
    "transaction",
]

TRANSACTION_ID = "llmpulse.transaction.id"
RISK_TIER = "llmpulse.risk_tier"
TEAM = "llmpulse.team"
FEATURE = "llmpulse.feature"
RETRY_ATTEMPT = "llmpulse.retry.attempt"

_current: ContextVar[Transaction | None] = ContextVar("llmpulse_transaction", default=None)
_attempt: ContextVar[int | None] = ContextVar("llmpulse_attempt", default=None)


@dataclass(frozen=True)
class Transaction:
    """A business transaction (an order, a ticket, a chat turn) and its tags."""

    id: str
    risk_tier: str | None = None
    team: str | None = None
    feature: str | None = None
    extra: dict[str, str] = field(default_factory=dict)

    def attributes(self) -> dict[str, str]:
        out = {TRANSACTION_ID: self.id, **self.extra}
        for key, value in ((RISK_TIER, self.risk_tier), (TEAM, self.team), (FEATURE, self.feature)):
            if value:
                out[key] = value
        return out

    @contextmanager
    def attempt(self, n: int) -> Iterator[None]:
        """Mark spans inside as retry attempt ``n`` (0 = first try)."""
        token = _attempt.set(n)
        try:
            yield
        finally:
            _attempt.reset(token)


@contextmanager
def transaction(
    transaction_id: str,
    *,
    risk_tier: str | None = None,
    team: str | None = None,
    feature: str | None = None,
    **extra: str,
) -> Iterator[Transaction]:
    """Tag every span started inside with the transaction id and its tags."""
    tx = Transaction(
        str(transaction_id),
        risk_tier,
        team,
        feature,
        {f"llmpulse.{k}": str(v) for k, v in extra.items()},
    )
    token = _current.set(tx)
    try:
        yield tx
    finally:
        _current.reset(token)


def current_transaction() -> Transaction | None:
    """The transaction of the current context, if any."""
    return _current.get()


def _tag_span(span: Span) -> None:
    """Copy the current transaction's tags (and retry attempt) onto ``span``."""
    tx = _current.get()
    if tx is not None:
        span.set_attributes(tx.attributes())
    attempt = _attempt.get()
    if attempt is not None:
        span.set_attribute(RETRY_ATTEMPT, attempt)


class TransactionBatchSpanProcessor(BatchSpanProcessor):
    """The SDK's batch processor, tagging each span with the current transaction as
    it starts: what :func:`~llmpulse.collectors.install` sets up. One processor
    call per span event instead of two (about 1 us less per span on the app thread
    than a :class:`TransactionSpanProcessor` beside a ``BatchSpanProcessor``).

    Spans the SDK's queue loses (full, or still queued when shutdown's time is up)
    are counted in the exporter's stats (``spans_dropped_in_queue``) where it has a
    ``dropped_in_queue`` method; ``shutdown`` takes at most ``shutdown_timeout_ms``.
    """

    def __init__(self, exporter: SpanExporter, *, shutdown_timeout_ms: int = 5_000, **kw: Any):
        super().__init__(exporter, **kw)
        self.shutdown_timeout_ms = shutdown_timeout_ms
        self._count_drop = getattr(exporter, "dropped_in_queue", None)
        # The SDK's own queue is a bounded deque that drops its oldest span silently
        # when full: swap in one that counts each span it drops (same behaviour).
        self._bp = getattr(self, "_batch_processor", None)
        queue = getattr(self._bp, "_queue", None)
        if self._count_drop is not None and isinstance(queue, collections.deque):
            self._bp._queue = _CountingQueue(queue.maxlen, self._count_drop)  # type: ignore[union-attr]

    def on_start(self, span: Span, parent_context: Context | None = None) -> None:
        _tag_span(span)

    def _queued(self) -> int:
        queue = getattr(self._bp, "_queue", None)
        return len(queue) if queue is not None else 0

    def on_end(self, span: ReadableSpan) -> None:
        bp = self._bp
        if (
            self._count_drop is not None
            and bp is not None
            and bp._shutdown
            and span.context is not None
            and span.context.trace_flags.sampled
        ):
            self._count_drop(1, "ended after the span processor was shut down")
        super().on_end(span)

    def shutdown(self, timeout_millis: int | None = None) -> None:
        if self._bp is None:
            super().shutdown()
            return
        self._bp.shutdown(timeout_millis=timeout_millis or self.shutdown_timeout_ms)
        if self._count_drop is not None:
            self._count_drop(self._queued(), "still queued when shutdown's time was up")


class TransactionSpanProcessor(SpanProcessor):
    """Copies the current transaction's tags onto each span when it starts (to add
    beside any other exporter's processor)."""

    def on_start(self, span: Span, parent_context: Context | None = None) -> None:
        _tag_span(span)

    def on_end(self, span: ReadableSpan) -> None:
        return None

    def shutdown(self) -> None:
        return None

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        return True


class _CountingQueue(collections.deque):  # type: ignore[type-arg]
    """A bounded deque that counts what it drops: appending to a full one pushes the
    oldest out (as the SDK's own deque does). One lock keeps count and content exact
    while the export thread pops."""

    def __init__(self, maxlen: int | None, count_drop: Callable[[int, str], None]) -> None:
        super().__init__((), maxlen)
        self._count_drop = count_drop
        self._lock = threading.Lock()

    def appendleft(self, item: Any) -> None:
        with self._lock:
            full = self.maxlen is not None and len(self) >= self.maxlen
            super().appendleft(item)
        if full:
            self._count_drop(1, "the SDK span queue was full")

    def pop(self) -> Any:  # type: ignore[override]  # deque.pop takes no index
        with self._lock:
            return super().pop()
