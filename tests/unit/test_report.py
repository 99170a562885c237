"""The finance daily report: figures equal ClickHouse; delivered once to real servers."""

from __future__ import annotations

import email
import email.policy
import time
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import pytest

from llmpulse.stream_jobs import Message, Pipeline
from llmpulse.stream_jobs.analytics.job import AnalyticsJob
from llmpulse.stream_jobs.broker.local import free_port
from llmpulse.stream_jobs.clickhouse import migrate
from llmpulse.stream_jobs.report import (
    Budgets,
    ReportSettings,
    build_daily_report,
    send_daily_report,
)
from llmpulse.stream_jobs.sink import ClickHouseSink
from tests import otlp

DAY_NS = 86_400 * 10**9


@pytest.fixture
def filled(chdb_client: Any, database: str) -> tuple[Any, str, date]:
    """15 days of calls; yesterday the support team spends 5x its usual."""
    migrate(chdb_client, database)
    sink, pipe = ClickHouseSink(chdb_client, database), Pipeline()
    today = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    yesterday = today - timedelta(days=1)
    offset = 0
    for back in range(1, 16):
        day0 = int((today - timedelta(days=back)).timestamp() * 1e9)
        for team in ("support", "payments"):
            n = 5 if (back == 1 and team == "support") else 1
            spans = [
                otlp.span(
                    otlp.gen_ai(
                        "gpt-4o",
                        inp=1000 + i,
                        out=100,
                        **{"llmpulse.team": team, "gen_ai.usage.cache_read.input_tokens": 500},
                    ),
                    start_ns=day0 + (i * 1800 + 60) * 10**9,
                )
                for i in range(20)
                for _ in range(n)
            ]
            message = Message("t", 0, offset, otlp.request(spans, f"svc-{team}"))
            sink.write(pipe.process([message]))
            offset += 1
    AnalyticsJob(chdb_client, database).refresh(final=True)
    return chdb_client, database, yesterday.date()


def test_figures_equal_clickhouse(filled: tuple[Any, str, date]) -> None:
    """Totals, per-team costs, month to date and the anomaly come out exactly."""
    client, db, day = filled
    budgets = Budgets(Decimal("100"), {"support": Decimal("40"), "payments": Decimal("40")})
    r = build_daily_report(client, db, day, budgets)
    exact = dict(
        client.query(
            f"SELECT team, sum(cost_usd) FROM {db}.llm_calls FINAL "
            "WHERE toDate(start_time) = {d:Date} GROUP BY team",
            parameters={"d": day},
        ).result_rows
    )
    assert {t: c for t, c, _ in r.by_team} == exact
    assert r.total == sum(exact.values())
    mtd = client.query(
        f"SELECT sum(cost_usd) FROM {db}.llm_calls FINAL WHERE toDate(start_time) "
        "BETWEEN {a:Date} AND {d:Date}",
        parameters={"a": day.replace(day=1), "d": day},
    ).result_rows[0][0]
    assert r.month_to_date == mtd
    assert r.forecast >= r.month_to_date
    assert {(a["dimension"], a["key"]) for a in r.anomalies} == {
        ("team", "support"),
        ("service", "svc-support"),
    }
    saved = client.query(
        f"SELECT sum(cache_savings_pico) FROM {db}.llm_calls FINAL "
        "WHERE toDate(start_time) = {d:Date}",
        parameters={"d": day},
    ).result_rows[0][0]
    assert r.cache_savings * 10**12 == saved > 0  # 500 cached tokens a call, exact
    assert len(r.budget_teams) == 2
    assert r.movers[0][0] == "svc-support"


class _Smtp:
    def __init__(self) -> None:
        from aiosmtpd.controller import Controller

        self.messages: list[EmailMessage] = []
        outer = self

        class Handler:
            async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
                outer.messages.append(
                    email.message_from_bytes(  # type: ignore[arg-type]
                        envelope.content, policy=email.policy.default
                    )
                )
                return "250 OK"

        self.port = free_port()
        self.controller = Controller(Handler(), hostname="127.0.0.1", port=self.port)


@pytest.fixture
def smtp() -> Iterator[_Smtp]:
    server = _Smtp()
    server.controller.start()
    yield server
    server.controller.stop()


def test_delivered_once_by_mail_and_webhook(
    filled: tuple[Any, str, date],
    smtp: _Smtp,
    http_receiver: tuple[str, list[dict]],
    tmp_path: Path,
) -> None:
    """HTML + chart + CSV by SMTP and JSON to the webhook, once; numbers match."""
    client, db, day = filled
    url, received = http_receiver
    budgets = tmp_path / "budgets.toml"
    budgets.write_text("[monthly]\ntotal = 100\n[monthly.teams]\nsupport = 40\n")
    settings = ReportSettings(
        smtp_host="127.0.0.1",
        smtp_port=smtp.port,
        mail_to="fin@corp",
        webhook_url=url,
        webhook_kind="generic",
        budgets=str(budgets),
    )
    assert send_daily_report(client, db, day, settings) == {"email": "sent", "webhook": "sent"}
    assert send_daily_report(client, db, day, settings) == {
        "email": "skipped (already sent)",
        "webhook": "skipped (already sent)",
    }
    deadline = time.monotonic() + 10
    while not smtp.messages and time.monotonic() < deadline:
        time.sleep(0.05)
    (msg,) = smtp.messages
    total = client.query(
        f"SELECT sum(cost_usd) FROM {db}.llm_calls FINAL WHERE toDate(start_time) = {{d:Date}}",
        parameters={"d": day},
    ).result_rows[0][0]
    assert f"${total:,.2f}" in msg["Subject"]
    parts = {p.get_content_type(): p for p in msg.walk()}
    assert "support" in parts["text/html"].get_content()
    assert parts["image/png"].get_content()[:8] == b"\x89PNG\r\n\x1a\n"
    csv_text = parts["text/csv"].get_content()
    csv_text = csv_text.decode() if isinstance(csv_text, bytes) else csv_text
    assert f"{day.isoformat()},total,all,{total}," in csv_text
    (hook,) = received
    assert Decimal(hook["total_usd"]) == total and hook["budget_usd"] == "100"
    assert {a["key"] for a in hook["anomalies"]} == {"support", "svc-support"}
    history = client.query(
        f"SELECT channel, status FROM {db}.report_history FINAL ORDER BY channel"
    ).result_rows
    assert history == [("email", "sent"), ("webhook", "sent")]


def test_failed_delivery_is_recorded_and_retried(filled: tuple[Any, str, date]) -> None:
    """A dead SMTP server: recorded as failed, and tried again on the next run."""
    client, db, day = filled
    settings = ReportSettings(smtp_host="127.0.0.1", smtp_port=free_port(), mail_to="x@y")
    first = send_daily_report(client, db, day, settings)
    assert first["email"].startswith("failed")
    again = send_daily_report(client, db, day, settings)
    assert again["email"].startswith("failed")  # not "skipped": failures are retried


def test_calls_that_could_not_be_priced_are_named_not_hidden(
    filled: tuple[Any, str, date],
) -> None:
    """A call streamed without usage was $0 and invisible in the report."""
    client, db, day = filled
    day0 = int(datetime(day.year, day.month, day.day, tzinfo=UTC).timestamp() * 1e9)
    no_usage = {"gen_ai.operation.name": "chat", "gen_ai.request.model": "gpt-4o"}
    spans = [otlp.span(no_usage, start_ns=day0 + (i + 1) * 10**9) for i in range(3)]
    spans.append(otlp.span(otlp.gen_ai("no-such-model-x"), start_ns=day0 + 10**10))
    sink = ClickHouseSink(client, db)
    sink.write(Pipeline().process([Message("t", 0, 10_000, otlp.request(spans))]))
    report = build_daily_report(client, db, day, Budgets.load(None))
    assert report.not_priced == [
        ("not priced: no usage", 3),
        ("not priced: unknown model", 1),
    ]
    from llmpulse.stream_jobs.report.render import report_html, report_text

    assert "not priced: no usage: 3 calls" in report_html(report)
    assert "not priced: unknown model: 1 calls" in report_text(report)
