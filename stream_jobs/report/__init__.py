"""The finance daily cost report: figures, rendering, delivery."""

from llmpulse.stream_jobs.report.daily import Budgets, DailyReport, build_daily_report
from llmpulse.stream_jobs.report.deliver import (
    ReportSettings,
    send_daily_report,
    write_report_files,
)

__all__ = [
    "Budgets",
    "DailyReport",
    "ReportSettings",
    "build_daily_report",
    "send_daily_report",
    "write_report_files",
]
