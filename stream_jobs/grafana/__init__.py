"""Grafana: dashboards built from code, their SQL checked against real stores."""

from llmpulse.stream_jobs.grafana.build import build_dashboard, check_panels, write_dashboards
from llmpulse.stream_jobs.grafana.macros import expand
from llmpulse.stream_jobs.grafana.panels import DASHBOARDS, Dashboard, Panel

__all__ = [
    "DASHBOARDS",
    "Dashboard",
    "Panel",
    "build_dashboard",
    "check_panels",
    "expand",
    "write_dashboards",
]
