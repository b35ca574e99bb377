"""Ingestion: validate a source and commit it batch by batch.

Guarantees, each tested:

* Every input record is counted once as accepted, duplicate or quarantined;
  the three add up to the records in the source.
* A batch commits whole or not at all — its accepted rows, its quarantine rows
  and the run's running totals in one transaction — so a process killed at any
  moment leaves no partial batch, and everything committed before stays.
* Re-ingesting a source adds nothing: keys already stored are duplicates.
  Sources without a key column get one derived from each record's content and
  its occurrence number among identical records of that source, so the same
  file always yields the same keys, while two genuinely repeated records in
  one file stay two records.
* Quarantined records keep their source, line, every reason and the raw
  record; a later ingest that accepts a fixed line clears its quarantine entry.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import cast

import duckdb
import pyarrow as pa

from retain.data.loaders import FORMATS as PUBLIC_FORMATS
from retain.data.schemas import TableSchema, get_schema
from retain.data.sources import (
    FORMATS as FILE_FORMATS,
)
from retain.data.sources import (
    STAGE_TABLE,
    Reject,
    SourceFormat,
    Staged,
    infer_format,
    stage_arrow,
    stage_file,
)
from retain.data.store import Store
from retain.data.validation import (
    ValidationRules,
    build_validation_sql,
    quote_ident,
    quote_literal,
)
from retain.errors import InvalidInputError, NotFoundError

__all__ = ["IngestReport", "ProgressCallback", "ingest_arrow", "ingest_file", "normalise_name"]

#: Called after each committed batch with (records done, records in total).
ProgressCallback = Callable[[int, int], None]

_BATCH_TABLE = "_batch"
_PROJECTED = "_projected"


@dataclass
class IngestReport:
    """What one ingest did. ``accepted + duplicates + quarantined == rows``."""

    table: str
    source: str
    format: str
    run_id: str
    rows: int = 0
    accepted: int = 0
    duplicates: int = 0
    quarantined: int = 0
    batches: int = 0
    seconds: float = 0.0
    ignored_columns: tuple[str, ...] = ()
    derived_key: bool = False
    reasons: dict[str, int] = field(default_factory=dict)

    @property
    def rows_per_second(self) -> float:
        return self.rows / self.seconds if self.seconds > 0 else float("inf")


def normalise_name(name: str) -> str:
    """Header spelling folded for matching: ``'User ID'`` -> ``'user_id'``."""
    return "_".join(name.strip().lower().replace("-", " ").split())


def ingest_file(
    store: Store,
    table: str,
    path: str | Path,
    *,
    format: SourceFormat | str | None = None,
    mapping: Mapping[str, str] | None = None,
    batch_size: int = 100_000,
    future_tolerance_seconds: int = 300,
    max_text_chars: int = 1_000_000,
    delimiter: str | None = None,
    now: datetime | None = None,
    on_progress: ProgressCallback | None = None,
) -> IngestReport:
    """Validate ``path`` and commit it into ``table`` in batches.

    Args:
        store: An open, writable store.
        table: ``events``, ``orders``, ``items``, ``users``, ``reviews``,
            ``conversations`` or ``kb`` / ``kb_articles``.
        path: CSV, Parquet or JSON-lines file (``.gz`` allowed for CSV/JSONL).
        format: Overrides the format implied by the file name; a public
            format of :data:`retain.data.loaders.FORMATS` (``cdnow``,
            ``amazon-seq``, ...) is read by its loader first.
        mapping: ``{source column: canonical field}`` for sources whose
            columns are named otherwise; matching is also tried on folded
            names, so ``User ID`` finds ``user_id`` unaided.
        batch_size: Records per transaction.
        future_tolerance_seconds: Accepted clock skew for timestamps.
        max_text_chars: Longer text fields are quarantined.
        delimiter: CSV field separator (default ``,``; ``\\t`` for ``.tsv``).
        now: Ingest time; defaults to the current UTC time.
        on_progress: Called after each committed batch.

    Raises:
        InvalidInputError: the file or the mapping cannot be used at all
            (nothing is written then).
        NotFoundError: the file does not exist.
    """
    source = Path(path)
    if format is not None and format in PUBLIC_FORMATS:
        public = PUBLIC_FORMATS[format]
        if get_schema(table).name != public.table:
            raise InvalidInputError(f"format {format} fills {public.table}, not {table}")
        if not source.is_file():
            raise NotFoundError(f"no such file: {source}")
        return ingest_arrow(
            store,
            table,
            public.read(source),
            source=str(source.resolve()),
            format=format,
            mapping=mapping,
            batch_size=batch_size,
            future_tolerance_seconds=future_tolerance_seconds,
            max_text_chars=max_text_chars,
            now=now,
            on_progress=on_progress,
        )
    if format is not None and format not in FILE_FORMATS:
        known = ", ".join((*FILE_FORMATS, *PUBLIC_FORMATS))
        raise InvalidInputError(f"unknown format {format!r}; expected one of: {known}")
    fmt = cast(SourceFormat, format) if format is not None else infer_format(source)
    return _run(
        store,
        table,
        lambda con: stage_file(con, source, fmt, delimiter=delimiter),
        str(source.resolve()),
        fmt,
        mapping,
        _rules(now, future_tolerance_seconds, max_text_chars),
        batch_size,
        on_progress,
    )


def ingest_arrow(
    store: Store,
    table: str,
    data: pa.Table,
    *,
    source: str,
    format: str = "arrow",
    mapping: Mapping[str, str] | None = None,
    batch_size: int = 100_000,
    future_tolerance_seconds: int = 300,
    max_text_chars: int = 1_000_000,
    now: datetime | None = None,
    on_progress: ProgressCallback | None = None,
) -> IngestReport:
    """Like :func:`ingest_file` for records already in memory (loaders use it).

    ``data`` may carry a ``_line`` column (the records' lines in ``source``);
    otherwise lines are numbered from 1. ``source`` names where the records
    came from, for the quarantine and for idempotency.
    """
    n = data.num_rows
    if "_line" not in data.column_names:
        data = data.append_column("_line", pa.array(range(1, n + 1), pa.int64()))
    if "_row" not in data.column_names:
        data = data.append_column("_row", pa.array(range(n), pa.int64()))
    return _run(
        store,
        table,
        lambda con: stage_arrow(con, data),
        source,
        format,
        mapping,
        _rules(now, future_tolerance_seconds, max_text_chars),
        batch_size,
        on_progress,
    )


def _run(
    store: Store,
    table: str,
    stage: Callable[[duckdb.DuckDBPyConnection], Staged],
    source: str,
    fmt: str,
    mapping: Mapping[str, str] | None,
    rules: ValidationRules,
    batch_size: int,
    on_progress: ProgressCallback | None,
) -> IngestReport:
    """Stage on a private cursor, then validate and commit (the shared path)."""
    schema = _schema(table)
    con = store.session()
    try:
        staged = stage(con)
        return _ingest_staged(
            con, schema, staged, source, fmt, mapping, rules, batch_size, on_progress
        )
    finally:
        con.close()


def _schema(table: str) -> TableSchema:
    try:
        return get_schema(table)
    except KeyError as exc:
        raise InvalidInputError(str(exc.args[0])) from None


def _rules(now: datetime | None, tolerance: int, max_chars: int) -> ValidationRules:
    moment = (now or datetime.now(UTC)).astimezone(UTC).replace(tzinfo=None)
    return ValidationRules(moment, tolerance, max_chars)


def _ingest_staged(
    con: duckdb.DuckDBPyConnection,
    schema: TableSchema,
    staged: Staged,
    source: str,
    fmt: str,
    mapping: Mapping[str, str] | None,
    rules: ValidationRules,
    batch_size: int,
    on_progress: ProgressCallback | None,
) -> IngestReport:
    if batch_size < 1:
        raise InvalidInputError(f"batch_size must be at least 1, got {batch_size}")
    started = time.perf_counter()
    try:
        renames, ignored = _resolve_columns(schema, staged.columns, mapping or {}, source)
        present = set(renames.values())
        derived = _needs_derived_key(schema, present, source)
        _project_stage(con, schema, renames, derived)
        if derived:
            present |= set(schema.key)
        report = IngestReport(
            table=schema.name,
            source=source,
            format=fmt,
            run_id=uuid.uuid4().hex,
            ignored_columns=tuple(ignored),
            derived_key=derived,
        )
        # Only a source with earlier quarantine entries can have lines fixed
        # since; a line occurs once per run, so this is decided once.
        clear_fixed = bool(
            con.execute(
                "SELECT count(*) FROM quarantine WHERE table_name = ? AND source = ?",
                [report.table, report.source],
            ).fetchall()[0][0]
        )
        _start_run(con, report)
        _commit_rejects(con, report, staged.rejects)
        validation = build_validation_sql(schema, present, rules, "_batch_src")
        # _row may have gaps (rows moved to rejects), so batch by position range.
        bound = con.execute(f"SELECT coalesce(max(_row) + 1, 0) FROM {STAGE_TABLE}").fetchall()
        report.rows = len(staged.rejects)
        try:
            for lo in range(0, int(bound[0][0]), batch_size):
                _commit_batch(con, schema, report, validation, lo, lo + batch_size, clear_fixed)
                if on_progress is not None:
                    on_progress(report.rows, staged.rows)
        except Exception as exc:
            _finish_run(con, report, "failed", f"{type(exc).__name__}: {exc}"[:2000])
            raise
        report.seconds = time.perf_counter() - started
        _finish_run(con, report, "completed", None)
        return report
    finally:
        _drop_temporaries(con)


def _drop_temporaries(con: duckdb.DuckDBPyConnection) -> None:
    for name in ("_batch_src", _PROJECTED, STAGE_TABLE, _BATCH_TABLE):
        kinds = con.execute(
            "SELECT 'VIEW' FROM duckdb_views() WHERE view_name = ? AND temporary "
            "UNION ALL SELECT 'TABLE' FROM duckdb_tables() WHERE table_name = ? AND temporary",
            [name, name],
        ).fetchall()
        for (kind,) in kinds:
            con.execute(f"DROP {kind} IF EXISTS {name}")


def _resolve_columns(
    schema: TableSchema, columns: tuple[str, ...], mapping: Mapping[str, str], source: str
) -> tuple[dict[str, str], list[str]]:
    """Source column -> canonical field, and the columns left unused.

    Raises:
        InvalidInputError: a mapping names an unknown column or field, two
            columns land on one field, or a required field has no column.
    """
    fields = set(schema.field_names)
    renames: dict[str, str] = {}
    for src, dst in mapping.items():
        if src not in columns:
            raise InvalidInputError(
                f"--map {src}={dst}: {source} has no column {src!r}; its columns are: "
                f"{', '.join(columns)}"
            )
        if dst not in fields:
            raise InvalidInputError(
                f"--map {src}={dst}: {schema.name} has no field {dst!r}; its fields are: "
                f"{', '.join(schema.field_names)}"
            )
        renames[src] = dst
    taken = set(renames.values())
    for col in columns:
        if col in renames:
            continue
        folded = normalise_name(col)
        if folded in fields and folded not in taken:
            renames[col] = folded
            taken.add(folded)
    targets = list(renames.values())
    clashes = sorted({t for t in targets if targets.count(t) > 1})
    if clashes:
        raise InvalidInputError(f"several columns map onto {', '.join(clashes)} in {source}")
    missing = [
        f.name
        for f in schema.fields
        if f.required
        and f.name not in taken
        and not (schema.derivable_key and f.name in schema.key)
    ]
    if missing:
        hint = " ".join(f"--map COLUMN={m}" for m in missing)
        raise InvalidInputError(
            f"{source} has no column for required {schema.name} field(s) "
            f"{', '.join(missing)}; its columns are: {', '.join(columns)}. "
            f"Name the matching columns with {hint}"
        )
    ignored = [c for c in columns if c not in renames]
    return renames, ignored


def _needs_derived_key(schema: TableSchema, present: set[str], source: str) -> bool:
    missing_key = [k for k in schema.key if k not in present]
    if not missing_key:
        return False
    if not schema.derivable_key:
        raise InvalidInputError(
            f"{source} has no column for the {schema.name} key {', '.join(missing_key)}"
        )
    return True


def _project_stage(
    con: duckdb.DuckDBPyConnection,
    schema: TableSchema,
    renames: Mapping[str, str],
    derived: bool,
) -> None:
    """Rename the staged columns to field names and derive the key if asked."""
    cols = [f"{quote_ident(src)} AS {quote_ident(dst)}" for src, dst in renames.items()]
    if derived:
        content = ", ".join(
            f"coalesce({quote_ident(src)}, '')" for src in sorted(renames, key=renames.__getitem__)
        )
        digest = f"md5(concat_ws(chr(31), {quote_literal(schema.name)}, {content}))"
        cols.append(
            f"'h' || left({digest}, 24) || '-' || "
            f"row_number() OVER (PARTITION BY {digest} ORDER BY _row) "
            f"AS {quote_ident(schema.key[0])}"
        )
    select = f"SELECT _row, _line, {', '.join(cols)} FROM {STAGE_TABLE}"
    if derived:
        # The window needs every record at once: compute it once, not per batch.
        con.execute(f"CREATE OR REPLACE TEMP TABLE {_PROJECTED} AS {select} ORDER BY _row")
    else:
        con.execute(f"CREATE OR REPLACE TEMP VIEW {_PROJECTED} AS {select}")


def _start_run(con: duckdb.DuckDBPyConnection, report: IngestReport) -> None:
    con.execute(
        "INSERT INTO ingest_runs VALUES (?, ?, ?, ?, 'running', now(), NULL, 0, 0, 0, 0, NULL)",
        [report.run_id, report.table, report.source, report.format],
    )


def _commit_rejects(
    con: duckdb.DuckDBPyConnection, report: IngestReport, rejects: tuple[Reject, ...]
) -> None:
    if not rejects:
        return
    con.execute("BEGIN TRANSACTION")
    try:
        con.executemany(
            "INSERT OR REPLACE INTO quarantine VALUES (?, ?, ?, ?, ?, ?, now())",
            [
                [report.table, report.source, r.line, r.reason, r.raw, report.run_id]
                for r in rejects
            ],
        )
        report.quarantined += len(rejects)
        for r in rejects:
            report.reasons[r.reason] = report.reasons.get(r.reason, 0) + 1
        _update_run(con, report)
        con.execute("COMMIT")
    except BaseException:
        con.execute("ROLLBACK")
        raise


def _commit_batch(
    con: duckdb.DuckDBPyConnection,
    schema: TableSchema,
    report: IngestReport,
    validation: str,
    lo: int,
    hi: int,
    clear_fixed: bool,
) -> None:
    """Validate records ``lo..hi`` and commit them in one transaction."""
    con.execute(
        f"CREATE OR REPLACE TEMP VIEW _batch_src AS SELECT * FROM {_PROJECTED} "
        f"WHERE _row >= {lo} AND _row < {hi}"
    )
    con.execute("BEGIN TRANSACTION")
    try:
        con.execute(f"CREATE OR REPLACE TEMP TABLE {_BATCH_TABLE} AS {validation}")
        valid, bad = _counts(con)
        inserted = _write_valid(con, schema)
        _write_quarantine(con, schema, report, clear_fixed)
        if bad:
            for reason, n in con.execute(
                f"SELECT _reason, count(*) FROM {_BATCH_TABLE} WHERE _reason <> '' GROUP BY 1"
            ).fetchall():
                report.reasons[reason] = report.reasons.get(reason, 0) + int(n)
        new = replace(report)
        new.rows += valid + bad
        new.accepted += inserted
        new.duplicates += valid - inserted
        new.quarantined += bad
        new.batches += 1
        _update_run(con, new)
        con.execute("COMMIT")
    except BaseException:
        con.execute("ROLLBACK")
        raise
    report.rows, report.accepted = new.rows, new.accepted
    report.duplicates, report.quarantined, report.batches = (
        new.duplicates,
        new.quarantined,
        new.batches,
    )


def _counts(con: duckdb.DuckDBPyConnection) -> tuple[int, int]:
    row = con.execute(
        f"SELECT count(*) FILTER (WHERE _reason = ''), count(*) FILTER (WHERE _reason <> '') "
        f"FROM {_BATCH_TABLE}"
    ).fetchall()[0]
    return int(row[0]), int(row[1])


def _write_valid(con: duckdb.DuckDBPyConnection, schema: TableSchema) -> int:
    """Insert the valid rows of the batch; returns how many were new or changed."""
    names = ", ".join(quote_ident(n) for n in schema.field_names)
    target = quote_ident(schema.name)
    if schema.mode == "append":
        row = con.execute(
            f"INSERT OR IGNORE INTO {target} ({names}) SELECT {names} FROM {_BATCH_TABLE} "
            f"WHERE _reason = '' ORDER BY _row"
        ).fetchall()[0]
        return int(row[0])
    keys = ", ".join(quote_ident(k) for k in schema.key)
    join = " AND ".join(f"t.{quote_ident(k)} = c.{quote_ident(k)}" for k in schema.key)
    differs = " OR ".join(
        f"t.{quote_ident(n)} IS DISTINCT FROM c.{quote_ident(n)}" for n in schema.field_names
    )
    # Last record of a key in the batch wins, as it would in a stream of updates.
    picked = ", ".join("c." + quote_ident(n) for n in schema.field_names)
    row = con.execute(
        f"INSERT OR REPLACE INTO {target} ({names}) SELECT {picked} "
        f"FROM (SELECT * FROM {_BATCH_TABLE} WHERE _reason = '' "
        f"QUALIFY row_number() OVER (PARTITION BY {keys} ORDER BY _row DESC) = 1) c "
        f"LEFT JOIN {target} t ON {join} WHERE t.{quote_ident(schema.key[0])} IS NULL OR {differs}"
    ).fetchall()[0]
    return int(row[0])


def _write_quarantine(
    con: duckdb.DuckDBPyConnection, schema: TableSchema, report: IngestReport, clear_fixed: bool
) -> None:
    record = (
        "json_object("
        + ", ".join(
            f"{quote_literal(n)}, left({quote_ident('r_' + n)}, 2000)" for n in schema.field_names
        )
        + ")"
    )
    params = [report.table, report.source, report.run_id]
    con.execute(
        f"INSERT OR REPLACE INTO quarantine SELECT ?, ?, _line, _reason, {record}, ?, now() "
        f"FROM {_BATCH_TABLE} WHERE _reason <> ''",
        params,
    )
    if not clear_fixed:
        return
    # A line that is valid now no longer needs fixing.
    con.execute(
        f"DELETE FROM quarantine WHERE table_name = ? AND source = ? AND line IN "
        f"(SELECT _line FROM {_BATCH_TABLE} WHERE _reason = '')",
        params[:2],
    )


def _update_run(con: duckdb.DuckDBPyConnection, report: IngestReport) -> None:
    con.execute(
        "UPDATE ingest_runs SET rows = ?, accepted = ?, duplicates = ?, quarantined = ? "
        "WHERE run_id = ?",
        [report.rows, report.accepted, report.duplicates, report.quarantined, report.run_id],
    )


def _finish_run(
    con: duckdb.DuckDBPyConnection, report: IngestReport, status: str, error: str | None
) -> None:
    con.execute(
        "UPDATE ingest_runs SET status = ?, finished_at = now(), error = ? WHERE run_id = ?",
        [status, error, report.run_id],
    )
