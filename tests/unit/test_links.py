"""Stacked spans of one call: every span kept, one counted, in every derived table."""

from __future__ import annotations

import os
import time
from decimal import Decimal
from typing import Any

from llmpulse.stream_jobs import Message, Pipeline
from llmpulse.stream_jobs.analytics.job import AnalyticsJob
from llmpulse.stream_jobs.clickhouse import migrate
from llmpulse.stream_jobs.sink import ClickHouseSink
from tests import otlp

MIN = 60 * 10**9


class Store:
    def __init__(self, client: Any, db: str) -> None:
        migrate(client, db)
        self.client, self.db = client, db
        self.sink, self.pipe, self.offset = ClickHouseSink(client, db), Pipeline(), 0
        self.job = AnalyticsJob(client, db, margin=__import__("datetime").timedelta(0))

    def send(self, *spans: Any) -> None:
        self.sink.write(
            self.pipe.process([Message("t", 0, self.offset, otlp.request(list(spans)))])
        )
        self.offset += 1

    def one(self, sql: str) -> tuple:
        return tuple(self.client.query(sql.format(db=self.db)).result_rows[0])


def sdk_span(
    trace: bytes, tx: str, start: int, parent: bytes = b"", rid: str = "", **kw: Any
) -> Any:
    attrs = otlp.gen_ai(
        "gpt-4o-mini",
        inp=kw.pop("inp", 1000),
        out=100,
        **{"llmpulse.transaction.id": tx, **({"gen_ai.response.id": rid} if rid else {})},
    )
    s = otlp.span(attrs, trace_id=trace, start_ns=start, duration_ms=kw.pop("ms", 400.0))
    s.parent_span_id = parent
    return s


def totals(st: Store) -> tuple:
    calls = st.one("SELECT count(), countIf(duplicate_of = '') FROM {db}.llm_calls FINAL")
    cost = st.one("SELECT sum(calls), sum(cost_usd), sum(input_tokens) FROM {db}.cost_1m FINAL")
    lat = st.one("SELECT sum(calls) FROM {db}.latency_1m FINAL")
    tx = st.one("SELECT count(), sum(calls), sum(cost_usd) FROM {db}.transaction_costs FINAL")
    return calls, cost, lat, tx


def test_an_envelope_span_arriving_later_is_linked_and_its_minute_corrected(
    chdb_client: Any, database: str
) -> None:
    """OpenInference's span wraps the anthropic SDK's own span: 20 calls were 40 rows,
    cost and the transaction's call count doubled. Here the envelope starts in the
    minute before its child and arrives one refresh later."""
    st = Store(chdb_client, database)
    base = (time.time_ns() - 3600 * 10**9) // MIN * MIN
    trace, parent_id = os.urandom(16), os.urandom(8)
    child = sdk_span(trace, "tx-1", base + MIN + 10**8, parent=parent_id)
    st.send(child)
    st.job.refresh()
    envelope = sdk_span(trace, "tx-1", base + MIN - 10**8, ms=700.0)
    envelope.span_id = parent_id
    st.send(envelope)
    first = totals(st)
    st.job.refresh()
    (calls, counted), cost, lat, tx = totals(st)
    assert (calls, counted) == (2, 1) and first[0] == (2, 2)
    assert cost[0] == 1 and lat == (1,) and tx[:2] == (1, 1)
    assert cost[1] == tx[2] and cost[2] == 1000
    link = st.one("SELECT duplicate_of FROM {db}.llm_calls FINAL WHERE duplicate_of != ''")
    assert link == (f"{trace.hex()}/{child.span_id.hex()}",)
    # The envelope's minute holds zero calls now (a row, not a stale count).
    minutes = chdb_client.query(
        f"SELECT minute, calls FROM {database}.cost_1m FINAL ORDER BY minute"
    ).result_rows
    assert [c for _, c in minutes] == [0, 1]
    assert st.job.refresh().relinked == 0  # stable: nothing to change again


def test_one_response_in_two_traces_counts_once_and_retries_inside_a_span_count_each(
    chdb_client: Any, database: str
) -> None:
    """OpenLLMetry's span and the SDK's own are in different traces with one response
    id; a framework span over two attempts is an envelope of two calls."""
    st = Store(chdb_client, database)
    t0 = time.time_ns() - 1800 * 10**9
    a = sdk_span(os.urandom(16), "tx-a", t0, rid="msg_01")
    b = sdk_span(os.urandom(16), "tx-a", t0 + 10**6, rid="msg_01")
    other_tx = sdk_span(os.urandom(16), "tx-b", t0, rid="msg_01")  # an id reused elsewhere
    trace, frame = os.urandom(16), os.urandom(8)
    framework = sdk_span(trace, "tx-c", t0, inp=4000, ms=3000.0)
    framework.span_id = frame
    attempts = [sdk_span(trace, "tx-c", t0 + k * 10**9, parent=frame) for k in (1, 2)]
    st.send(a, framework)
    st.send(b, other_tx, *attempts)
    st.job.refresh(final=True)
    (calls, counted), cost, lat, tx = totals(st)
    assert (calls, counted) == (6, 4)
    assert cost[0] == 4 and cost[2] == 4 * 1000 and lat == (4,)
    by_tx = dict(
        chdb_client.query(
            f"SELECT transaction_id, calls FROM {database}.transaction_costs FINAL"
        ).result_rows
    )
    assert by_tx == {"tx-a": 1, "tx-b": 1, "tx-c": 2}
    primary = st.one(
        "SELECT concat(trace_id, '/', span_id) FROM {db}.llm_calls FINAL "
        "WHERE response_id = 'msg_01' AND transaction_id = 'tx-a' AND duplicate_of = ''"
    )
    assert primary == (f"{b.trace_id.hex()}/{b.span_id.hex()}",)  # the later-starting one
    assert Decimal(cost[1]) == Decimal(tx[2])


def test_spans_of_one_call_in_two_traces_without_a_response_id_count_once(
    chdb_client: Any, database: str
) -> None:
    """OpenInference's LangChain and OpenAI instrumentations together: two root spans
    in two traces, no response id; the same transaction, model, usage, one inside the
    other in time. A failed call stacks the same way. Two calls in sequence do not."""
    st = Store(chdb_client, database)
    t0 = time.time_ns() - 1200 * 10**9
    outer = sdk_span(os.urandom(16), "tx-l", t0, ms=900.0)
    inner = sdk_span(os.urandom(16), "tx-l", t0 + 10**7, ms=800.0)
    later = sdk_span(os.urandom(16), "tx-l", t0 + 2 * 10**9, ms=800.0)  # the next call
    failed_attrs = {"gen_ai.request.model": "gpt-4o-mini", "llmpulse.transaction.id": "tx-e"}
    f_outer = otlp.span(failed_attrs, start_ns=t0, duration_ms=50.0, error=True)
    f_inner = otlp.span(failed_attrs, start_ns=t0 + 10**6, duration_ms=40.0, error=True)
    st.send(outer, f_inner)
    st.send(inner, later, f_outer)
    st.job.refresh(final=True)
    (calls, counted), cost, _, _ = totals(st)
    assert (calls, counted) == (5, 3)
    assert cost[0] == 3 and cost[2] == 2 * 1000
    errors = st.one("SELECT sum(errors) FROM {db}.cost_1m FINAL")
    assert errors == (1,)
    counted_ids = {
        r[0]
        for r in chdb_client.query(
            f"SELECT span_id FROM {database}.llm_calls FINAL WHERE duplicate_of = ''"
        ).result_rows
    }
    assert counted_ids == {inner.span_id.hex(), later.span_id.hex(), f_inner.span_id.hex()}


def test_agent_spans_are_stored_once(chdb_client: Any, database: str) -> None:
    st = Store(chdb_client, database)
    tool = otlp.span(
        {"gen_ai.operation.name": "execute_tool", "gen_ai.tool.name": "search"},
        duration_ms=50.0,
    )
    message = otlp.request([tool, sdk_span(os.urandom(16), "tx-t", time.time_ns() - 10**10)])
    for _ in range(2):  # a replay of the same message
        st.sink.write(st.pipe.process([Message("t", 0, 99, message)]))
    assert st.one("SELECT count(), any(name) FROM {db}.agent_spans FINAL") == (1, "search")
