"""The benchmark's synthetic traffic is what it claims: N spans, S series, all valid."""

from __future__ import annotations

from llmpulse.stream_jobs import Message, Pipeline
from llmpulse.stream_jobs.bench.payloads import MODELS, messages


def test_payloads_hold_the_requested_spans_and_series() -> None:
    """5,000 spans over 200 series: every span stored, series spread as asked."""
    payloads = list(messages(5_000, series=200, per_message=512))
    assert len(payloads) == 10  # 9 full messages and one of 392
    res = Pipeline().process([Message("b", 0, i, p) for i, p in enumerate(payloads)])
    assert res.call_count == 5_000 and not res.dead_letters
    series = {(c.service_name, c.request_model) for c in res.records()}
    assert len({s for s, _ in series}) == 200 // len(MODELS)
    assert len(series) > 150
    assert all(c.cache_read_tokens <= c.input_tokens for c in res.records())
    assert sum(c.price_status == "unknown_model" for c in res.records()) > 0  # acme-llm-7b
