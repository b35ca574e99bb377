"""A customer's data on request: export all of it, or erase all of it.

Every table in the store with a ``user_id`` column holds personal data
(events, orders, reviews, conversations, scores, recommendations, campaign
and experiment rows, the assistant's state, returns and hand-offs), and so
may a quarantined raw record that names the customer. :func:`export_user`
reads all of it; :func:`erase_user` deletes all of it in one transaction —
a crash leaves either everything or nothing erased — and writes an audit
row that records when, how many rows from which tables, and a request id,
but not who. The serving models forget the customer in memory
(:meth:`Recommender.forget`); the next trained version never saw them.

An erased customer must not come back with the shop's next nightly
export. The erase keeps a salted SHA-256 of the id and the time
(``erased_customers``, the salt in ``retain_meta``), and ingestion skips
records of that id dated before the erase (or undated), without
quarantining them, since a quarantined record keeps the raw text. What the
customer does after the erase (a new order) is new and is stored."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import re
import secrets
import uuid
from dataclasses import dataclass, field
from typing import Any

from retain.data.store import Store
from retain.data.user_ids import canonical_user_id, is_email_id
from retain.errors import NotFoundError

__all__ = [
    "AUDIT_DDL",
    "AUDIT_TABLE",
    "ERASED_DDL",
    "ERASED_TABLE",
    "ErasureReport",
    "erase_user",
    "erased_at",
    "erasure_salt",
    "export_user",
    "id_hash",
    "id_token_pattern",
    "personal_tables",
]

AUDIT_TABLE = "erasure_audit"
AUDIT_DDL = f"""CREATE TABLE IF NOT EXISTS {AUDIT_TABLE} (
  request_id VARCHAR PRIMARY KEY,
  erased_at TIMESTAMP NOT NULL,
  rows_erased BIGINT NOT NULL,
  tables VARCHAR NOT NULL
)"""
#: Who was erased, as a salted hash of the id (no ``user_id`` column: an erase keeps it).
ERASED_TABLE = "erased_customers"
ERASED_DDL = f"""CREATE TABLE IF NOT EXISTS {ERASED_TABLE} (
  id_hash VARCHAR PRIMARY KEY,
  erased_at TIMESTAMP NOT NULL
)"""
SALT_KEY = "erasure_salt"


def id_hash(salt: str, user_id: str) -> str:
    """The id as ``erased_customers`` keeps it; DuckDB's ``sha256(salt || user_id)`` agrees."""
    return hashlib.sha256(f"{salt}{user_id}".encode()).hexdigest()


def erasure_salt(con: Any, *, create: bool = False) -> str | None:
    """The store's salt for erased ids (made on the first erase when ``create``).

    The first erase makes the salt and ``erased_customers`` in one transaction,
    and erased ids are never removed, so a salt means someone was erased.
    """
    found = con.execute("SELECT value FROM retain_meta WHERE key = ?", [SALT_KEY]).fetchall()
    if found:
        return str(found[0][0])
    if not create:
        return None
    salt = secrets.token_hex(16)
    con.execute("INSERT INTO retain_meta VALUES (?, ?)", [SALT_KEY, salt])
    return salt


def erased_at(con: Any, user_ids: list[str]) -> dict[str, dt.datetime]:
    """When each of ``user_ids`` that was erased was erased (the others are absent)."""
    salt = erasure_salt(con)
    if salt is None or not user_ids:
        return {}
    hashed = {id_hash(salt, u): u for u in user_ids}
    found = con.execute(
        f"SELECT id_hash, erased_at FROM {ERASED_TABLE} WHERE id_hash IN (SELECT unnest(?))",
        [list(hashed)],
    ).fetchall()
    return {hashed[h]: when for h, when in found}


@dataclass(frozen=True)
class ErasureReport:
    """What an erase removed; the same facts the audit row keeps (no user id)."""

    request_id: str
    erased_at: dt.datetime
    rows_by_table: dict[str, int] = field(default_factory=dict)

    @property
    def rows(self) -> int:
        return sum(self.rows_by_table.values())


def personal_tables(store: Store) -> list[str]:
    """Tables with a ``user_id`` column, in name order."""
    return store.tables_with_column("user_id")


def id_token_pattern(user_id: str) -> str:
    """The id as a whole token in a raw record (U1 must not match U12).

    An e-mail address matches in any case: the raw record keeps it as the
    file wrote it (``Ann@Shop.com``), the store lower-cased. The same pattern
    works in DuckDB's and PostgreSQL's regular expressions.
    """
    case = "(?i)" if is_email_id(user_id) else ""
    return case + r"(^|[^0-9A-Za-z_\-])" + re.escape(user_id) + r"($|[^0-9A-Za-z_\-])"


def export_user(store: Store, user_id: str) -> dict[str, list[dict[str, Any]]]:
    """Every row about ``user_id``, by table (JSON-ready).

    Raises:
        NotFoundError: the store holds nothing about this user.
    """
    user_id = canonical_user_id(user_id)
    out: dict[str, list[dict[str, Any]]] = {}
    for table in personal_tables(store):
        frame = store.query_df(f'SELECT * FROM "{table}" WHERE user_id = ?', [user_id])
        if not frame.empty:
            out[table] = json.loads(frame.to_json(orient="records", date_format="iso"))
    frame = store.query_df(
        "SELECT table_name, source, line, reason, record FROM quarantine "
        "WHERE regexp_matches(record, ?)",
        [id_token_pattern(user_id)],
    )
    if not frame.empty:
        out["quarantine"] = json.loads(frame.to_json(orient="records"))
    if not out:
        raise NotFoundError(f"the store holds nothing about user {user_id!r}")
    return out


def erase_user(store: Store, user_id: str) -> ErasureReport:
    """Delete every row about ``user_id`` in one transaction and audit it without the id.

    Erasing a user the store does not know is not an error: the report says
    0 rows (a repeated request must not fail).
    """
    user_id = canonical_user_id(user_id)
    counts: dict[str, int] = {}
    request_id = uuid.uuid4().hex
    now = dt.datetime.now(dt.UTC).replace(tzinfo=None)
    with store.transaction() as con:
        con.execute(AUDIT_DDL)
        con.execute(ERASED_DDL)
        salt = erasure_salt(con, create=True)
        assert salt is not None
        con.execute(
            f"INSERT OR REPLACE INTO {ERASED_TABLE} VALUES (?, ?)", [id_hash(salt, user_id), now]
        )
        for table in personal_tables(store):
            n = con.execute(
                f'DELETE FROM "{table}" WHERE user_id = ? RETURNING 1', [user_id]
            ).fetchall()
            if n:
                counts[table] = len(n)
        n = con.execute(
            "DELETE FROM quarantine WHERE regexp_matches(record, ?) RETURNING 1",
            [id_token_pattern(user_id)],
        ).fetchall()
        if n:
            counts["quarantine"] = len(n)
        con.execute(
            f"INSERT INTO {AUDIT_TABLE} VALUES (?, ?, ?, ?)",
            [request_id, now, sum(counts.values()), json.dumps(counts, sort_keys=True)],
        )
    return ErasureReport(request_id, now, counts)
