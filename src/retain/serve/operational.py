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

Replicas also keep each other's serving models fresh. Every accepted event
gets an ``accepted_seq`` from a sequence, and batches commit one at a time
(a transaction-level advisory lock), so sequence order is commit order and a
reader that has seen ``accepted_seq = n`` can never later find a smaller one
committed: each replica polls ``accepted_seq > cursor`` (see
:class:`retain.serve.state.ReplicaFeed`). An erasure is announced with
``NOTIFY`` carrying the customer's id, so it is delivered to the listening
replicas and never stored.
"""

from __future__ import annotations

import datetime as dt
import json
import secrets
import uuid
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import Any

import pyarrow as pa

from retain.assistant.tools import (
    ASSISTANT_DDL,
    ASSISTANT_MIGRATIONS,
    HANDOFFS_TABLE,
    RETURN_REQUESTS_TABLE,
    STATE_TABLE,
    UNANSWERED_TABLE,
    SqlAssistantTables,
)
from retain.data.consent import (
    CONSENT_DDL,
    CONSENT_LOG,
    LATEST_FIRST,
    ConsentChange,
    ConsentState,
    apply_changes,
    history_entry,
)
from retain.data.ingest import ingest_arrow
from retain.data.schemas import get_schema
from retain.data.store import SYSTEM_TABLES, Store
from retain.data.user_ids import EMAIL_ID_PATTERN, canonical_user_id, fold_email_id
from retain.errors import ConfigError, InvalidInputError, NotFoundError, StoreError
from retain.privacy import (
    AUDIT_DDL,
    ERASED_DDL,
    ERASED_TABLE,
    SALT_KEY,
    id_hash,
    id_token_pattern,
)
from retain.serve.intake import EventIntake, ingest_batch
from retain.serve.keys import KEYS_DDL, ApiKey, digest_secret, new_key_parts, validate_key_request

__all__ = [
    "ERASURE_CHANNEL",
    "PULLED",
    "ErasureListener",
    "FreshEvent",
    "PostgresAssistantTables",
    "PostgresStore",
    "pull_consent",
    "pull_events",
]

_EVENTS = get_schema("events")
#: Canonical tables replicas write here and ``retain pull-events`` copies into the embedded store.
PULLED = ("events", "conversations")
#: Tables the operational store keeps that hold a customer's id.
_PERSONAL = (
    *PULLED,
    CONSENT_LOG,
    STATE_TABLE,
    RETURN_REQUESTS_TABLE,
    HANDOFFS_TABLE,
    UNANSWERED_TABLE,
)
#: ``retain_meta`` key set once the stored customer ids are folded.
_FOLDED_KEY = "email_ids_folded"
#: The ``NOTIFY`` channel on which an erasure names the erased customer to every replica.
ERASURE_CHANNEL = "retain_erasures"
# Advisory-lock keys (arbitrary, fixed): one for schema creation by replicas
# starting together, one that makes event batches commit one at a time.
_DDL_LOCK = 7_146_001
_EVENTS_LOCK = 7_146_002
_CONSENT_LOCK = 7_146_003
#: ``(accepted_seq, user_id, item_id, event_type)`` of an accepted event.
FreshEvent = tuple[int, str, str | None, str]


def _pg(ddl: str) -> str:
    """DuckDB DDL of :mod:`retain.data.schemas` in PostgreSQL's spelling."""
    return ddl.replace(" DOUBLE", " DOUBLE PRECISION")


def _sequenced(table: str) -> str:
    """A canonical table with ``accepted_seq``: the order its rows were committed in."""
    return (
        f"{_pg(get_schema(table).ddl())}; "
        f"ALTER TABLE {table} ADD COLUMN IF NOT EXISTS accepted_seq BIGSERIAL; "
        f"CREATE INDEX IF NOT EXISTS {table}_accepted_seq ON {table} (accepted_seq)"
    )


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
            con.execute("SELECT pg_advisory_xact_lock(%s)", [_DDL_LOCK])
            for ddl in (
                *(_sequenced(table) for table in PULLED),
                *(_pg(ddl) for ddl in (*ASSISTANT_DDL, *ASSISTANT_MIGRATIONS)),
                _pg(SYSTEM_TABLES["quarantine"]),
                _pg(SYSTEM_TABLES["ingest_runs"]),
                _pg(KEYS_DDL),
                _pg(AUDIT_DDL),
                _pg(ERASED_DDL),
                _pg(SYSTEM_TABLES["retain_meta"]),
                _pg(CONSENT_DDL),
                f"ALTER TABLE {CONSENT_LOG} ADD COLUMN IF NOT EXISTS accepted_seq BIGSERIAL",
            ):
                con.execute(ddl)
            _fold_email_ids(con)

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
        currency: str | None = None,
        claim: Callable[[list[int]], None] | None = None,
    ) -> EventIntake:
        """Validate ``records`` as ``retain ingest`` would, then commit them in one transaction.

        ``claim`` receives the ``accepted_seq`` of the newly stored events
        before the commit, so the calling replica can tell its own events from
        other replicas' when it polls (it feeds its own at once).
        """
        columns = list(_EVENTS.field_names)
        placeholders = ", ".join(["%s"] * len(columns))
        ids = list({str(r["event_id"]) for r in records if r.get("event_id") is not None})
        with self.connect() as con:
            # Batches commit one at a time, and the lock is taken before the
            # stored events are read: an id another replica stores meanwhile is
            # committed before this read, or waits until this batch commits.
            con.execute("SELECT pg_advisory_xact_lock(%s)", [_EVENTS_LOCK])
            # The stored events of these ids go into the scratch store first, so
            # the shared ingestion tells a retry (a duplicate) from a reused id
            # with other values (a conflict) exactly as the embedded store does.
            known = con.execute(
                f"SELECT {', '.join(columns)} FROM events WHERE event_id = ANY(%s)", [ids]
            ).fetchall()
            users = [str(r["user_id"]).strip() for r in records if r.get("user_id") is not None]
            erased = _erased(con, users)
            with Store.open(":memory:") as scratch:
                if erased is not None:  # the shared ingestion skips their re-sent events
                    salt, rows = erased
                    scratch.execute(ERASED_DDL)
                    scratch.execute("INSERT INTO retain_meta VALUES (?, ?)", [SALT_KEY, salt])
                    scratch.connection.executemany(
                        f"INSERT INTO {ERASED_TABLE} VALUES (?, ?)", rows
                    )
                if known:
                    stored = pa.Table.from_pylist(
                        [dict(zip(columns, r, strict=True)) for r in known]
                    )
                    scratch.connection.register("_known", stored)
                    scratch.execute(
                        f"INSERT INTO events ({', '.join(columns)}) "
                        f"SELECT {', '.join(columns)} FROM _known"
                    )
                report = ingest_batch(
                    scratch,
                    records,
                    source,
                    future_tolerance_seconds=future_tolerance_seconds,
                    max_text_chars=max_text_chars,
                    currency=currency,
                )
                valid = scratch.query_arrow(
                    "SELECT * FROM events WHERE NOT list_contains(?, event_id) "
                    "ORDER BY ts, event_id",
                    [[r[0] for r in known]],
                )
                rejected = scratch.execute(
                    "SELECT line, reason, record FROM quarantine ORDER BY line"
                ).fetchall()
            rows = [tuple(row[c] for c in columns) for row in valid.to_pylist()]
            inserted: list[FreshEvent] = []
            with con.cursor() as cur:
                for row in rows:
                    cur.execute(
                        f"INSERT INTO events ({', '.join(columns)}) VALUES ({placeholders}) "
                        "ON CONFLICT (event_id) DO NOTHING "
                        "RETURNING accepted_seq, user_id, item_id, event_type",
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
            if claim is not None:
                claim([seq for seq, *_ in inserted])
        return EventIntake(
            received=report.rows,
            accepted=len(inserted),
            duplicates=duplicates,
            quarantined=report.quarantined,
            erased=report.erased,
            errors=[(int(line) - 1, str(reason)) for line, reason, _ in rejected],
            ignored_fields=list(report.ignored_columns),
            fresh=[(str(u), i, str(t)) for _, u, i, t in inserted],
        )

    # -- marketing consent ----------------------------------------------------------

    def record_consent(self, change: ConsentChange) -> ConsentState:
        """Log ``change`` for every replica; the customer's state is their latest change.

        Changes commit one at a time (an advisory lock), so ``accepted_seq``
        order is commit order and :func:`pull_consent` never skips one.

        Raises:
            InvalidInputError: the customer was erased on request after the
                change happened (storing it would bring them back).
        """
        with self.connect() as con:
            con.execute("SELECT pg_advisory_xact_lock(%s)", [_CONSENT_LOCK])
            erased = _erased(con, [change.user_id])
            if erased is not None and erased[1][0][1] > change.changed_at:
                raise InvalidInputError(
                    f"customer {change.user_id!r} was erased on request after this change "
                    f"({change.changed_at.isoformat()} UTC); it is not stored"
                )
            con.execute(
                f"INSERT INTO {CONSENT_LOG} (change_id, user_id, marketing_consent, changed_at, "
                "received_at, source) VALUES (%s, %s, %s, %s, %s, %s)",
                list(change.row()),
            )
            change_id, consent, changed_at = con.execute(
                f"SELECT change_id, marketing_consent, changed_at FROM {CONSENT_LOG} "
                f"WHERE user_id = %s ORDER BY {LATEST_FIRST} LIMIT 1",
                [change.user_id],
            ).fetchone()
        return ConsentState(
            change.user_id, bool(consent), changed_at, change_id == change.change_id
        )

    def consent_history(self, user_id: str, limit: int = 50) -> list[dict[str, Any]]:
        """The customer's logged changes here, newest first."""
        user_id = canonical_user_id(user_id)
        with self.connect() as con:
            rows = con.execute(
                "SELECT marketing_consent, changed_at, received_at, source "
                f"FROM {CONSENT_LOG} WHERE user_id = %s ORDER BY {LATEST_FIRST} LIMIT %s",
                [user_id, limit],
            ).fetchall()
        return [history_entry(*r) for r in rows]

    def consent_since(self, seq: int, limit: int) -> tuple[list[tuple[Any, ...]], int]:
        """Up to ``limit`` ``consent_log`` rows committed after ``accepted_seq = seq``, and
        the last ``accepted_seq`` read (``seq`` when none)."""
        with self.connect() as con:
            rows = con.execute(
                "SELECT change_id, user_id, marketing_consent, changed_at, received_at, source, "
                f"accepted_seq FROM {CONSENT_LOG} WHERE accepted_seq > %s "
                "ORDER BY accepted_seq LIMIT %s",
                [seq, limit],
            ).fetchall()
        return [tuple(r[:-1]) for r in rows], int(rows[-1][-1]) if rows else seq

    def latest_seq(self) -> int:
        """The ``accepted_seq`` of the newest committed event (0 when there is none)."""
        with self.connect() as con:
            row = con.execute("SELECT coalesce(max(accepted_seq), 0) FROM events").fetchone()
        return int(row[0])

    def events_since(self, seq: int, limit: int) -> list[FreshEvent]:
        """Up to ``limit`` committed events with ``accepted_seq > seq``, in that order."""
        rows = self._since("events", ["user_id", "item_id", "event_type"], seq, limit)
        return [(int(s), str(u), i, str(t)) for u, i, t, s in rows]

    def rows_since(self, table: str, seq: int, limit: int) -> tuple[pa.Table, int]:
        """Up to ``limit`` rows of a :data:`PULLED` table committed after ``accepted_seq = seq``,
        in the canonical fields, and the last ``accepted_seq`` read (``seq`` when none)."""
        names = list(get_schema(table).field_names)
        rows = self._since(table, names, seq, limit)
        data = pa.table({n: [_text(r[i]) for r in rows] for i, n in enumerate(names)})
        return data, int(rows[-1][-1]) if rows else seq

    def _since(self, table: str, columns: list[str], seq: int, limit: int) -> list[Any]:
        """``columns`` and ``accepted_seq`` (last) of rows committed after ``seq``, in order."""
        if table not in PULLED:
            raise InvalidInputError(f"{table!r} is not kept in the operational store")
        with self.connect() as con:
            return list(
                con.execute(
                    f"SELECT {', '.join(columns)}, accepted_seq FROM {table} "
                    "WHERE accepted_seq > %s ORDER BY accepted_seq LIMIT %s",
                    [seq, limit],
                ).fetchall()
            )

    @contextmanager
    def assistant_tables(self) -> Iterator[PostgresAssistantTables]:
        """The assistant's tables for one turn or one request: one connection, one transaction."""
        with self.connect() as con:
            yield PostgresAssistantTables(con)

    # -- privacy ----------------------------------------------------------------

    def export_user(self, user_id: str) -> dict[str, list[dict[str, Any]]]:
        """The customer's rows here, by table (JSON-ready)."""
        user_id = canonical_user_id(user_id)
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
        """Delete the customer's rows here, announce it to the replicas, audit it without the id.

        The id is checked and folded as for the embedded store (at most 512
        characters, which also keeps it inside ``NOTIFY``'s payload limit).
        """
        user_id = canonical_user_id(user_id)
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
            # Kept so that no replica stores their events again (see retain.privacy).
            con.execute(
                "INSERT INTO retain_meta VALUES (%s, %s) ON CONFLICT (key) DO NOTHING",
                [SALT_KEY, secrets.token_hex(16)],
            )
            (salt,) = con.execute(
                "SELECT value FROM retain_meta WHERE key = %s", [SALT_KEY]
            ).fetchone()
            con.execute(
                f"INSERT INTO {ERASED_TABLE} VALUES (%s, %s) "
                "ON CONFLICT (id_hash) DO UPDATE SET erased_at = EXCLUDED.erased_at",
                [id_hash(salt, user_id), _now()],
            )
            # Delivered to the other replicas on commit, and never stored.
            con.execute("SELECT pg_notify(%s, %s)", [ERASURE_CHANNEL, user_id])
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


class ErasureListener:
    """The customer ids other replicas erased, from ``LISTEN`` on :data:`ERASURE_CHANNEL`.

    One autocommit connection of its own, opened on the first :meth:`drain`
    and reopened after a failure. A notification sent while it was not
    connected is not delivered (that replica's serving model then holds the
    customer until it loads its next model version, which the erase already
    excludes from training).
    """

    def __init__(self, url: str) -> None:
        self.url = url
        self._con: Any = None

    def start(self) -> None:
        """Listen from now on; raises :class:`StoreError` when the server is away."""
        if self._con is not None and not self._con.closed:
            return
        import psycopg

        try:
            self._con = psycopg.connect(self.url, autocommit=True, connect_timeout=10)
            self._con.execute(f"LISTEN {ERASURE_CHANNEL}")
        except psycopg.Error as exc:
            self.close()
            raise StoreError(f"cannot listen on PostgreSQL at {_redact(self.url)}: {exc}") from exc

    def drain(self) -> list[str]:
        """The ids announced since the last call (waits for none)."""
        import psycopg

        self.start()
        try:
            return [n.payload for n in self._con.notifies(timeout=0.0)]
        except psycopg.Error as exc:
            self.close()
            raise StoreError(f"lost the PostgreSQL listener at {_redact(self.url)}: {exc}") from exc

    def close(self) -> None:
        if self._con is not None:
            self._con.close()
        self._con = None


def pull_events(ops: PostgresStore, store: Store, *, batch: int = 50_000) -> int:
    """Copy the operational events, conversation turns and consent changes into the
    embedded store.

    Returns how many rows were new. Goes through the same ingestion as a file
    (idempotent by key), in commit order (``accepted_seq``) from where the
    last pull of each table stopped, so a pull that is interrupted or
    repeated adds each row exactly once, and a late event with an old
    timestamp is not skipped.
    """
    added = 0
    for table in PULLED:
        key = f"operational_{table}_seq"
        found = store.execute("SELECT value FROM retain_meta WHERE key = ?", [key]).fetchall()
        cursor = int(found[0][0]) if found else 0
        while True:
            chunk, last = ops.rows_since(table, cursor, batch)
            if chunk.num_rows == 0:
                break
            report = ingest_arrow(
                store, table, chunk, source=f"{_redact(ops.url)}#{table}", format="postgres"
            )
            added += report.accepted
            cursor = last
            store.execute("INSERT OR REPLACE INTO retain_meta VALUES (?, ?)", [key, str(cursor)])
    return added + pull_consent(ops, store, batch=batch)


def pull_consent(ops: PostgresStore, store: Store, *, batch: int = 50_000) -> int:
    """Bring the embedded store's consent up to date with the changes replicas logged.

    Run before a campaign is planned, so a customer who unsubscribed through
    any replica gets no marketing; returns how many changes were new here.
    """
    key = f"operational_{CONSENT_LOG}_seq"
    found = store.execute("SELECT value FROM retain_meta WHERE key = ?", [key]).fetchall()
    cursor = int(found[0][0]) if found else 0
    added = 0
    while True:
        rows, last = ops.consent_since(cursor, batch)
        if not rows:
            return added
        apply_changes(store, rows)
        added += len(rows)
        cursor = last
        store.execute("INSERT OR REPLACE INTO retain_meta VALUES (?, ?)", [key, str(cursor)])


class PostgresAssistantTables(SqlAssistantTables):
    """The assistant's conversation state, returns, hand-offs and turn log in PostgreSQL,
    so a conversation continues on whichever replica the next message reaches.

    Built by :meth:`PostgresStore.assistant_tables` over one connection in one
    transaction, so everything a turn writes commits together or not at all.
    """

    def __init__(self, con: Any) -> None:
        self._con = con

    def run(self, sql: str, params: list[Any]) -> list[tuple[Any, ...]]:
        cursor = self._con.execute(sql.replace("?", "%s"), params)
        return list(cursor.fetchall()) if cursor.description else []

    def log_turns(self, turns: pa.Table, source: str) -> None:
        """Validated as ``retain ingest`` would (in a scratch DuckDB), then written."""
        with Store.open(":memory:") as scratch:
            ingest_arrow(scratch, "conversations", turns, source=source, format="assistant")
            valid = scratch.query_arrow("SELECT * FROM conversations ORDER BY turn")
        names = list(get_schema("conversations").field_names)
        marks = ", ".join(["%s"] * len(names))
        with self._con.cursor() as cur:
            cur.executemany(
                f"INSERT INTO conversations ({', '.join(names)}) VALUES ({marks}) "
                "ON CONFLICT DO NOTHING",
                [tuple(row[n] for n in names) for row in valid.to_pylist()],
            )


def _fold_email_ids(con: Any) -> None:
    """Once per database: lower-case the e-mail-shaped customer ids that replicas
    stored before ids were folded (:mod:`retain.data.user_ids`), as the embedded
    store's upgrade to schema version 2 does. Rows are kept; none is keyed by
    the customer alone here."""
    if con.execute("SELECT 1 FROM retain_meta WHERE key = %s", [_FOLDED_KEY]).fetchone():
        return
    for table in _PERSONAL:
        con.execute(
            f"UPDATE {table} SET user_id = lower(user_id) "
            "WHERE user_id ~ %s AND user_id <> lower(user_id)",
            [f"^{EMAIL_ID_PATTERN}$"],
        )
    con.execute("INSERT INTO retain_meta VALUES (%s, 'yes')", [_FOLDED_KEY])


def _erased(con: Any, user_ids: list[str]) -> tuple[str, list[tuple[str, Any]]] | None:
    """The salt and ``erased_customers`` rows of these ids; None when none was erased."""
    salt = con.execute("SELECT value FROM retain_meta WHERE key = %s", [SALT_KEY]).fetchone()
    if salt is None or not user_ids:
        return None
    # An id erased before e-mail ids were folded was hashed as it was written.
    hashes = sorted({id_hash(salt[0], v) for u in user_ids for v in (u, fold_email_id(u))})
    rows = con.execute(
        f"SELECT id_hash, erased_at FROM {ERASED_TABLE} WHERE id_hash = ANY(%s)", [hashes]
    ).fetchall()
    return (str(salt[0]), [tuple(r) for r in rows]) if rows else None


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
