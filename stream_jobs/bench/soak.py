"""``llmpulse soak``: SIGKILL the worker again and again while traffic flows.

Traffic goes through the real exporter at a steady pace; every ``kill_every``
seconds the worker is killed with SIGKILL and started again. At the end the
stored calls, tokens, cost, transactions and rollups must equal what was
emitted, exactly.
"""

from __future__ import annotations

import signal
import tempfile
import threading
import time
from decimal import Decimal
from pathlib import Path
from typing import Any

from llmpulse.collectors import KafkaSpanExporter
from llmpulse.stream_jobs.analytics.links import COUNTED
from llmpulse.stream_jobs.bench.hostile import HOSTILE, hostile_message
from llmpulse.stream_jobs.broker.local import broker_unless
from llmpulse.stream_jobs.demo.traffic import TrafficGenerator
from llmpulse.stream_jobs.settings import WorkerSettings
from llmpulse.stream_jobs.worker import ensure_topics
from llmpulse.stream_jobs.worker_process import WorkerProcess, sql_in_child

__all__ = ["soak"]


def soak(
    events: int = 20_000,
    seconds: float = 60.0,
    kill_every: float = 7.0,
    kafka: str | None = None,
    folder: Path | None = None,
    seed: int = 1,
    say: Any = print,
    hostile_every: float | None = None,
) -> dict[str, Any]:
    """Run the soak; return emitted vs stored and whether they match.

    ``hostile_every``: also send one hostile message (:mod:`.hostile`, cycling through
    its kinds) every so many seconds into the same topic during the traffic; the good
    totals must stay exact and every hostile span must be in the dead letters."""
    with tempfile.TemporaryDirectory(prefix="llmpulse-soak-") as tmp:
        base = folder or Path(tmp)
        kafka, broker = broker_unless(kafka, base / "kafka")
        topic = f"soak_{int(time.time())}"
        ensure_topics(
            WorkerSettings(kafka_bootstrap=kafka, topic=topic, dead_letter_topic=f"{topic}.dlq")
        )
        dsn = f"chdb://{base / 'chdb'}"
        env = {"LLMPULSE_SESSION_TIMEOUT_S": "6"}
        exporter = KafkaSpanExporter(kafka, topic=topic)
        gen = TrafficGenerator(exporter, seed=seed)
        pace = seconds / max(events, 1)

        def paced(made: int) -> None:
            time.sleep(made * pace)

        thread = threading.Thread(target=gen.run, args=(events, paced), daemon=True)
        hostile_sent: dict[str, int] = {}
        hostile = threading.Thread(
            target=_send_hostile,
            args=(kafka, topic, hostile_every, thread, hostile_sent),
            daemon=True,
        )
        kills = 0
        try:
            worker = WorkerProcess(
                kafka, dsn, base / "worker", topic=topic, group_id="soak", extra_env=env
            ).start()
            thread.start()
            if hostile_every:
                hostile.start()
            while thread.is_alive():
                thread.join(kill_every)
                if thread.is_alive():
                    worker.stop(signal.SIGKILL)
                    kills += 1
                    say(f"  killed the worker with SIGKILL ({kills}), restarting")
                    worker = WorkerProcess(
                        kafka, dsn, base / "worker", topic=topic, group_id="soak", extra_env=env
                    ).start()
            exporter.shutdown()
            if hostile_every:
                hostile.join()
            worker.wait_caught_up(timeout=600)
            worker.stop()
        finally:
            if broker is not None:
                broker.stop()
        e = gen.emitted
        calls = sql_in_child(
            dsn,
            "SELECT count() n, sum(input_tokens) i, sum(output_tokens) o, "
            "toString(sum(cost_usd)) c, uniqExact(transaction_id) t "
            f"FROM llmpulse.llm_calls FINAL WHERE {COUNTED}",
        )[0]
        rollup = sql_in_child(
            dsn, "SELECT sum(calls) n, toString(sum(cost_usd)) c FROM llmpulse.cost_1m FINAL"
        )[0]
        tx = sql_in_child(
            dsn, "SELECT count() t, sum(calls) n FROM llmpulse.transaction_costs FINAL"
        )[0]
        cost = Decimal(e.cost_pico) / 10**12
        panel = _dashboard_totals(dsn)
        rejected = sql_in_child(dsn, "SELECT sum(span_count) n FROM llmpulse.dead_letters FINAL")[
            0
        ]["n"]
        expected_rejects = e.bad_spans + sum(
            n * max(HOSTILE[kind][1], 1) for kind, n in hostile_sent.items()
        )
        checks = {
            "calls": calls["n"] == e.calls,
            "input_tokens": int(calls["i"]) == e.input_tokens,
            "output_tokens": int(calls["o"]) == e.output_tokens,
            "cost": Decimal(calls["c"]) == cost,
            "transactions": calls["t"] == e.transactions == tx["t"],
            "rollup_calls": rollup["n"] == e.calls == tx["n"],
            "rollup_cost": Decimal(rollup["c"]) == cost,
            "dashboard_calls": panel["calls"] == e.calls,
            "dashboard_cost": panel["cost"] == cost,
            "every_reject_counted": int(rejected or 0) == expected_rejects,
        }
        return {
            "ok": all(checks.values()),
            "kills": kills,
            "checks": checks,
            "emitted": e.as_dict(),
            "stored": {"calls": calls, "rollup": rollup, "tx": tx},
            "dropped_by_exporter": exporter.stats.spans_dropped,
            "hostile_sent": hostile_sent,
        }


def _send_hostile(
    kafka: str, topic: str, every: float | None, traffic: threading.Thread, sent: dict[str, int]
) -> None:
    """One hostile message every ``every`` seconds while the traffic runs (and one of
    each kind at least), counted by kind in ``sent``."""
    from kafka import KafkaProducer

    producer = KafkaProducer(bootstrap_servers=kafka)
    n = 0
    while n < len(HOSTILE) or traffic.is_alive():
        kind, payload = hostile_message(n)
        producer.send(topic, payload)
        sent[kind] = sent.get(kind, 0) + 1
        n += 1
        time.sleep(every or 1.0)
    producer.flush()
    producer.close()


def _dashboard_totals(dsn: str) -> dict[str, Any]:
    """Totals as the Finance dashboard's own panel shows them (its SQL, macros expanded)."""
    from datetime import UTC, datetime, timedelta

    from llmpulse.stream_jobs.grafana.macros import expand
    from llmpulse.stream_jobs.grafana.panels import FINANCE

    (panel,) = [p for p in FINANCE.panels if p.title == "Cost by service, feature and model"]
    end = datetime.now(UTC) + timedelta(minutes=5)
    sql = expand(panel.sql, end - timedelta(days=2), end)
    rows = sql_in_child(
        dsn, f"SELECT sum(calls) AS calls, toString(sum(cost)) AS cost FROM ({sql})"
    )[0]
    return {"calls": rows["calls"], "cost": Decimal(rows["cost"])}
