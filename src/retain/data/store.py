"""The store: one DuckDB file holding the canonical and output tables.

Capabilities talk to the store through this small API rather than to DuckDB
directly, so that another backend (PostgreSQL, for multi-replica serving) can
stand behind the same calls later. A store is opened from a URL:
``duckdb:///abs/path/retain.duckdb``, ``duckdb://relative/path.duckdb``,
``duckdb://:memory:`` or a plain file path.

Concurrency: DuckDB lets one process write a file at a time; a second writer
gets :class:`~retain.errors.StoreLockedError` with the reason.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Literal

import duckdb
import pandas as pd
import pyarrow as pa

from retain.data.schemas import SCHEMAS, TableSchema
from retain.data.user_ids import canonical_user_id_sql
from retain.data.validation import quote_ident
from retain.errors import InvalidInputError, NotFoundError, StoreError, StoreLockedError

__all__ = ["SCHEMA_VERSION", "SYSTEM_TABLES", "Store", "column_names", "parse_store_url"]

#: Bumped when a stored table changes shape or meaning; an older store is
#: upgraded when opened for writing (:data:`_UPGRADES`), a newer one refused.
#: Version 2: customer ids that are e-mail addresses are stored lower-cased.
SCHEMA_VERSION = 2

#: Bookkeeping tables, beside the canonical ones.
SYSTEM_TABLES: Mapping[str, str] = {
    "retain_meta": (
        "CREATE TABLE IF NOT EXISTS retain_meta (key VARCHAR PRIMARY KEY, value VARCHAR)"
    ),
    "quarantine": """CREATE TABLE IF NOT EXISTS quarantine (
  table_name VARCHAR NOT NULL,
  source VARCHAR NOT NULL,
  line BIGINT NOT NULL,
  reason VARCHAR NOT NULL,
  record VARCHAR,
  run_id VARCHAR NOT NULL,
  quarantined_at TIMESTAMP NOT NULL,
  PRIMARY KEY (table_name, source, line)
)""",
    "ingest_runs": """CREATE TABLE IF NOT EXISTS ingest_runs (
  run_id VARCHAR PRIMARY KEY,
  table_name VARCHAR NOT NULL,
  source VARCHAR NOT NULL,
  format VARCHAR NOT NULL,
  status VARCHAR NOT NULL,
  started_at TIMESTAMP NOT NULL,
  finished_at TIMESTAMP,
  rows BIGINT NOT NULL,
  accepted BIGINT NOT NULL,
  duplicates BIGINT NOT NULL,
  quarantined BIGINT NOT NULL,
  error VARCHAR
)""",
}


#: Tables that hold one row (or one list) per customer computed from the others
#: (scores, recommendations, segments). When folding merges two ids into one,
#: their rows described half a customer each: they are dropped, and the next
#: ``retain train`` computes the merged customer's.
_PER_CUSTOMER_OUTPUTS = ("user_scores", "recommendations", "customer_clusters", "customer_tastes")


def _fold_email_ids(store: Store) -> str:
    """Version 1 to 2: lower-case e-mail-shaped customer ids in every table
    (:mod:`retain.data.user_ids`), merging profiles that become one.

    Facts and logs (events, orders, reviews, consent changes, campaign rows)
    keep every row under the folded id. Two profiles of one address merge:
    the earliest ``first_seen``, a decline of marketing over an accept (the
    customer said no once), and attributes merged key by key, the later
    profile's value winning. Erasure hashes cannot be folded (the ids are
    gone); ingestion also checks each id as written (see ``_skip_erased``).
    """
    con = store.connection
    folded = canonical_user_id_sql("user_id")
    changed = f"user_id IS NOT NULL AND ({folded}) <> user_id"
    for table in store.tables_with_column("user_id"):
        name = quote_ident(table)
        if table == "users":
            _merge_folded_profiles(con, folded)
        elif table in _PER_CUSTOMER_OUTPUTS:
            con.execute(
                f"DELETE FROM {name} WHERE ({folded}) IN (SELECT ({folded}) FROM {name} "
                f"GROUP BY 1 HAVING count(DISTINCT user_id) > 1)"
            )
        con.execute(f"UPDATE {name} SET user_id = {folded} WHERE {changed}")
    return "2"


def _merge_folded_profiles(con: duckdb.DuckDBPyConnection, folded: str) -> None:
    """Replace the profiles whose ids fold into one by one merged profile (see
    :func:`_fold_email_ids`). Two profiles of one address are rare, so they are
    merged in Python; the caller then folds the other ids in place."""
    affected = f"({folded}) IN (SELECT {folded} FROM users GROUP BY 1 HAVING count(*) > 1)"
    rows = con.execute(
        f"SELECT *, {folded} AS _folded FROM users WHERE {affected} "
        "ORDER BY first_seen NULLS FIRST, user_id"
    ).fetchdf()
    if rows.empty:
        return
    merged: list[dict[str, Any]] = []
    for key, group in rows.groupby("_folded", sort=True):
        profile: dict[str, Any] = {"user_id": key}
        for column in rows.columns.drop(["user_id", "_folded"]):
            values = [v for v in group[column].tolist() if not pd.isna(v)]
            if column == "first_seen":
                profile[column] = min(values) if values else None
            elif column == "marketing_consent":
                profile[column] = all(values) if values else None
            elif column == "attributes":
                attributes: dict[str, Any] = {}
                for text in values:
                    parsed = json.loads(text)
                    if isinstance(parsed, dict):
                        attributes.update(parsed)
                profile[column] = json.dumps(attributes, ensure_ascii=False) if values else None
            else:
                profile[column] = values[-1] if values else None
        merged.append(profile)
    con.execute(f"DELETE FROM users WHERE {affected}")
    frame = pd.DataFrame(merged)
    con.register("_merged_users", frame)
    try:
        names = ", ".join(quote_ident(c) for c in frame.columns)
        con.execute(f"INSERT INTO users ({names}) SELECT {names} FROM _merged_users")
    finally:
        con.unregister("_merged_users")


#: Upgrades of an older store, by the version they upgrade from; each returns
#: the version it leaves.
_UPGRADES: Mapping[str, Callable[[Store], str]] = {"1": _fold_email_ids}


def _configure(con: duckdb.DuckDBPyConnection) -> None:
    # Naive timestamps are read, compared and stored as UTC everywhere.
    con.execute("SET TimeZone = 'UTC'")


def column_names(con: duckdb.DuckDBPyConnection, name: str) -> list[str]:
    """The column names of the stored table ``name`` in order (empty when there is
    none), on any cursor of the store: ingestion asks on its own session."""
    rows = con.execute(
        "SELECT column_name FROM information_schema.columns "
        "WHERE table_schema = 'main' AND table_name = ? ORDER BY ordinal_position",
        [name],
    ).fetchall()
    return [str(row[0]) for row in rows]


def parse_store_url(url: str | Path) -> str:
    """The DuckDB database path (or ``:memory:``) a store URL names.

    Raises:
        InvalidInputError: the URL names another kind of store.
    """
    text = str(url)
    if "://" not in text:
        return text
    scheme, _, rest = text.partition("://")
    if scheme != "duckdb":
        raise InvalidInputError(
            f"unsupported store URL {text!r}: the embedded store is duckdb:///path/to/file.duckdb"
        )
    if rest in ("", ":memory:"):
        return ":memory:"
    return rest


class Store:
    """An open store. Use :meth:`open`; close it (or use ``with``) when done."""

    def __init__(self, connection: duckdb.DuckDBPyConnection, path: str) -> None:
        self._con = connection
        self.path = path

    @classmethod
    def open(cls, url: str | Path, *, read_only: bool = False) -> Store:
        """Open (and, unless read-only, create) the store at ``url``.

        Raises:
            StoreLockedError: another process is writing the file.
            StoreError: the file is not a Retain store of this version.
        """
        path = parse_store_url(url)
        if path != ":memory:" and not read_only:
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        if read_only and path != ":memory:" and not Path(path).exists():
            raise NotFoundError(f"no store at {path}; ingest data first (retain ingest ...)")
        try:
            con = duckdb.connect(path, read_only=read_only)
        except duckdb.IOException as exc:
            message = str(exc)
            if "lock" in message.lower():
                raise StoreLockedError(
                    f"the store {path} is open for writing in another process; "
                    f"wait for it to finish or stop it ({message.splitlines()[0]})"
                ) from exc
            raise StoreError(f"cannot open the store {path}: {message.splitlines()[0]}") from exc
        _configure(con)
        store = cls(con, path)
        if not read_only:
            store._create_tables()
        return store

    def _create_tables(self) -> None:
        with self.transaction():
            for ddl in SYSTEM_TABLES.values():
                self._con.execute(ddl)
            found = self._con.execute(
                "SELECT value FROM retain_meta WHERE key = 'schema_version'"
            ).fetchall()
            row = found[0] if found else None
            if row is None:
                self._con.execute(
                    "INSERT INTO retain_meta VALUES ('schema_version', ?)", [str(SCHEMA_VERSION)]
                )
            elif row[0] not in _UPGRADES and row[0] != str(SCHEMA_VERSION):
                raise StoreError(
                    f"the store {self.path} has schema version {row[0]}; this Retain "
                    f"reads version {SCHEMA_VERSION}"
                )
            for schema in SCHEMAS.values():
                self._con.execute(schema.ddl())
                self._add_new_fields(schema)
                history = schema.history_ddl()
                if history is not None:
                    self._con.execute(history)
            version = row[0] if row is not None else str(SCHEMA_VERSION)
            while version in _UPGRADES:  # in the same transaction: all or nothing
                version = _UPGRADES[version](self)
                self._con.execute(
                    "UPDATE retain_meta SET value = ? WHERE key = 'schema_version'", [version]
                )

    def _add_new_fields(self, schema: TableSchema) -> None:
        """Give a table an older Retain created the optional fields added since
        (empty in its rows), so a store upgrades by being opened for writing."""
        self._add_columns(schema.name, [(f.name, f.sql_type) for f in schema.fields])

    def _add_columns(self, name: str, columns: Sequence[tuple[str, str]]) -> None:
        """Add to table ``name`` each ``(column, sql_type)`` it lacks; its rows hold NULL there."""
        have = set(self.columns(name))
        for column, sql_type in columns:
            if column not in have:
                self._con.execute(
                    f"ALTER TABLE {quote_ident(name)} ADD COLUMN {quote_ident(column)} {sql_type}"
                )

    # -- queries ---------------------------------------------------------

    def session(self) -> duckdb.DuckDBPyConnection:
        """A separate cursor on the same database, for work with its own temp tables.

        Ingestion uses one so that a caller's half-read query on the main
        connection cannot block it, and its temporaries stay private.
        """
        cursor = self._con.cursor()
        _configure(cursor)
        return cursor

    @property
    def connection(self) -> duckdb.DuckDBPyConnection:
        """The DuckDB connection, for capabilities that need SQL or Ibis."""
        return self._con

    def execute(self, sql: str, params: Sequence[Any] | None = None) -> duckdb.DuckDBPyConnection:
        return self._con.execute(sql, params) if params is not None else self._con.execute(sql)

    def query_arrow(self, sql: str, params: Sequence[Any] | None = None) -> pa.Table:
        # A relation streams straight into Arrow; a DB-API result copies the rows first.
        relation = self._con.sql(sql, params=params) if params is not None else self._con.sql(sql)
        return relation.to_arrow_table()

    def query_df(self, sql: str, params: Sequence[Any] | None = None) -> pd.DataFrame:
        return self.execute(sql, params).df()

    def table_names(self) -> set[str]:
        """Every (non-temporary) table in the store, in one query where several
        ``has_table`` calls would each make one."""
        rows = self._con.execute(
            "SELECT table_name FROM duckdb_tables() WHERE NOT temporary"
        ).fetchall()
        return {str(row[0]) for row in rows}

    def table_columns(self) -> dict[str, list[str]]:
        """Every (non-temporary) table's column names in order, in one query, for
        callers that would otherwise ask :meth:`columns` table by table."""
        rows = self._con.execute(
            "SELECT c.table_name, c.column_name FROM duckdb_columns() c "
            "JOIN duckdb_tables() t ON c.table_oid = t.table_oid "
            "WHERE NOT t.temporary ORDER BY c.table_name, c.column_index"
        ).fetchall()
        found: dict[str, list[str]] = {}
        for table, column in rows:
            found.setdefault(str(table), []).append(str(column))
        return found

    def tables_with_column(self, column: str) -> list[str]:
        """The tables that have ``column``, in name order (``user_id``: every table
        that holds a customer's data)."""
        return [table for table, columns in self.table_columns().items() if column in columns]

    def has_table(self, name: str) -> bool:
        row = self._con.execute(
            "SELECT count(*) FROM duckdb_tables() WHERE table_name = ? AND NOT temporary", [name]
        ).fetchall()[0]
        return bool(row and row[0])

    def table(self, name: str) -> pa.Table:
        """A whole table as Arrow.

        Raises:
            NotFoundError: there is no such table.
        """
        self._require(name)
        return self.query_arrow(f"SELECT * FROM {quote_ident(name)}")

    def columns(self, name: str) -> list[str]:
        """The column names of table ``name`` in order; empty when there is no such table."""
        return column_names(self._con, name)

    def count(self, name: str) -> int:
        self._require(name)
        row = self._con.execute(f"SELECT count(*) FROM {quote_ident(name)}").fetchall()[0]
        return int(row[0])

    def counts(self) -> dict[str, int]:
        """Row counts of the canonical tables and the quarantine."""
        return {name: self.count(name) for name in [*SCHEMAS, "quarantine"]}

    def _require(self, name: str) -> None:
        if not self.has_table(name):
            raise NotFoundError(f"the store has no table {name!r}")

    # -- writes ----------------------------------------------------------

    @contextmanager
    def registered(self, name: str, table: pa.Table | pd.DataFrame) -> Iterator[None]:
        """``table`` readable in SQL as ``name`` inside the block, and gone after it."""
        self._con.register(name, table)
        try:
            yield
        finally:
            self._con.unregister(name)

    @contextmanager
    def transaction(self) -> Iterator[duckdb.DuckDBPyConnection]:
        """Everything inside commits together or not at all."""
        self._con.execute("BEGIN TRANSACTION")
        try:
            yield self._con
        except BaseException:
            self._con.execute("ROLLBACK")
            raise
        self._con.execute("COMMIT")

    def write_table(
        self,
        name: str,
        data: pa.Table | pd.DataFrame,
        *,
        mode: Literal["replace", "append"] = "replace",
    ) -> int:
        """Write an output table (scores, recommendations, ...) atomically.

        ``replace`` swaps the whole table in one transaction, so readers see the
        old or the new version, never half of one. Canonical input tables are
        refused: they change only through ingestion, which validates.

        Returns:
            The number of rows written.
        """
        return self.write_tables({name: data}, mode=mode)[name]

    def write_tables(
        self,
        tables: Mapping[str, pa.Table | pd.DataFrame],
        *,
        mode: Literal["replace", "append"] = "replace",
    ) -> dict[str, int]:
        """:meth:`write_table` for several tables that only make sense together: one transaction.

        ``append`` to a table written by an older version adds the columns it
        lacks (earlier rows hold NULL there), so an output table can grow a
        column without a migration step.

        Returns:
            The number of rows written, per table.
        """
        for name in tables:
            if name in SCHEMAS or name in SYSTEM_TABLES:
                raise InvalidInputError(
                    f"{name!r} is an input table; write it through ingestion, not write_table"
                )
        frames = {
            name: data
            if isinstance(data, pa.Table)
            else pa.Table.from_pandas(data, preserve_index=False)
            for name, data in tables.items()
        }
        with self.transaction() as con:
            for name, frame in frames.items():
                with self.registered("_write_in", frame):
                    ident = quote_ident(name)
                    if mode == "replace" or not self.has_table(name):
                        con.execute(f"CREATE OR REPLACE TABLE {ident} AS SELECT * FROM _write_in")
                    else:
                        self._add_missing_columns(name)
                        con.execute(f"INSERT INTO {ident} BY NAME SELECT * FROM _write_in")
        return {name: int(frame.num_rows) for name, frame in frames.items()}

    def _add_missing_columns(self, name: str) -> None:
        """Add to ``name`` the columns of ``_write_in`` it lacks, typed as they arrive."""
        arriving = self._con.execute("DESCRIBE SELECT * FROM _write_in").fetchall()
        self._add_columns(name, [(str(row[0]), str(row[1])) for row in arriving])

    def checkpoint(self) -> None:
        """Fold the write-ahead log into the database file."""
        self._con.execute("CHECKPOINT")

    def close(self) -> None:
        self._con.close()

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
