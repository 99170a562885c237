"""Measure drift detectors on synthetic per-minute streams with known change points.

Streams are what the detectors see in production: one value per minute, the mean
of that minute's calls. Per-call latency is lognormal or heavy-tailed (Pareto);
shifts are sudden or gradual (a ramp). For each candidate detector this reports
the median and p90 detection delay (minutes after the change), the share of
changes missed (not detected within ``horizon`` minutes), and false alarms per
100k minutes on streams without a change and before the change.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from datetime import UTC, datetime

import numpy as np

from llmpulse.stream_jobs.analytics.drift import DETECTORS, DriftMonitor

__all__ = ["DetectorScore", "evaluate", "make_stream"]

_T0 = datetime(2026, 1, 1, tzinfo=UTC)


@dataclass(frozen=True)
class DetectorScore:
    detector: str
    scenario: str
    delay_p50: float
    delay_p90: float
    missed_pct: float
    false_alarms_per_100k: float
    samples: int


def make_stream(
    rng: np.random.Generator,
    minutes: int,
    change_at: int | None,
    shift: float,
    ramp: int,
    tail: str,
    calls_per_minute: int = 40,
) -> np.ndarray:
    """Per-minute mean latency (ms): baseline 800 ms, times (1 + shift) after the change."""
    level = np.ones(minutes)
    if change_at is not None:
        t = np.arange(minutes) - change_at
        level = 1 + shift * np.clip(t / max(ramp, 1), 0, 1) * (t >= 0)
    if tail == "pareto":
        calls = (rng.pareto(2.5, (minutes, calls_per_minute)) + 1) * 500
    else:
        calls = rng.lognormal(math.log(800), 0.6, (minutes, calls_per_minute))
    return np.asarray(calls.mean(axis=1) * level)


SCENARIOS = {
    "sudden +30% lognormal": dict(shift=0.3, ramp=0, tail="lognormal"),
    "sudden +100% pareto": dict(shift=1.0, ramp=0, tail="pareto"),
    "gradual +50% over 2h lognormal": dict(shift=0.5, ramp=120, tail="lognormal"),
}


def evaluate(
    streams: int = 40, minutes: int = 1500, horizon: int = 240, seed: int = 1
) -> list[DetectorScore]:
    """Score every candidate detector on every scenario."""
    out: list[DetectorScore] = []
    for name in DETECTORS:
        for scenario, params in SCENARIOS.items():
            rng = np.random.default_rng(seed)
            delays: list[float] = []
            missed = false = samples = 0
            for i in range(streams):
                change = int(rng.integers(minutes // 3, minutes - horizon))
                changed = make_stream(rng, minutes, change, **params)  # type: ignore[arg-type]
                flat = make_stream(rng, minutes, None, **params)  # type: ignore[arg-type]
                d, f = _run(name, changed, change, horizon)
                false += f + _run(name, flat, None, horizon)[1]
                samples += change + minutes
                if d is None:
                    missed += 1
                else:
                    delays.append(d)
                del i
            out.append(
                DetectorScore(
                    detector=name,
                    scenario=scenario,
                    delay_p50=float(np.median(delays)) if delays else math.nan,
                    delay_p90=float(np.quantile(delays, 0.9)) if delays else math.nan,
                    missed_pct=100 * missed / streams,
                    false_alarms_per_100k=1e5 * false / samples,
                    samples=samples,
                )
            )
    return out


def _run(
    name: str, values: np.ndarray, change: int | None, horizon: int
) -> tuple[float | None, int]:
    mon = DriftMonitor(detector=name)
    false = 0
    delay = None
    for t, v in enumerate(values.tolist()):
        ev = mon.update(_T0, "s", "m", "latency_ms", v)
        if ev is None:
            continue
        if change is None or t < change:
            false += 1
        elif delay is None and t - change <= horizon:
            delay = float(t - change)
            break
    return delay, false


def table(scores: list[DetectorScore]) -> str:
    lines = [
        f"{'detector':<13}{'scenario':<32}{'delay p50':>10}{'p90':>6}{'missed%':>9}{'FA/100k':>9}"
    ]
    for s in scores:
        lines.append(
            f"{s.detector:<13}{s.scenario:<32}{s.delay_p50:>10.0f}{s.delay_p90:>6.0f}"
            f"{s.missed_pct:>9.1f}{s.false_alarms_per_100k:>9.1f}"
        )
    return "\n".join(lines)


if __name__ == "__main__":
    import json
    import sys

    scores = evaluate()
    print(table(scores))
    if "--json" in sys.argv:
        print(json.dumps([asdict(s) for s in scores]))
