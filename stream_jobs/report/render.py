"""The daily report as an HTML body, a CSV attachment, a PNG chart and a chat text."""

from __future__ import annotations

import csv
import html
import io
from decimal import Decimal

from llmpulse.stream_jobs.report.daily import DailyReport

__all__ = ["chart_png", "report_csv", "report_html", "report_text"]


def usd(x: Decimal | float | None) -> str:
    return "n/a" if x is None else f"${Decimal(x):,.2f}"


def _table(title: str, head: list[str], rows: list[list[str]]) -> str:
    th = "".join(f"<th style='text-align:left;padding:2px 8px'>{html.escape(h)}</th>" for h in head)
    body = "".join(
        "<tr>" + "".join(f"<td style='padding:2px 8px'>{html.escape(c)}</td>" for c in r) + "</tr>"
        for r in rows
    )
    return f"<h3>{html.escape(title)}</h3><table><tr>{th}</tr>{body}</table>"


def report_html(r: DailyReport) -> str:
    """The e-mail body (inline CSS only; the chart is attached as cid:chart)."""
    budget = ""
    if r.budget_total is not None:
        state = "over" if r.forecast > r.budget_total else "within"
        budget = (
            f"<p>Monthly budget {usd(r.budget_total)}: forecast is <b>{state}</b> "
            f"budget ({r.forecast / r.budget_total:.0%}).</p>"
        )
    parts = [
        f"<h2>LLM cost report for {r.day.isoformat()} (UTC)</h2>",
        f"<p>Yesterday <b>{usd(r.total)}</b> over {r.calls:,} calls. Month to date "
        f"<b>{usd(r.month_to_date)}</b>; month-end forecast <b>{usd(r.forecast)}</b>. "
        f"Retry waste {usd(r.retry_waste)}; cache savings {usd(r.cache_savings)}.</p>",
        "".join(
            f"<p>{html.escape(label)}: {n:,} calls (stored at $0).</p>" for label, n in r.not_priced
        ),
        budget,
        "<img src='cid:chart' alt='daily cost, last 30 days'>",
    ]
    if r.anomalies:
        parts.append(
            _table(
                "Anomalies (against the trailing 14 days)",
                ["what", "cost", "baseline", "change"],
                [
                    [
                        f"{a['dimension']} {a['key']}",
                        usd(a["cost"]),
                        usd(a["baseline"]),
                        f"{a['change_pct']:+.0f}%",
                    ]
                    for a in r.anomalies
                ],
            )
        )
    parts.append(
        _table(
            "By team", ["team", "cost", "calls"], [[t, usd(c), f"{n:,}"] for t, c, n in r.by_team]
        )
    )
    if r.budget_teams:
        parts.append(
            _table(
                "Budgets",
                ["team", "budget", "month to date", "forecast"],
                [[t, usd(b), usd(m), usd(f)] for t, b, m, f in r.budget_teams],
            )
        )
    parts.append(
        _table(
            "Top movers (day over day)",
            ["service", "yesterday", "day before", "change"],
            [[s, usd(y), usd(b), usd(d)] for s, y, b, d in r.movers],
        )
    )
    parts.append(
        _table(
            "By service",
            ["service", "cost", "calls"],
            [[s, usd(c), f"{n:,}"] for s, c, n in r.by_service],
        )
    )
    parts.append(
        _table(
            "By model",
            ["model", "cost", "calls"],
            [[m, usd(c), f"{n:,}"] for m, c, n in r.by_model],
        )
    )
    return "<html><body style='font-family:sans-serif'>" + "".join(parts) + "</body></html>"


def report_csv(r: DailyReport) -> str:
    """One row per (dimension, key): exact costs, for spreadsheets."""
    out = io.StringIO()
    w = csv.writer(out)
    w.writerow(["day", "dimension", "key", "cost_usd", "calls"])
    for dim, rows in (("team", r.by_team), ("service", r.by_service), ("model", r.by_model)):
        for key, cost, calls in rows:
            w.writerow([r.day.isoformat(), dim, key, str(cost), calls])
    w.writerow([r.day.isoformat(), "total", "all", str(r.total), r.calls])
    return out.getvalue()


def report_text(r: DailyReport) -> str:
    """A short chat message (Slack-style webhook)."""
    lines = [
        f"*LLM cost {r.day.isoformat()}*: {usd(r.total)} ({r.calls:,} calls), "
        f"MTD {usd(r.month_to_date)}, forecast {usd(r.forecast)}"
        + (f" / budget {usd(r.budget_total)}" if r.budget_total is not None else "")
    ]
    lines += [f"• {t}: {usd(c)}" for t, c, _ in r.by_team[:5]]
    lines += [
        f":warning: {a['dimension']} {a['key']} {usd(a['cost'])} "
        f"({a['change_pct']:+.0f}% vs baseline)"
        for a in r.anomalies[:5]
    ]
    lines += [f"• {label}: {n:,} calls (stored at $0)" for label, n in r.not_priced]
    return "\n".join(lines)


def chart_png(r: DailyReport) -> bytes:
    """Daily cost over the trailing 30 days, yesterday highlighted."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    days = [d for d, _ in r.daily_totals] or [r.day]
    costs = [float(c) for _, c in r.daily_totals] or [0.0]
    fig, ax = plt.subplots(figsize=(7, 2.6), dpi=100)
    colors = ["#d62728" if d == r.day else "#1f77b4" for d in days]
    ax.bar([d.strftime("%m-%d") for d in days], costs, color=colors)
    ax.set_ylabel("USD / day")
    ax.set_title("LLM cost, last 30 days")
    ax.tick_params(axis="x", labelrotation=90, labelsize=7)
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    plt.close(fig)
    return buf.getvalue()
