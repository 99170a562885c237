"""Connect to ClickHouse (embedded chDB or a server) and migrate the schema.

One client everywhere: clickhouse-connect. ``chdb:///path`` opens the embedded
engine on a data folder (one process owns a folder at a time);
``http(s)://user:pass@host:port`` reaches a server. The same SQL runs on both.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from importlib import resources
from pathlib import Path
from typing import Any, Protocol

from pydantic import SecretStr

from llmpulse.errors import ConfigError, MissingExtraError

__all__ = [
    "MIGRATIONS",
    "ClickHouseClient",
    "QueryResult",
    "check_identifier",
    "connect",
    "migrate",
    "redact_dsn",
    "set_retention",
]

_IDENT = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,62}$")
TABLES_WITH_TTL = {
    "llm_calls": "toDateTime(start_time)",
    "dead_letters": "toDateTime(rejected_at)",
    "ingest_batches": "toDateTime(ingested_at)",
    "latency_1m": "minute",
    "cost_1m": "minute",
    "transaction_costs": "toDateTime(last_seen)",
    "drift_events": "minute",
    "consumer_lag": "toDateTime(ts)",
    "agent_spans": "toDateTime(start_time)",
}


class QueryResult(Protocol):
    """What the code reads of a query's result."""

    @property
    def result_rows(self) -> Sequence[Sequence[Any]]: ...

    @property
    def column_names(self) -> Sequence[str]: ...


class ClickHouseClient(Protocol):
    """The methods of a clickhouse-connect client that llmpulse uses (both backends)."""

    def command(
        self,
        cmd: str,
        parameters: Sequence[Any] | dict[str, Any] | None = None,
        data: str | bytes | None = None,
        settings: dict[str, Any] | None = None,
    ) -> Any: ...

    def query(
        self,
        query: str | None = None,
        parameters: Sequence[Any] | dict[str, Any] | None = None,
        settings: dict[str, Any] | None = None,
    ) -> QueryResult: ...

    def insert(
        self,
        table: str | None = None,
        data: Sequence[Sequence[Any]] | None = None,
        column_names: str | Sequence[str] | None = "*",
        database: str | None = None,
        column_types: Any = None,
        column_type_names: Sequence[str] | None = None,
        column_oriented: bool = False,
        settings: dict[str, Any] | None = None,
    ) -> Any: ...

    def raw_insert(
        self,
        table: str,
        column_names: Sequence[str] | None = None,
        insert_block: bytes | None = None,
        settings: dict[str, Any] | None = None,
        fmt: str | None = None,
    ) -> Any: ...

    def close(self) -> None: ...


_SECRET_PARAM = re.compile(r"([?&](?:password|pass|access_token|token)=)[^&#]*", re.I)


def redact_dsn(dsn: str | SecretStr) -> str:
    """The DSN without its password (user info up to the last ``@``, and secret query
    parameters such as ``?password=``), for logs and errors."""
    if isinstance(dsn, SecretStr):
        dsn = dsn.get_secret_value()
    scheme, sep, rest = dsn.partition("://")
    if not sep:
        return dsn
    cut = min((i for i in (rest.find("?"), rest.find("#")) if i >= 0), default=len(rest))
    authority, tail = rest[:cut], rest[cut:]
    user_info, at, host = authority.rpartition("@")
    if at:
        authority = f"{user_info.split(':', 1)[0]}:***@{host}"
    tail = _SECRET_PARAM.sub(r"\1***", tail)
    return f"{scheme}://{authority}{tail}"


def _migrations() -> list[tuple[int, str]]:
    folder = resources.files("llmpulse.schemas").joinpath("clickhouse")
    out = []
    for entry in folder.iterdir():
        name = entry.name
        if name.endswith(".sql") and name[:3].isdigit():
            out.append((int(name[:3]), entry.read_text()))
    return sorted(out)


MIGRATIONS = _migrations()


def check_identifier(name: str, what: str = "database") -> str:
    """Return ``name`` if it is a plain ClickHouse identifier, else raise ConfigError."""
    if not _IDENT.match(name):
        raise ConfigError(f"{what} name {name!r} must match {_IDENT.pattern}")
    return name


def connect(dsn: str | SecretStr, **kwargs: Any) -> ClickHouseClient:
    """A clickhouse-connect client for ``dsn`` (``chdb:///dir`` or ``http(s)://...``)."""
    if isinstance(dsn, SecretStr):
        dsn = dsn.get_secret_value()
    try:
        import clickhouse_connect
    except ImportError as exc:
        raise MissingExtraError("clickhouse_connect") from exc
    if dsn.startswith("chdb://"):
        try:
            import chdb  # noqa: F401
        except ImportError as exc:
            raise MissingExtraError("chdb") from exc
        path = dsn[len("chdb://") :]
        if path and path not in (":memory:", "/:memory:"):
            Path(path).mkdir(parents=True, exist_ok=True)
            dsn = "chdb://" + str(Path(path).resolve())
    elif not dsn.startswith(("http://", "https://", "clickhouse://")):
        raise ConfigError(
            f"ClickHouse DSN {redact_dsn(dsn)!r} must start with chdb://, http:// or https://"
        )
    return clickhouse_connect.get_client(dsn=dsn, **kwargs)


def migrate(client: ClickHouseClient, database: str = "llmpulse", ttl_days: int = 90) -> list[int]:
    """Create or update the schema idempotently; return the versions applied now."""
    db = check_identifier(database)
    ttl = int(ttl_days)
    if ttl <= 0:
        raise ConfigError(f"retention must be a positive number of days, not {ttl_days!r}")
    client.command(f"CREATE DATABASE IF NOT EXISTS {db}")
    client.command(
        f"CREATE TABLE IF NOT EXISTS {db}.schema_migrations (version UInt32, "
        "applied_at DateTime64(3, 'UTC') DEFAULT now64(3)) ENGINE = ReplacingMergeTree "
        "ORDER BY version"
    )
    done = {r[0] for r in client.query(f"SELECT version FROM {db}.schema_migrations").result_rows}
    applied = []
    for version, sql in MIGRATIONS:
        if version in done:
            continue
        for statement in _statements(sql.replace("{db}", db).replace("{ttl_days}", str(ttl))):
            client.command(statement)
        client.insert(f"{db}.schema_migrations", [[version]], column_names=["version"])
        applied.append(version)
    set_retention(client, db, ttl)
    return applied


def set_retention(client: ClickHouseClient, database: str, ttl_days: int) -> None:
    """Set the TTL of every table to ``ttl_days`` days."""
    db = check_identifier(database)
    for table, expr in TABLES_WITH_TTL.items():
        client.command(f"ALTER TABLE {db}.{table} MODIFY TTL {expr} + INTERVAL {int(ttl_days)} DAY")


def _statements(sql: str) -> list[str]:
    lines = [line for line in sql.splitlines() if not line.strip().startswith("--")]
    return [s.strip() for s in "\n".join(lines).split(";") if s.strip()]
