"""One logical call, one counted row: stacked spans are linked to one primary.

Instrumentation libraries stack spans for one model call: the provider SDK's own
span and an instrumentation's (OpenLLMetry's in another trace, OpenInference's as
the SDK span's parent), a framework's (LangChain) over both. Each is stored; the
refresh links all but one with ``duplicate_of = 'trace_id/span_id'`` of the call's
primary, by two rules, applied in this order:

1. **Envelope**: an LLM span that has an LLM child span (same trace) is not a call
   of its own; the children are (a framework's retries are several children). Nor is
   one that contains, in time, an LLM span of the same transaction, service, model
   and usage (input and output tokens), their response ids not different: libraries
   that start their span in a trace of its own (OpenInference's LangChain and OpenAI
   instrumentations together; OpenLLMetry's anthropic one beside the SDK's). It is
   linked to its latest-starting child or contained span.
2. **Same response**: LLM spans that are not envelopes and share provider, response
   id (``gen_ai.response.id``) and transaction describe one response; the
   latest-starting (then highest span id) is the primary, the others link to it.

Every count, sum and rollup reads only rows with an empty ``duplicate_of``
(:data:`COUNTED`). A link is written by inserting the row again with the link set
(a newer ``ingested_at`` replaces it), so the next refresh sees the row as changed
and recomputes what it touches; a crash or a replay at any point is repaired by
the next refresh, which computes the same links from the same rows.

Limits: two calls of one transaction to one model with the same usage, one inside the
other in time (e.g. identical concurrent failures), count once; spans of one call
starting more than :data:`WINDOW` apart are not linked;
spans of one call in different traces with no response id (failed calls,
libraries that record none) are not linked; a response id reused by a provider
within one transaction would merge two calls.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from llmpulse.schemas.record import CALL_COLUMNS
from llmpulse.stream_jobs.clickhouse import ClickHouseClient, check_identifier

__all__ = ["COUNTED", "link_stacked"]

#: The rows that count: every call that is not linked to another as its duplicate.
COUNTED = "duplicate_of = ''"

_KEY = "concat(trace_id, '/', span_id)"
#: Spans of one call start within this of each other (a call lasts less).
WINDOW = timedelta(minutes=5)
#: Candidates passed as a list up to this many; beyond, all touched rows are compared.
_MAX_KEYS = 20_000


def _touched(db: str) -> str:
    """Rows of the traces and transactions touched since ``since`` that start in the
    window: where a stack can have changed. (Stacked spans share a trace, or a
    transaction and so, when they share a response too, that transaction. Identical
    subqueries are built once per query.)"""
    touched = f"{db}.llm_calls WHERE ingested_at > {{since:DateTime64(3)}}"
    return f"""start_time >= {{lo:DateTime64(6)}} AND start_time < {{hi:DateTime64(6)}}
          AND (trace_id IN (SELECT trace_id FROM {touched})
               OR transaction_id IN (SELECT transaction_id FROM {touched}))"""


def _candidates_sql(db: str) -> str:
    """The rows of the window that could be in a stack (a child or a parent of an LLM
    span, sharing usage or a response within a transaction) or are linked now: both
    members of every possible pair. Usually few; only they are compared pair by pair.
    One pass of cheap scans over the window, never a filter on the touched rows' ids
    (its sets cost more than the window's scan). Without FINAL inside: an older version
    of a row only makes one more candidate, compared exactly."""
    window = "start_time >= {lo:DateTime64(6)} AND start_time < {hi:DateTime64(6)}"
    near = f"{db}.llm_calls WHERE {window}"
    return f"""
SELECT trace_id, span_id FROM {db}.llm_calls FINAL
WHERE {window}
  AND (duplicate_of != ''
       OR (transaction_id, service_name, input_tokens, output_tokens) IN (
           SELECT transaction_id, service_name, input_tokens, output_tokens FROM {near}
           GROUP BY ALL HAVING count() > 1)
       OR (response_id != '' AND (provider, response_id, transaction_id) IN (
           SELECT provider, response_id, transaction_id FROM {near} AND response_id != ''
           GROUP BY ALL HAVING count() > 1))
       OR (parent_span_id != ''
           AND (trace_id, parent_span_id) IN (SELECT trace_id, span_id FROM {near}))
       OR (trace_id, span_id) IN (
           SELECT trace_id, parent_span_id FROM {near} AND parent_span_id != ''))
"""


def _links_sql(db: str, keys: bool) -> str:
    """(trace id, span id, duplicate_of wanted, start) of the rows (the candidates
    ``keys``, else all touched rows) whose link should change."""
    where = (
        "start_time >= {lo:DateTime64(6)} AND start_time < {hi:DateTime64(6)} "
        "AND (trace_id, span_id) IN {keys:Array(Tuple(String, String))}"
        if keys
        else _touched(db)
    )
    return f"""
WITH
    scope AS (
        SELECT trace_id, span_id, parent_span_id, start_time, end_time, service_name,
               provider, request_model, response_model, input_tokens, output_tokens,
               response_id, transaction_id, duplicate_of
        FROM {db}.llm_calls FINAL
        WHERE {where}
    ),
    parents AS (
        SELECT p.trace_id AS trace_id, p.span_id AS span_id, 2 AS rule,
               argMax(concat(c.trace_id, '/', c.span_id), (c.start_time, c.span_id)) AS primary
        FROM scope AS p
        INNER JOIN scope AS c ON c.trace_id = p.trace_id AND c.parent_span_id = p.span_id
        GROUP BY p.trace_id, p.span_id
    ),
    contained AS (
        SELECT o.trace_id AS trace_id, o.span_id AS span_id, 1 AS rule,
               argMax(concat(i.trace_id, '/', i.span_id), (i.start_time, i.span_id)) AS primary
        FROM scope AS o
        INNER JOIN scope AS i
            ON i.transaction_id = o.transaction_id AND i.service_name = o.service_name
           AND i.input_tokens = o.input_tokens AND i.output_tokens = o.output_tokens
        WHERE (i.trace_id != o.trace_id OR i.span_id != o.span_id)
          AND i.start_time >= o.start_time AND i.end_time <= o.end_time
          AND (i.start_time > o.start_time OR i.end_time < o.end_time OR i.span_id > o.span_id)
          AND (i.request_model = o.request_model OR i.response_model = o.response_model)
          AND (o.response_id = '' OR i.response_id = '' OR o.response_id = i.response_id)
        GROUP BY o.trace_id, o.span_id
    ),
    envelopes AS (
        SELECT trace_id, span_id, argMax(primary, rule) AS primary
        FROM (SELECT * FROM parents UNION ALL SELECT * FROM contained)
        GROUP BY trace_id, span_id
    ),
    responses AS (
        SELECT provider, response_id, transaction_id,
               argMax({_KEY}, (start_time, span_id)) AS primary
        FROM scope
        WHERE response_id != ''
          AND (trace_id, span_id) NOT IN (SELECT trace_id, span_id FROM envelopes)
        GROUP BY provider, response_id, transaction_id
    ),
    wanted AS (
        SELECT s.trace_id AS trace_id, s.span_id AS span_id, s.start_time AS start_time,
               s.duplicate_of AS stored,
               multiIf(e.primary != '', e.primary,
                       r.primary != '' AND r.primary != concat(s.trace_id, '/', s.span_id),
                       r.primary, '') AS link
        FROM scope AS s
        LEFT JOIN envelopes AS e ON e.trace_id = s.trace_id AND e.span_id = s.span_id
        LEFT JOIN responses AS r
            ON r.provider = s.provider AND r.response_id = s.response_id
           AND r.transaction_id = s.transaction_id AND s.response_id != ''
    )
SELECT trace_id, span_id, link, start_time FROM wanted WHERE link != stored
SETTINGS join_use_nulls = 0
"""


def link_stacked(
    client: ClickHouseClient, db: str, since: datetime, first: datetime, last: datetime
) -> list[datetime]:
    """Link the stacked spans among calls ingested after ``since`` (starting between
    ``first`` and ``last``) and the rows of their traces and responses that start
    within :data:`WINDOW` of them; return the start minutes of the rows changed."""
    db = check_identifier(db)
    params: dict[str, Any] = {"since": since, "lo": first - WINDOW, "hi": last + WINDOW}
    keys = [tuple(r) for r in client.query(_candidates_sql(db), parameters=params).result_rows]
    if not keys:
        return []
    if len(keys) <= _MAX_KEYS:
        params["keys"] = keys
    changes = client.query(_links_sql(db, len(keys) <= _MAX_KEYS), parameters=params).result_rows
    if not changes:
        return []
    link = {(t, s): want for t, s, want, _ in changes}
    columns = ", ".join(CALL_COLUMNS)
    rows = client.query(
        f"SELECT {columns} FROM {db}.llm_calls FINAL "
        "WHERE (trace_id, span_id) IN {keys:Array(Tuple(String, String))}",
        parameters={"keys": list(link)},
    ).result_rows
    client.insert(
        f"{db}.llm_calls",
        [[*row, link[(row[0], row[1])]] for row in rows],
        column_names=[*CALL_COLUMNS, "duplicate_of"],
    )
    return sorted({start.replace(second=0, microsecond=0) for *_, start in changes})
