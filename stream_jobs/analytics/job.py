"""The analytics refresh the worker runs every few seconds (and once when it stops).

1. find calls ingested since the watermark, minus a margin: ``ingested_at`` is
   stamped when an insert starts and its rows are visible when it commits, and
   inserts run alongside the refresh (other workers', and this worker's own on the
   ingest thread), so rows stamped a little before the watermark may appear after
   it was read: they are read again (recomputed, never added twice). When the
   worker is the only writer (the embedded engine), it knows when its write under
   way began (``visible_floor``): the watermark is kept below that instead, and
   only the first refresh after a start re-reads the margin;
2. recompute the minutes and transactions they touch (exact, replace by key);
3. feed every newly closed minute to the drift monitor, store its events;
4. persist the watermark and the detectors' state in ``analytics_state``.

Each step is idempotent, so a crash anywhere just repeats work on restart.
"""

from __future__ import annotations

import json
import logging
import math
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from llmpulse.stream_jobs.analytics.drift import (
    RESPONSE_MODEL_CHANGED,
    DriftEvent,
    DriftMonitor,
)
from llmpulse.stream_jobs.analytics.links import link_stacked
from llmpulse.stream_jobs.analytics.rollups import (
    find_dirty,
    is_data_error,
    refresh_rollups,
    refresh_transactions,
)
from llmpulse.stream_jobs.analytics.sketch import sql_quantile
from llmpulse.stream_jobs.clickhouse import ClickHouseClient, check_identifier

__all__ = [
    "EVENT_COLUMNS",
    "AnalyticsJob",
    "RefreshStats",
    "drift_record",
    "event_json",
]

log = logging.getLogger(__name__)
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
EVENT_COLUMNS = [
    "minute",
    "service_name",
    "model",
    "metric",
    "kind",
    "detector",
    "before_value",
    "after_value",
    "change_pct",
    "detail",
    "detected_at",
]


@dataclass
class RefreshStats:
    """What one refresh did."""

    rows: int = 0
    minutes: int = 0
    closed_minutes_fed: int = 0
    drift_events: int = 0
    #: Minutes whose calls had a stacked-span link set or cleared (see links.py).
    relinked: int = 0
    events: list[DriftEvent] = field(default_factory=list, repr=False)
    #: What one bad row could not stop, left as it was and reported: rollup minutes
    #: and transaction parts whose data a statement refused, the drift feed.
    failed_minutes: dict[datetime, str] = field(default_factory=dict)
    failed_transaction_parts: list[int] = field(default_factory=list)
    drift_error: str = ""


class AnalyticsJob:
    """Rollups, transaction costs and drift, kept current from ``llm_calls``."""

    def __init__(
        self,
        client: ClickHouseClient,
        database: str = "llmpulse",
        detector: str = "page_hinkley",
        lateness: timedelta = timedelta(minutes=2),
        margin: timedelta = timedelta(seconds=5),
        settle: timedelta = timedelta(seconds=3),
        min_calls: int = 5,
        visible_floor: Callable[[], datetime] | None = None,
    ) -> None:
        self.client = client
        #: Only writer's earliest stamp not yet visible (see the module's step 1).
        self.visible_floor = visible_floor
        self._started = False
        #: A feed is owed while the newest calls are younger than ``settle``: their
        #: minutes close at a later refresh, even one that finds no new calls.
        self._feed_owed = False
        self._last_ingested: datetime | None = None
        self.db = check_identifier(database)
        self.lateness = lateness
        self.margin = margin
        self.settle = settle
        self.min_calls = min_calls
        state = self._load("drift", "monitor")
        self.monitor = DriftMonitor.loads(state) if state else DriftMonitor(detector)

    # ------------------------------------------------------------------ state
    def _load(self, job: str, key: str) -> str | None:
        rows = self.client.query(
            f"SELECT state FROM {self.db}.analytics_state FINAL "
            "WHERE job = {job:String} AND key = {key:String}",
            parameters={"job": job, "key": key},
        ).result_rows
        return rows[0][0] if rows else None

    def _save(self, job: str, key: str, state: str) -> None:
        self.client.insert(
            f"{self.db}.analytics_state",
            [[job, key, state, datetime.now(UTC)]],
            column_names=["job", "key", "state", "updated_at"],
        )

    def _time_state(self, key: str) -> datetime | None:
        raw = self._load("rollup", key)
        return datetime.fromisoformat(raw) if raw else None

    # ---------------------------------------------------------------- refresh
    def refresh(self, final: bool = False) -> RefreshStats:
        """Bring every analytics table up to date with ``llm_calls``.

        ``final`` (the worker is stopping) also closes minutes whose calls arrived
        within the last ``settle`` seconds.
        """
        stats = RefreshStats()
        floor = self.visible_floor() if self.visible_floor is not None else None  # before reads
        watermark = self._time_state("watermark") or _EPOCH
        margin = self.margin if floor is None or not self._started else timedelta(0)
        since = watermark - margin if watermark > _EPOCH else _EPOCH
        dirty = find_dirty(self.client, self.db, since)
        if dirty.rows == 0 or dirty.first_start is None or dirty.max_ingested is None:
            # No new calls, but minutes may have closed since the last feed: the calls
            # then were too fresh (``settle``), or the worker is stopping.
            if final or self._feed_owed:
                self._feed_owed = not final and self._still_settling()
                self._drift_step(stats, final)
            return stats
        relinked = link_stacked(
            self.client,
            self.db,
            since,
            _utc(dirty.first_start),
            _utc(dirty.last_start or dirty.first_start),
        )
        minutes = sorted({_utc(m) for m in dirty.minutes} | {_utc(m) for m in relinked})
        stats.rows, stats.minutes, stats.relinked = dirty.rows, len(minutes), len(relinked)
        stats.failed_minutes = refresh_rollups(self.client, self.db, minutes)
        stats.failed_transaction_parts = refresh_transactions(
            self.client, self.db, since, dirty.first_start
        )
        for minute, error in stats.failed_minutes.items():
            log.error("rollups of minute %s left as they were: %s", minute, error)
        if stats.failed_transaction_parts:
            log.error(
                "transaction costs of hash parts %s left as they were (their data failed)",
                stats.failed_transaction_parts,
            )
        max_ingested = dirty.max_ingested
        if max_ingested.tzinfo is None:
            max_ingested = max_ingested.replace(tzinfo=UTC)
        self._last_ingested = max_ingested
        self._feed_owed = not final
        self._drift_step(stats, final)
        if floor is not None:  # stamps are whole milliseconds: keep well below the floor
            max_ingested = min(max_ingested, floor - timedelta(milliseconds=10))
        self._save("rollup", "watermark", max_ingested.isoformat())
        self._started = True
        return stats

    def _still_settling(self) -> bool:
        last = self._last_ingested
        return last is not None and datetime.now(UTC) - last <= self.settle

    def _drift_step(self, stats: RefreshStats, final: bool) -> None:
        try:
            events, fed = self._feed_drift(timedelta(0) if final else self.settle)
        except Exception as exc:
            if not is_data_error(exc):
                raise
            stats.drift_error = str(exc).splitlines()[0][:300]
            log.error("drift feed skipped this time: %s", stats.drift_error)
            events, fed = [], 0
        stats.closed_minutes_fed, stats.drift_events, stats.events = fed, len(events), events
        for e in events:
            log.warning("drift: %s/%s %s", e.service_name, e.model, e.detail)

    def _feed_drift(self, settle: timedelta) -> tuple[list[DriftEvent], int]:
        """Feed minutes closed since the last feed; return events and minutes fed.

        A minute is closed once the newest call start seen, among calls ingested at
        least ``settle`` ago, is ``lateness`` past its end (event time and arrival
        time both have to move on: partitions may lag each other).
        """
        newest = self.client.query(
            f"SELECT toStartOfMinute(max(start_time)) FROM {self.db}.llm_calls "
            "WHERE ingested_at <= now64(3) - toIntervalMillisecond({ms:UInt64})",
            parameters={"ms": int(settle.total_seconds() * 1000)},
        ).result_rows[0][0]
        if newest is None or newest.year < 2000:
            return [], 0
        newest = newest.replace(tzinfo=UTC) if newest.tzinfo is None else newest
        closed_until = newest - self.lateness
        fed_until = self._time_state("fed_until")
        lo = fed_until or datetime(2000, 1, 1, tzinfo=UTC)
        if closed_until <= lo:
            return [], 0
        window = {"lo": lo, "hi": closed_until}
        events = self._response_model_events(window)
        rows = self.client.query(
            f"""
SELECT c.minute, c.service_name, c.request_model, c.calls, c.errors, c.truncated,
       c.input_tokens, c.output_tokens, c.cost, l.latency
FROM (
    SELECT minute, service_name, request_model, sum(calls) AS calls, sum(errors) AS errors,
           sum(truncated) AS truncated, sum(input_tokens) AS input_tokens,
           sum(output_tokens) AS output_tokens, toFloat64(sum(cost_usd)) AS cost
    FROM {self.db}.cost_1m FINAL
    WHERE minute > {{lo:DateTime}} AND minute <= {{hi:DateTime}}
    GROUP BY minute, service_name, request_model
    HAVING calls >= {{min_calls:UInt64}}
) AS c
LEFT JOIN (
    WITH sumMap(latency_keys, latency_counts) AS m
    SELECT minute, service_name, request_model, {sql_quantile("m", 0.5)} AS latency
    FROM {self.db}.latency_1m FINAL
    WHERE minute > {{lo:DateTime}} AND minute <= {{hi:DateTime}}
    GROUP BY minute, service_name, request_model
) AS l USING (minute, service_name, request_model)
ORDER BY c.minute, c.service_name, c.request_model""",
            parameters={**window, "min_calls": self.min_calls},
        ).result_rows
        # Series-minutes with fewer than min_calls calls are too noisy to feed (and in a
        # backlog they are most rows): SQL leaves them out.
        for minute, service, model, calls, errors, trunc, inp, out, cost, lat in rows:
            minute = minute.replace(tzinfo=UTC) if minute.tzinfo is None else minute
            values = {
                "latency_p50_ms": lat if lat is not None else math.nan,
                "input_tokens": inp / calls,
                "output_tokens": out / calls,
                "cost_per_call": cost / calls,
                "error_rate": errors / calls,
                "truncation_rate": trunc / calls,
            }
            for metric, value in values.items():
                ev = self.monitor.update(minute, service, model, metric, float(value))
                if ev:
                    events.append(ev)
        minutes = self.client.query(
            f"SELECT uniqExact(minute) FROM {self.db}.cost_1m "
            "WHERE minute > {lo:DateTime} AND minute <= {hi:DateTime}",
            parameters=window,
        ).result_rows[0][0]
        # A series' response-model change first, then its metrics, minute by minute.
        events.sort(
            key=lambda e: (e.minute, e.service_name, e.model, e.kind != RESPONSE_MODEL_CHANGED)
        )
        # Events first, then the detector state: a crash in between re-feeds the same
        # minutes from the old state, makes the same events and they replace by key
        # (series, metric, minute), so each is stored exactly once.
        self._store_events(events)
        self._save("drift", "monitor", self.monitor.dumps())
        self._save("rollup", "fed_until", closed_until.isoformat())
        return events, int(minutes)

    def _store_events(self, events: list[DriftEvent]) -> None:
        if events:
            now = datetime.now(UTC)
            self.client.insert(
                f"{self.db}.drift_events",
                [[*_event_row(e), now] for e in events],
                column_names=EVENT_COLUMNS,
            )

    def _response_model_events(self, window: dict[str, datetime]) -> list[DriftEvent]:
        """Each (series, response model) pair once, from the minute it first answered."""
        rows = self.client.query(
            f"SELECT min(minute) AS first, service_name, request_model, response_model "
            f"FROM {self.db}.latency_1m "
            "WHERE minute > {lo:DateTime} AND minute <= {hi:DateTime} "
            "GROUP BY service_name, request_model, response_model "
            "ORDER BY first, service_name, request_model, response_model",
            parameters=window,
        ).result_rows
        events = []
        for minute, service, model, response_model in rows:
            minute = minute.replace(tzinfo=UTC) if minute.tzinfo is None else minute
            ev = self.monitor.observe_response_model(minute, service, model, response_model)
            if ev:
                events.append(ev)
        return events


def _utc(t: datetime) -> datetime:
    return t.replace(tzinfo=UTC) if t.tzinfo is None else t


def drift_record(e: DriftEvent) -> tuple[bytes, bytes]:
    """The drift topic's (key, value) for an event: one format, whoever publishes it."""
    return f"{e.service_name}/{e.model}/{e.metric}".encode(), event_json(e)


def event_json(e: DriftEvent) -> bytes:
    """The drift topic's record: the event as JSON (NaN as null)."""
    doc = asdict(e)
    doc["minute"] = e.minute.isoformat()
    for k in ("before_value", "after_value", "change_pct"):
        if not math.isfinite(doc[k]):
            doc[k] = None
    return json.dumps(doc).encode()


def _event_row(e: DriftEvent) -> list[Any]:
    def num(x: float) -> float:
        return x if math.isfinite(x) else 0.0

    return [
        e.minute,
        e.service_name,
        e.model,
        e.metric,
        e.kind,
        e.detector,
        num(e.before_value),
        num(e.after_value),
        num(e.change_pct),
        e.detail,
    ]
