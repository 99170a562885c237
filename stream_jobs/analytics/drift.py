"""Online drift detection per series (service, model, metric) with river detectors.

Detectors see one value per series per closed minute (the minute's median
latency from its sketch — robust to the odd 30 s timeout —, tokens per call, cost
per call, error rate, truncation rate), never one per
event: the hot path stays cheap and a minute's mean is far less noisy than a
single heavy-tailed call. Values are standardised against the series' own
warm-up statistics, so one threshold fits milliseconds, tokens and rates alike.
A detection becomes one :class:`DriftEvent` (what, when, before/after, change);
the series then cools down and its detector restarts, so one shift is one event.
A change of response model for the same requested model is an explicit event.
State pickles (``dumps``/``loads``) so it survives a worker restart.
"""

from __future__ import annotations

import base64
import functools
import math
import pickle
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

__all__ = [
    "DETECTORS",
    "METRICS",
    "RESPONSE_MODEL_CHANGED",
    "DriftEvent",
    "DriftMonitor",
    "make_detector",
]

METRICS = (
    "latency_p50_ms",
    "input_tokens",
    "output_tokens",
    "cost_per_call",
    "error_rate",
    "truncation_rate",
)


@functools.cache
def _river(name: str) -> Any:
    """A river.drift class, imported once (river's lazy loader costs ~30 us a lookup)."""
    import river.drift

    return getattr(river.drift, name)


def _page_hinkley() -> Any:
    return _river("PageHinkley")(min_instances=10, delta=0.5, threshold=40.0, mode="both")


def _page_hinkley_fast() -> Any:
    return _river("PageHinkley")(min_instances=10, delta=0.5, threshold=25.0, mode="both")


def _adwin() -> Any:
    return _river("ADWIN")(delta=0.002, min_window_length=10, grace_period=15)


def _kswin() -> Any:
    return _river("KSWIN")(alpha=0.0005, window_size=60, stat_size=20, seed=1)


#: Candidate detectors (see ``llmpulse bench`` / ``bench/drift_eval.py`` for their figures).
DETECTORS: dict[str, Callable[[], Any]] = {
    "page_hinkley": _page_hinkley,
    "page_hinkley_fast": _page_hinkley_fast,
    "adwin": _adwin,
    "kswin": _kswin,
}
DEFAULT_DETECTOR = "page_hinkley"
#: The kind of event a new response model for a requested model makes.
RESPONSE_MODEL_CHANGED = "response_model_changed"


def make_detector(name: str = DEFAULT_DETECTOR) -> Any:
    return DETECTORS[name]()


@dataclass(frozen=True)
class DriftEvent:
    """One detected change of one metric of one series."""

    minute: datetime
    service_name: str
    model: str
    metric: str
    kind: str  # "shift" | "response_model_changed"
    detector: str
    before_value: float
    after_value: float
    change_pct: float
    detail: str


@dataclass
class _Series:
    detector: Any
    warm: list[float] = field(default_factory=list)
    mean: float = 0.0
    std: float = 1.0
    # What an event reads: 60 values before the last 5 (kept small: the state is saved).
    recent: deque[float] = field(default_factory=lambda: deque(maxlen=65))
    cooldown: int = 0


class DriftMonitor:
    """Feed closed minutes with :meth:`update`; collect events it returns."""

    #: Rates are binomial and noisy on a few calls a minute: their spread is at
    #: least this many percentage points, whatever the warm-up saw.
    RATE_STD_FLOOR = 0.05

    def __init__(
        self,
        detector: str = DEFAULT_DETECTOR,
        warmup: int = 20,
        cooldown: int = 30,
        min_std_ratio: float = 0.02,
    ) -> None:
        make_detector(detector)  # an unknown name fails now, and river loads before traffic
        self.detector_name = detector
        self.warmup = warmup
        self.cooldown = cooldown
        self.min_std_ratio = min_std_ratio
        self.series: dict[tuple[str, str, str], _Series] = {}
        self.response_models: dict[tuple[str, str], set[str]] = {}

    def update(
        self, minute: datetime, service: str, model: str, metric: str, value: float
    ) -> DriftEvent | None:
        """Feed one minute's value of one series; return an event if it drifted."""
        if not math.isfinite(value):
            return None
        key = (service, model, metric)
        s = self.series.get(key)
        if s is None:
            s = self.series[key] = _Series(make_detector(self.detector_name))
        s.recent.append(value)
        if len(s.warm) < self.warmup:
            s.warm.append(value)
            if len(s.warm) == self.warmup:
                self._calibrate(s, s.warm, metric.endswith("_rate"))
            return None
        s.detector.update((value - s.mean) / s.std)
        if s.cooldown > 0:
            s.cooldown -= 1
            return None
        if not s.detector.drift_detected:
            return None
        return self._event(minute, key, s)

    def _calibrate(self, s: _Series, values: list[float], rate: bool = False) -> None:
        mean = sum(values) / len(values)
        var = sum((v - mean) ** 2 for v in values) / max(len(values) - 1, 1)
        s.mean = mean
        floor = self.RATE_STD_FLOOR if rate else abs(mean) * self.min_std_ratio
        s.std = max(math.sqrt(var), floor, 1e-9)

    def _event(self, minute: datetime, key: tuple[str, str, str], s: _Series) -> DriftEvent:
        recent = list(s.recent)
        after = recent[-5:]
        before = recent[:-5][-60:] or recent
        b, a = sum(before) / len(before), sum(after) / len(after)
        change = (a - b) / abs(b) * 100 if b else math.inf
        # Restart on the new level: one shift, one event.
        s.detector = make_detector(self.detector_name)
        s.warm = list(after)
        s.cooldown = self.cooldown
        return DriftEvent(
            minute,
            key[0],
            key[1],
            key[2],
            "shift",
            self.detector_name,
            b,
            a,
            change,
            f"{key[2]} mean {b:.4g} -> {a:.4g} ({change:+.1f}%)",
        )

    def observe_response_model(
        self, minute: datetime, service: str, request_model: str, response_model: str
    ) -> DriftEvent | None:
        """A response model not seen before for this requested model is an event."""
        key = (service, request_model)
        seen = self.response_models.setdefault(key, set())
        if response_model in seen:
            return None
        seen.add(response_model)
        if len(seen) == 1:
            return None
        before = ", ".join(sorted(seen - {response_model}))
        return DriftEvent(
            minute,
            service,
            request_model,
            "response_model",
            RESPONSE_MODEL_CHANGED,
            "set",
            math.nan,
            math.nan,
            math.nan,
            f"{request_model} now answered by {response_model} (was {before})",
        )

    # ------------------------------------------------------------ persistence
    def dumps(self) -> str:
        return base64.b64encode(pickle.dumps(self.__dict__)).decode()

    @classmethod
    def loads(cls, text: str) -> DriftMonitor:
        monitor = cls.__new__(cls)
        monitor.__dict__.update(pickle.loads(base64.b64decode(text)))
        return monitor
