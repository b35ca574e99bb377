"""PostgreSQL as the operational store, for several service replicas behind a balancer.

The embedded DuckDB file serves one process. When a shop runs two or more
``retain serve`` replicas, the state they must share lives in PostgreSQL:
API keys, accepted events (with the quarantine of rejected ones and the
intake log) and erasure audits. Every replica validates a batch with the
same rules as ``retain ingest`` (the batch is checked in an in-memory DuckDB
by the shared ingestion code), then commits the accepted events, its
quarantine rows and its intake record in one PostgreSQL transaction;
``ON CONFLICT (event_id) DO NOTHING`` makes a retry through any replica
harmless. Analytics and training keep running on the embedded store (or on
Spark): ``retain pull-events`` copies the operational events into it through
the same idempotent ingestion.
"""

from __future__ import annotations

import datetime as dt
import json
import uuid
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import Any

import pyarrow as pa

from retain.data.ingest import ingest_arrow
from retain.data.schemas import get_schema
from retain.data.store import SYSTEM_TABLES, Store
from retain.errors import ConfigError, InvalidInputError, NotFoundError, StoreError
from retain.privacy import AUDIT_DDL, id_token_pattern
from retain.serve.intake import EventIntake, ingest_batch
from retain.serve.keys import KEYS_DDL, ApiKey, digest_secret, new_key_parts, validate_key_request

__all__ = ["PostgresStore", "pull_events"]

_EVENTS = get_schema("events")
#: Tables the operational store keeps that hold a customer's id.
_PERSONAL = ("events",)


def _pg(ddl: str) -> str:
    """DuckDB DDL of :mod:`retain.data.schemas` in PostgreSQL's spelling."""
    return ddl.replace(" DOUBLE", " DOUBLE PRECISION")


class PostgresStore:
    """The operational tables in one PostgreSQL database (``postgresql://...``)."""

    def __init__(self, url: str) -> None:
        try:
            import psycopg
        except ImportError as exc:  # pragma: no cover - the dependency is declared
            raise ConfigError("the PostgreSQL store needs psycopg: pip install psycopg") from exc
        self.url = url
        self._psycopg = psycopg
        with self.connect() as con:
            for ddl in (
                _pg(_EVENTS.ddl()),
                _pg(SYSTEM_TABLES["quarantine"]),
                _pg(SYSTEM_TABLES["ingest_runs"]),
                _pg(KEYS_DDL),
                _pg(AUDIT_DDL),
            ):
                con.execute(ddl)

    @contextmanager
    def connect(self) -> Iterator[Any]:
        """One connection in one transaction: commits on success, rolls back on error."""
        try:
            con = self._psycopg.connect(self.url, connect_timeout=10)
        except self._psycopg.OperationalError as exc:
            first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            raise StoreError(f"cannot reach PostgreSQL at {_redact(self.url)}: {first}") from exc
        try:
            with con.transaction():
                yield con
        finally:
            con.close()

    # -- API keys ---------------------------------------------------------------

    def create_key(self, name: str, role: str, rate_per_second: float) -> tuple[ApiKey, str]:
        checked = validate_key_request(name, role, rate_per_second)
        key_id, secret, full = new_key_parts()
        now = _now()
        with self.connect() as con:
            con.execute(
                "INSERT INTO api_keys VALUES (%s, %s, %s, %s, %s, %s, NULL)",
                [key_id, name.strip(), role, digest_secret(secret), rate_per_second, now],
            )
        return ApiKey(key_id, name.strip(), checked, rate_per_second, now), full

    def revoke_key(self, key_id: str) -> None:
        with self.connect() as con:
            found = con.execute(
                "UPDATE api_keys SET revoked_at = %s WHERE key_id = %s AND revoked_at IS NULL "
                "RETURNING key_id",
                [_now(), key_id],
            ).fetchall()
        if not found:
            raise NotFoundError(f"no live API key with id {key_id!r}")

    def list_keys(self) -> list[ApiKey]:
        with self.connect() as con:
            rows = con.execute(
                "SELECT key_id, name, role, rate_per_second, created_at, revoked_at "
                "FROM api_keys ORDER BY created_at DESC"
            ).fetchall()
        return [ApiKey(*r) for r in rows]

    def live_keys(self) -> dict[str, tuple[str, ApiKey]]:
        with self.connect() as con:
            rows = con.execute(
                "SELECT key_id, name, role, rate_per_second, created_at, secret_sha256 "
                "FROM api_keys WHERE revoked_at IS NULL"
            ).fetchall()
        return {r[0]: (r[5], ApiKey(*r[:5])) for r in rows}

    # -- events -------------------------------------------------------------------

    def ingest_events(
        self,
        records: Sequence[Mapping[str, Any]],
        source: str,
        *,
        future_tolerance_seconds: int = 300,
        max_text_chars: int = 1_000_000,
    ) -> EventIntake:
        """Validate ``records`` as ``retain ingest`` would, then commit them in one transaction."""
        with Store.open(":memory:") as scratch:
            report = ingest_batch(
                scratch,
                records,
                source,
                future_tolerance_seconds=future_tolerance_seconds,
                max_text_chars=max_text_chars,
            )
            valid = scratch.query_arrow("SELECT * FROM events ORDER BY ts, event_id")
            rejected = scratch.execute(
                "SELECT line, reason, record FROM quarantine ORDER BY line"
            ).fetchall()
        columns = list(_EVENTS.field_names)
        placeholders = ", ".join(["%s"] * len(columns))
        rows = [tuple(row[c] for c in columns) for row in valid.to_pylist()]
        with self.connect() as con:
            inserted: list[tuple[str, str | None, str]] = []
            with con.cursor() as cur:
                for row in rows:
                    cur.execute(
                        f"INSERT INTO events ({', '.join(columns)}) VALUES ({placeholders}) "
                        "ON CONFLICT (event_id) DO NOTHING RETURNING user_id, item_id, event_type",
                        row,
                    )
                    inserted.extend(cur.fetchall())
            run_id = uuid.uuid4().hex
            for line, reason, record in rejected:
                con.execute(
                    "INSERT INTO quarantine VALUES (%s, %s, %s, %s, %s, %s, %s) "
                    "ON CONFLICT (table_name, source, line) DO UPDATE SET reason = EXCLUDED.reason",
                    ["events", source, line, reason, record, run_id, _now()],
                )
            duplicates = report.accepted + report.duplicates - len(inserted)
            con.execute(
                "INSERT INTO ingest_runs VALUES "
                "(%s, 'events', %s, 'api', 'completed', %s, %s, %s, %s, %s, %s, NULL)",
                [
                    run_id,
                    source,
                    _now(),
                    _now(),
                    report.rows,
                    len(inserted),
                    duplicates,
                    report.quarantined,
                ],
            )
        return EventIntake(
            received=report.rows,
            accepted=len(inserted),
            duplicates=duplicates,
            quarantined=report.quarantined,
            errors=[(int(line) - 1, str(reason)) for line, reason, _ in rejected],
            ignored_fields=list(report.ignored_columns),
            fresh=[(str(u), i, str(t)) for u, i, t in inserted],
        )

    def events_after(self, after: tuple[dt.datetime, str] | None, limit: int) -> pa.Table:
        """Up to ``limit`` events ordered by (ts, event_id), strictly after ``after``."""
        columns = ", ".join(_EVENTS.field_names)
        with self.connect() as con:
            if after is None:
                rows = con.execute(
                    f"SELECT {columns} FROM events ORDER BY ts, event_id LIMIT %s", [limit]
                ).fetchall()
            else:
                rows = con.execute(
                    f"SELECT {columns} FROM events WHERE (ts, event_id) > (%s, %s) "
                    "ORDER BY ts, event_id LIMIT %s",
                    [after[0], after[1], limit],
                ).fetchall()
        names = list(_EVENTS.field_names)
        return pa.table({n: [_text(r[i]) for r in rows] for i, n in enumerate(names)})

    # -- privacy ----------------------------------------------------------------

    def export_user(self, user_id: str) -> dict[str, list[dict[str, Any]]]:
        """The customer's rows here, by table (JSON-ready)."""
        out: dict[str, list[dict[str, Any]]] = {}
        with self.connect() as con:
            for table in _PERSONAL:
                cur = con.execute(f"SELECT * FROM {table} WHERE user_id = %s", [user_id])
                names = [c.name for c in cur.description or []]
                rows = [dict(zip(names, map(_text, r), strict=True)) for r in cur.fetchall()]
                if rows:
                    out[table] = rows
        return out

    def erase_user(self, user_id: str) -> dict[str, int]:
        """Delete the customer's rows here and audit it without the id."""
        if not user_id.strip():
            raise InvalidInputError("a user id is required")
        counts: dict[str, int] = {}
        token = id_token_pattern(user_id)
        with self.connect() as con:
            for table in _PERSONAL:
                n = con.execute(f"DELETE FROM {table} WHERE user_id = %s", [user_id]).rowcount
                if n:
                    counts[table] = n
            n = con.execute("DELETE FROM quarantine WHERE record ~ %s", [token]).rowcount
            if n:
                counts["quarantine"] = n
            con.execute(
                "INSERT INTO erasure_audit VALUES (%s, %s, %s, %s)",
                [
                    uuid.uuid4().hex,
                    _now(),
                    sum(counts.values()),
                    json.dumps(counts, sort_keys=True),
                ],
            )
        return counts


_CURSOR_KEY = "operational_events_cursor"


def pull_events(ops: PostgresStore, store: Store, *, batch: int = 50_000) -> int:
    """Copy operational events the embedded store lacks into it; returns how many were new.

    Goes through the same ingestion as a file (idempotent by ``event_id``), in
    (ts, event_id) order from where the last pull stopped, so a pull that is
    interrupted or repeated adds each event exactly once.
    """
    found = store.execute("SELECT value FROM retain_meta WHERE key = ?", [_CURSOR_KEY]).fetchall()
    cursor: tuple[dt.datetime, str] | None = None
    if found:
        stamp, _, event_id = str(found[0][0]).partition("|")
        cursor = (dt.datetime.fromisoformat(stamp), event_id)
    added = 0
    while True:
        chunk = ops.events_after(cursor, batch)
        if chunk.num_rows == 0:
            return added
        report = ingest_arrow(
            store, "events", chunk, source=f"{_redact(ops.url)}#events", format="postgres"
        )
        added += report.accepted
        last = chunk.slice(chunk.num_rows - 1).to_pylist()[0]
        cursor = (dt.datetime.fromisoformat(str(last["ts"])), str(last["event_id"]))
        store.execute(
            "INSERT OR REPLACE INTO retain_meta VALUES (?, ?)",
            [_CURSOR_KEY, f"{cursor[0].isoformat()}|{cursor[1]}"],
        )


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC).replace(tzinfo=None)


def _text(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, dt.datetime):
        return value.isoformat(sep=" ")
    return str(value)


def _redact(url: str) -> str:
    """The URL without its password, for error messages."""
    scheme, sep, rest = url.partition("://")
    if "@" not in rest:
        return url
    credentials, _, host = rest.rpartition("@")
    user = credentials.split(":", 1)[0]
    return f"{scheme}{sep}{user}:***@{host}"
