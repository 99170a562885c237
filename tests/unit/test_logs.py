"""Rate-limited logs and a shutdown that does not wait for a batch in hand."""

from __future__ import annotations

import logging

from llmpulse.stream_jobs.logs import RateLimitFilter, rate_limit_handlers


def _record(msg: str, args: tuple[object, ...] = ()) -> logging.LogRecord:
    return logging.LogRecord("aiokafka", logging.ERROR, __file__, 1, msg, args, None)


def test_a_failing_loop_logs_once_per_interval_and_says_how_many_were_held() -> None:
    """90 identical errors in a second: one line; the next after the interval counts them."""
    now = [0.0]
    f = RateLimitFilter(10.0, clock=lambda: now[0])
    passed = [f.filter(_record("Unable connect to %r", ("b:9092",))) for _ in range(90)]
    assert passed.count(True) == 1
    assert f.filter(_record("other message"))  # another template is not held back
    now[0] = 10.5
    later = _record("Unable connect to %r", ("b:9092",))
    assert f.filter(later)
    assert "89 similar lines held back" in later.getMessage()


def test_rate_limit_is_added_to_every_handler_once() -> None:
    """Each handler gets the filter once, however often it is asked."""
    logger = logging.getLogger("llmpulse-test-logs")
    logger.addHandler(logging.NullHandler())
    logger.addHandler(logging.StreamHandler())
    assert rate_limit_handlers(logger=logger) == 2
    assert rate_limit_handlers(logger=logger) == 0


def test_shutdown_does_not_wait_for_the_batch_in_hand(chdb_client: object) -> None:
    """SIGTERM mid-backoff: Faust must not wait for the unacked batch (stream_wait_empty)."""
    from llmpulse.stream_jobs import Pipeline
    from llmpulse.stream_jobs.app import create_app
    from llmpulse.stream_jobs.settings import WorkerSettings
    from llmpulse.stream_jobs.sink import ClickHouseSink

    app, _ = create_app(
        WorkerSettings(),
        Pipeline(native=False),
        ClickHouseSink(chdb_client),  # type: ignore[arg-type]
    )
    assert app.conf.stream_wait_empty is False
