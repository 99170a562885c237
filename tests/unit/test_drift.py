"""Drift detection on streams with known change points: delay and false-alarm bounds."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import numpy as np
import pytest

from llmpulse.stream_jobs.analytics.drift import DriftMonitor
from llmpulse.stream_jobs.bench.drift_eval import make_stream

T0 = datetime(2026, 1, 1, tzinfo=UTC)


def feed(mon: DriftMonitor, values: np.ndarray, metric: str = "latency_p50_ms") -> list:
    out = []
    for t, v in enumerate(values.tolist()):
        ev = mon.update(T0 + timedelta(minutes=t), "svc", "gpt-4o", metric, v)
        if ev:
            out.append((t, ev))
    return out


@pytest.mark.parametrize("tail", ["lognormal", "pareto"])
def test_sudden_doubling_is_found_quickly_and_once(tail: str) -> None:
    """+100% at minute 600: one event within 30 minutes, none before."""
    rng = np.random.default_rng(3)
    events = feed(DriftMonitor(), make_stream(rng, 1200, 600, 1.0, 0, tail))
    assert len(events) == 1
    t, ev = events[0]
    assert 600 <= t <= 630
    assert ev.after_value > 1.5 * ev.before_value
    assert ev.change_pct > 50 and ev.kind == "shift" and ev.metric == "latency_p50_ms"


def test_gradual_ramp_is_found_within_the_ramp() -> None:
    """+50% over two hours is flagged before the ramp ends."""
    rng = np.random.default_rng(5)
    events = feed(DriftMonitor(), make_stream(rng, 1500, 700, 0.5, 120, "lognormal"))
    assert events and 700 <= events[0][0] <= 820


def test_no_false_alarm_on_three_days_of_a_stable_series() -> None:
    """4320 stable minutes of heavy-tailed latency raise no event."""
    rng = np.random.default_rng(11)
    assert feed(DriftMonitor(), make_stream(rng, 4320, None, 0.0, 0, "pareto")) == []


def test_noisy_rates_on_few_calls_do_not_alarm() -> None:
    """A 2% error rate seen through 5 calls a minute is noise, not drift."""
    rng = np.random.default_rng(2)
    rates = rng.binomial(5, 0.02, 3000) / 5
    assert feed(DriftMonitor(), rates, metric="error_rate") == []


def test_state_survives_a_restart() -> None:
    """dumps/loads mid-stream gives the same events as an uninterrupted monitor."""
    rng = np.random.default_rng(9)
    values = make_stream(rng, 1000, 500, 1.0, 0, "lognormal")
    whole = feed(DriftMonitor(), values)
    first = DriftMonitor()
    feed(first, values[:450])
    restored = DriftMonitor.loads(first.dumps())
    rest = [(t + 450, ev) for t, ev in feed(restored, values[450:])]
    assert [t for t, _ in rest] == [t for t, _ in whole]


def test_response_model_change_is_one_explicit_event() -> None:
    """A new snapshot answering the same requested model is reported once."""
    mon = DriftMonitor()
    seen = [
        mon.observe_response_model(T0, "svc", "gpt-4o", m)
        for m in ["gpt-4o-2024-08-06"] * 3 + ["gpt-4o-2024-11-20"] * 3
    ]
    events = [e for e in seen if e]
    assert len(events) == 1
    assert events[0].kind == "response_model_changed"
    assert "gpt-4o-2024-11-20" in events[0].detail and "2024-08-06" in events[0].detail
