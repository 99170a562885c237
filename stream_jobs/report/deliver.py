"""Deliver the daily report by e-mail and/or chat webhook, once per day.

Delivery guarantee: at most once per (day, channel) as recorded in
``report_history``; a failed delivery is recorded as failed and retried on the
next run. A crash between delivering and recording can repeat one delivery.
"""

from __future__ import annotations

import json
import logging
import smtplib
import urllib.request
from datetime import UTC, date, datetime
from email.message import EmailMessage
from pathlib import Path
from typing import Any

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

from llmpulse.stream_jobs.clickhouse import ClickHouseClient, check_identifier
from llmpulse.stream_jobs.report.daily import Budgets, DailyReport, build_daily_report
from llmpulse.stream_jobs.report.render import chart_png, report_csv, report_html, report_text

__all__ = ["ReportSettings", "send_daily_report", "write_report_files"]

log = logging.getLogger(__name__)


class ReportSettings(BaseSettings):
    """``LLMPULSE_REPORT_*`` variables; e-mail is sent when ``smtp_host`` and ``mail_to``
    are set, the webhook when ``webhook_url`` is."""

    model_config = SettingsConfigDict(env_prefix="LLMPULSE_REPORT_", frozen=True, extra="ignore")

    smtp_host: str | None = Field(None, description="SMTP server of the report e-mail")
    smtp_port: int = Field(25, description="SMTP port")
    smtp_user: str | None = Field(None, description="SMTP user name")
    smtp_password: SecretStr | None = Field(None, description="SMTP password (a secret)")
    smtp_starttls: bool = Field(False, description="STARTTLS before logging in")
    mail_from: str = Field("llmpulse@localhost", description="sender address")
    mail_to: str = Field("", description="recipients, comma separated")
    webhook_url: SecretStr | None = Field(None, description="chat webhook of the report")
    webhook_kind: str = Field(
        "slack", description='`slack` (`{"text": ...}`) or `generic` (the figures as JSON)'
    )
    budgets: str = Field("alerts/budgets.toml", description="the monthly budgets file")
    hour_utc: int = Field(6, description="the worker sends yesterday's report after this hour")
    check_interval_s: float = Field(300.0, description="how often the worker checks it is due")


def _already(client: ClickHouseClient, db: str, day: date, channel: str) -> bool:
    rows = client.query(
        f"SELECT count() FROM {db}.report_history FINAL WHERE day = {{d:Date}} "
        "AND channel = {c:String} AND status = 'sent'",
        parameters={"d": day, "c": channel},
    ).result_rows
    return bool(rows[0][0])


def _record(
    client: ClickHouseClient, db: str, r: DailyReport, channel: str, status: str, detail: str
) -> None:
    client.insert(
        f"{db}.report_history",
        [[r.day, channel, status, r.total, detail[:2000], datetime.now(UTC)]],
        column_names=["day", "channel", "status", "total_usd", "detail", "sent_at"],
    )


def _mail(s: ReportSettings, r: DailyReport) -> None:
    msg = EmailMessage()
    msg["Subject"] = f"LLM cost {r.day.isoformat()}: ${r.total:,.2f} (MTD ${r.month_to_date:,.2f})"
    msg["From"] = s.mail_from
    msg["To"] = s.mail_to
    msg.set_content(report_text(r))
    msg.add_alternative(report_html(r), subtype="html")
    html_part: Any = msg.get_payload()[1]  # type: ignore[index]
    html_part.add_related(chart_png(r), maintype="image", subtype="png", cid="<chart>")
    msg.add_attachment(
        report_csv(r).encode(),
        maintype="text",
        subtype="csv",
        filename=f"llm-cost-{r.day.isoformat()}.csv",
    )
    with smtplib.SMTP(s.smtp_host or "localhost", s.smtp_port, timeout=30) as smtp:
        if s.smtp_starttls:
            smtp.starttls()
        if s.smtp_user:
            password = s.smtp_password.get_secret_value() if s.smtp_password else ""
            smtp.login(s.smtp_user, password)
        smtp.send_message(msg)


def _webhook(s: ReportSettings, r: DailyReport) -> None:
    if s.webhook_kind == "slack":
        body: dict[str, Any] = {"text": report_text(r)}
    else:
        body = {
            "day": r.day.isoformat(),
            "total_usd": str(r.total),
            "calls": r.calls,
            "month_to_date_usd": str(r.month_to_date),
            "forecast_usd": str(r.forecast),
            "budget_usd": None if r.budget_total is None else str(r.budget_total),
            "by_team": {t: str(c) for t, c, _ in r.by_team},
            "anomalies": [
                {**a, "cost": str(a["cost"]), "baseline": str(a["baseline"])} for a in r.anomalies
            ],
            "retry_waste_usd": str(r.retry_waste),
            "not_priced": dict(r.not_priced),
            "cache_savings_usd": str(r.cache_savings),
        }
    req = urllib.request.Request(
        s.webhook_url.get_secret_value() if s.webhook_url else "",
        data=json.dumps(body).encode(),
        headers={"Content-Type": "application/json"},
        method="POST",
    )
    with urllib.request.urlopen(req, timeout=30) as resp:
        if resp.status >= 300:
            raise OSError(f"webhook answered {resp.status}")


def send_daily_report(
    client: ClickHouseClient,
    database: str,
    day: date,
    settings: ReportSettings,
    force: bool = False,
) -> dict[str, str]:
    """Build the report of ``day`` and deliver it on every configured channel.

    Returns ``{channel: "sent" | "skipped (already sent)" | "failed: ..."}``.
    """
    db = check_identifier(database)
    report = build_daily_report(client, db, day, Budgets.load(settings.budgets))
    channels = {}
    if settings.smtp_host and settings.mail_to:
        channels["email"] = _mail
    if settings.webhook_url:
        channels["webhook"] = _webhook
    outcome: dict[str, str] = {}
    for name, send in channels.items():
        if not force and _already(client, db, day, name):
            outcome[name] = "skipped (already sent)"
            continue
        try:
            send(settings, report)
        except Exception as exc:
            log.warning("daily report %s via %s failed: %s", day, name, exc)
            _record(client, db, report, name, "failed", repr(exc))
            outcome[name] = f"failed: {exc}"
            continue
        _record(client, db, report, name, "sent", "")
        outcome[name] = "sent"
    return outcome


def write_report_files(
    client: ClickHouseClient,
    database: str,
    day: date,
    out_dir: Path,
    budgets: str | None = "alerts/budgets.toml",
) -> dict[str, Path]:
    """Write the report of ``day`` as HTML (chart embedded), CSV and PNG files."""
    import base64

    report = build_daily_report(client, check_identifier(database), day, Budgets.load(budgets))
    out_dir.mkdir(parents=True, exist_ok=True)
    png = chart_png(report)
    stem = f"llm-cost-{day.isoformat()}"
    inline = "data:image/png;base64," + base64.b64encode(png).decode()
    files = {
        "html": out_dir / f"{stem}.html",
        "csv": out_dir / f"{stem}.csv",
        "png": out_dir / f"{stem}.png",
    }
    files["html"].write_text(report_html(report).replace("cid:chart", inline))
    files["csv"].write_text(report_csv(report))
    files["png"].write_bytes(png)
    return files
