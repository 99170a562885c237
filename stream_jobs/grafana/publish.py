"""``llmpulse grafana publish``: push datasource, folder, dashboards and alerting
to a Grafana through its HTTP API (grafana-client), idempotently.

Everything is keyed by a fixed uid, so publishing twice updates in place: the
datasource ``llmpulse-clickhouse``, the folder ``llmpulse``, one dashboard per
uid, one alert rule per uid, the contact points by uid, and the notification
policy tree. Bad credentials stop it at the first call with a clear error.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from llmpulse.errors import ConfigError, MissingExtraError
from llmpulse.stream_jobs.clickhouse import check_identifier
from llmpulse.stream_jobs.grafana.alerts import contact_points, policies, rules_file
from llmpulse.stream_jobs.grafana.build import DATASOURCE_TYPE, DATASOURCE_UID, build_dashboard
from llmpulse.stream_jobs.grafana.panels import DASHBOARDS

__all__ = ["FOLDER_UID", "publish"]

FOLDER_UID = "llmpulse"


def _api(url: str, token: str | None, user: str | None, password: str | None) -> Any:
    try:
        from grafana_client.api import GrafanaApi
    except ImportError as exc:
        raise MissingExtraError("grafana_client", "pipeline") from exc
    credential: Any = token if token else ((user, password) if user else None)
    return GrafanaApi.from_url(url, credential=credential, timeout=10.0)


def _expand(doc: Any, values: Mapping[str, str]) -> Any:
    """Resolve ``${VAR}`` placeholders (contact point addresses) from ``values``, in
    the parsed document's strings (a quote in a value cannot break the JSON)."""
    if isinstance(doc, dict):
        return {k: _expand(v, values) for k, v in doc.items()}
    if isinstance(doc, list):
        return [_expand(v, values) for v in doc]
    if isinstance(doc, str):
        return re.sub(r"\$\{([A-Z0-9_]+)\}", lambda m: values.get(m.group(1), m.group(0)), doc)
    return doc


def publish(
    url: str,
    *,
    token: str | None = None,
    user: str | None = None,
    password: str | None = None,
    clickhouse: dict[str, Any] | None = None,
    database: str = "llmpulse",
    placeholders: Mapping[str, str] | None = None,
) -> dict[str, int]:
    """Publish everything; return how many objects of each kind were written."""
    from grafana_client.client import GrafanaClientError, GrafanaUnauthorizedError

    api = _api(url, token, user, password)
    try:
        api.organization.get_current_organization()
    except GrafanaUnauthorizedError as exc:
        raise ConfigError(
            f"Grafana at {url} rejected the credentials (HTTP 401): "
            "check LLMPULSE_GRAFANA_TOKEN or the user and password"
        ) from exc
    except GrafanaClientError as exc:
        raise ConfigError(f"Grafana at {url} refused the request: {exc}") from exc
    except Exception as exc:  # connection refused, DNS, TLS
        raise ConfigError(f"cannot reach Grafana at {url}: {exc}") from exc

    counts = {
        "datasources": 0,
        "folders": 0,
        "dashboards": 0,
        "alert_rules": 0,
        "contact_points": 0,
        "policies": 0,
    }
    ch = clickhouse or {}
    datasource = {
        "uid": DATASOURCE_UID,
        "name": "llmpulse ClickHouse",
        "type": DATASOURCE_TYPE,
        "access": "proxy",
        "isDefault": True,
        "jsonData": {
            "host": ch.get("host", "clickhouse"),
            "port": int(ch.get("port", 8123)),
            "protocol": "http",
            "username": ch.get("user", "grafana"),
            "defaultDatabase": check_identifier(database),
        },
        "secureJsonData": {"password": ch.get("password", "")},
    }
    try:
        api.datasource.get_datasource_by_uid(DATASOURCE_UID)
        api.datasource.update_datasource_by_uid(DATASOURCE_UID, datasource)
    except GrafanaClientError:
        api.datasource.create_datasource(datasource)
    counts["datasources"] += 1

    try:
        api.folder.get_folder(FOLDER_UID)
    except GrafanaClientError:
        api.folder.create_folder("llmpulse", uid=FOLDER_UID)
    counts["folders"] += 1

    for d in DASHBOARDS:
        body = build_dashboard(d)
        body.pop("id", None)
        api.dashboard.update_dashboard(
            {
                "dashboard": body,
                "folderUid": FOLDER_UID,
                "overwrite": True,
                "message": "published by llmpulse",
            }
        )
        counts["dashboards"] += 1

    group = rules_file()["groups"][0]
    for rule in group["rules"]:
        body = {**rule, "folderUID": FOLDER_UID, "ruleGroup": group["name"], "orgID": 1}
        try:
            api.alertingprovisioning.get_alertrule(rule["uid"])
            api.alertingprovisioning.update_alertrule(rule["uid"], body)
        except GrafanaClientError:
            api.alertingprovisioning.create_alertrule(body)
        counts["alert_rules"] += 1

    existing = {c.get("uid") for c in api.alertingprovisioning.get_contactpoints() or []}
    for receiver in _expand(contact_points(), placeholders or {})["contactPoints"][0]["receivers"]:
        body = {**receiver, "name": "llmpulse"}
        if receiver["uid"] in existing:
            api.alertingprovisioning.update_contactpoint(receiver["uid"], body)
        else:
            api.alertingprovisioning.create_contactpoint(body)
        counts["contact_points"] += 1

    policy = policies()["policies"][0]
    api.alertingprovisioning.set_notification_policy_tree(
        {k: v for k, v in policy.items() if k != "orgId"}
    )
    counts["policies"] += 1
    return counts
