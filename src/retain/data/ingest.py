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
* A record of an append table whose key is stored with *other* values is no
  duplicate: it is quarantined as a conflict naming each differing field with
  its stored and new value, so a file of order lines keyed by their order, or
  two events sharing an id, cannot be half-loaded in silence. Only the fields
  the source has are compared. The exception is a schema's ``lifecycle``
  field (an order's ``status``): a later status along the allowed moves
  updates the stored record (counted as accepted and as ``updated``) and
  dates the move (``status_ts``: the source's, else the ingest time, so a
  feature computed as of an earlier day still sees the old status); an
  earlier one (an older export loaded again) is a duplicate. Records sharing
  a key within one source apply in file order.
* Quarantined records keep their source, line, every reason and the raw
  record; a later ingest that accepts a fixed line clears its quarantine entry.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path
from types import MappingProxyType
from typing import cast

import duckdb
import pyarrow as pa

from retain.currency import CURRENCY_CODE
from retain.data.loaders import FORMATS as PUBLIC_FORMATS
from retain.data.order_lines import ORDER_LINES, group_order_lines
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
    check_time_formats,
    quote_ident,
    quote_literal,
    raw_record_sql,
    snippet_sql,
    with_currency_mix,
)
from retain.errors import InvalidInputError, NotFoundError
from retain.privacy import ERASED_TABLE, erasure_salt

__all__ = ["IngestReport", "ProgressCallback", "ingest_arrow", "ingest_file", "normalise_name"]

#: Called after each committed batch with (records done, records in total).
ProgressCallback = Callable[[int, int], None]

_BATCH_TABLE = "_batch"
_PROJECTED = "_projected"
#: Items a whole catalogue stopped listing (``--complete``), so that only they come back.
WITHDRAWN_TABLE = "withdrawn_items"
WITHDRAWN_DDL = (
    f"CREATE TABLE IF NOT EXISTS {WITHDRAWN_TABLE} "
    "(item_id VARCHAR PRIMARY KEY, withdrawn_at TIMESTAMP NOT NULL)"
)
_OCCURRENCE = "_occurrence"
_ATTRIBUTES = "attributes"
_CONFLICTS = "_conflicts"

#: Said after a conflict, where one mistake explains most of them.
_CONFLICT_HINTS = {
    "orders": " (an order id names one order: load a file with one row per order line "
    "with --lines, which sums its lines per order)",
}


@dataclass
class IngestReport:
    """What one ingest did. ``accepted + duplicates + quarantined + erased == rows``."""

    table: str
    source: str
    format: str
    run_id: str
    rows: int = 0
    accepted: int = 0
    #: Of ``accepted``: stored records moved on (an order's new status).
    updated: int = 0
    duplicates: int = 0
    quarantined: int = 0
    batches: int = 0
    seconds: float = 0.0
    ignored_columns: tuple[str, ...] = ()
    #: Source columns with no field of their own, kept in the JSON ``attributes``.
    attribute_columns: tuple[str, ...] = ()
    derived_key: bool = False
    #: Lines read when order lines were summed into orders (``rows`` then
    #: counts the orders formed plus the lines quarantined).
    lines: int = 0
    #: Of ``rows``: records of customers erased on request, dated before the
    #: erase, skipped unstored (:mod:`retain.privacy`).
    erased: int = 0
    #: With ``complete``: stored items the file no longer lists, now unavailable,
    #: and items it lists again after such a withdrawal, available again.
    withdrawn: int = 0
    relisted: int = 0
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
    lines: bool = False,
    values: Mapping[str, Mapping[str, str]] | None = None,
    constants: Mapping[str, str] | None = None,
    encoding: str | None = None,
    time_formats: Sequence[str] = (),
    currency: str | None = None,
    group_by: str | None = None,
    complete: bool = False,
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
        lines: ``path`` has one row per line of an order; lines are summed
            into orders first (:mod:`retain.data.order_lines`).
        values: ``{field: {source value: Retain's value}}`` for a field with
            a vocabulary whose source spells it its own way, e.g.
            ``{"event_type": {"1": "view", "4": "purchase"}}`` or
            ``{"status": {"sent": "completed"}}``; matched lower-cased.
        constants: ``{field: value}`` for a field the source has no column
            for because every record shares it: a log of views only
            (``{"event_type": "view"}``), an export of one country's shop.
            The value is validated like any other (and ``values`` apply),
            and it is part of the content a derived key is made of, so a
            views log and a purchases log with the same rows stay apart.
        encoding: The text encoding of a CSV or JSON-lines file, a Python
            codec name (``gb18030`` for Chinese Excel exports, ``cp1252``,
            ...). Unset: UTF-8, or UTF-16/32 where the file starts with
            their byte-order mark. Records that do not decode are
            quarantined; when a whole file is not UTF-8, the reason names
            the encoding it reads as.
        time_formats: strptime formats the file writes its times in, e.g.
            ``["%d/%m/%Y %H:%M"]`` for a European spreadsheet; tried before
            ISO 8601 and the other built-in forms, which still apply.
            Day-first and month-first dates look alike, so neither is
            guessed.
        currency: The shop's currency, an ISO 4217 code (the ``currency``
            setting). An amount written in another (``$12.50`` in a CNY
            shop) and a ``currency`` column naming another are quarantined;
            unset, a load is only checked for mixing currencies within itself.
        group_by: A column whose rows describe one thing together, such as
            Shopify's ``Handle`` (a product's variants, one row each, with
            its title, description, vendor and type on the first row only):
            a row's empty values are taken from the first row of its group
            that has them. Key fields are never filled. In an items file the
            group is the product, so it also fills ``product_id`` unless a
            column maps there.
        complete: ``path`` is the whole catalogue (items only): stored
            items it does not list are marked unavailable, so a product the
            shop stopped selling is no longer recommended, until a
            catalogue lists it again.

    Raises:
        InvalidInputError: the file or the mapping cannot be used at all
            (nothing is written then).
        NotFoundError: the file does not exist.
    """
    source = Path(path)
    if complete and get_schema(table).name != "items":
        raise InvalidInputError(
            f"--complete marks the items a whole catalogue no longer lists as unavailable; "
            f"it does not apply to {get_schema(table).name}"
        )
    if lines and get_schema(table).name != "orders":
        raise InvalidInputError(
            f"--lines sums order lines into orders; it does not apply to {table}"
        )
    if lines and format is not None and format in PUBLIC_FORMATS:
        raise InvalidInputError(f"--lines reads csv, parquet or jsonl files, not {format}")
    if group_by is not None and format is not None and format in PUBLIC_FORMATS:
        raise InvalidInputError(f"--group-by reads csv, parquet or jsonl files, not {format}")
    if format is not None and format in PUBLIC_FORMATS:
        public = PUBLIC_FORMATS[format]
        if encoding is not None and not public.encodings:
            takes = ", ".join(
                ["csv", "jsonl", *(f.name for f in PUBLIC_FORMATS.values() if f.encodings)]
            )
            raise InvalidInputError(f"--encoding applies to {takes} files, not {format}")
        if get_schema(table).name != public.table:
            raise InvalidInputError(f"format {format} fills {public.table}, not {table}")
        if not source.is_file():
            raise NotFoundError(f"no such file: {source}")
        return ingest_arrow(
            store,
            table,
            public.read(source, encoding=encoding) if encoding is not None else public.read(source),
            source=str(source.resolve()),
            format=format,
            mapping=mapping,
            batch_size=batch_size,
            future_tolerance_seconds=future_tolerance_seconds,
            max_text_chars=max_text_chars,
            now=now,
            on_progress=on_progress,
            values=values,
            constants=constants,
            currency=currency,
            complete=complete,
        )
    if format is not None and format not in FILE_FORMATS:
        known = ", ".join((*FILE_FORMATS, *PUBLIC_FORMATS))
        raise InvalidInputError(f"unknown format {format!r}; expected one of: {known}")
    fmt = cast(SourceFormat, format) if format is not None else infer_format(source)
    formats = tuple(time_formats)
    check_time_formats(formats)
    return _run(
        store,
        table,
        lambda con: stage_file(con, source, fmt, delimiter=delimiter, encoding=encoding),
        str(source.resolve()),
        fmt,
        mapping,
        _rules(
            now,
            future_tolerance_seconds,
            max_text_chars,
            values,
            formats,
            from_file=True,
            currency=currency,
        ),
        batch_size,
        on_progress,
        lines=lines,
        constants=constants,
        group_by=group_by,
        complete=complete,
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
    values: Mapping[str, Mapping[str, str]] | None = None,
    constants: Mapping[str, str] | None = None,
    currency: str | None = None,
    complete: bool = False,
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
        _rules(now, future_tolerance_seconds, max_text_chars, values, currency=currency),
        batch_size,
        on_progress,
        constants=constants,
        complete=complete,
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
    *,
    lines: bool = False,
    constants: Mapping[str, str] | None = None,
    group_by: str | None = None,
    complete: bool = False,
) -> IngestReport:
    """Stage on a private cursor, then validate and commit (the shared path)."""
    schema = _schema(table)
    _check_values(schema, rules.values)
    con = store.session()
    try:
        staged = stage(con)
        if group_by is not None:
            _fill_groups(
                con, ORDER_LINES if lines else schema, staged, mapping or {}, group_by, source
            )
            mapping = _group_as_product(schema, staged, mapping or {}, group_by)
        if constants:
            staged, mapping = _with_constants(
                con, ORDER_LINES if lines else schema, staged, mapping or {}, constants, source
            )
        return _ingest_staged(
            con,
            schema,
            staged,
            source,
            fmt,
            mapping,
            rules,
            batch_size,
            on_progress,
            lines,
            complete,
        )
    finally:
        con.close()


def _fill_groups(
    con: duckdb.DuckDBPyConnection,
    schema: TableSchema,
    staged: Staged,
    mapping: Mapping[str, str],
    column: str,
    source: str,
) -> None:
    """Give each staged row the values its group's rows have where it has none.

    A group is the rows sharing a value of ``column``. Shop exports write a
    product's text once, on the first of its variants' rows (Shopify's
    ``Handle``); loaded as they are, every other variant would be an item
    without a title, description or category. Key fields keep their own
    values, so each variant stays an item of its own; rows without a group
    value are left as they are.

    Raises:
        InvalidInputError: ``source`` has no such column.
    """
    if column not in staged.columns:
        raise InvalidInputError(
            f"--group-by {column}: {source} has no column {column!r}; its columns are: "
            f"{', '.join(staged.columns)}"
        )
    renames, _ = _resolve_columns(schema, staged.columns, mapping, source)
    keys = {c for c, f in renames.items() if f in schema.key}
    group = f"nullif(trim({quote_ident(column)}), '')"
    window = (
        f"(PARTITION BY {group} ORDER BY _row "
        "ROWS BETWEEN UNBOUNDED PRECEDING AND UNBOUNDED FOLLOWING)"
    )
    filled = []
    for name in staged.columns:
        value = quote_ident(name)
        if name in keys or name == column:
            filled.append(value)
            continue
        own = f"nullif(trim({value}), '')"
        filled.append(
            f"CASE WHEN {own} IS NULL AND {group} IS NOT NULL "
            f"THEN first_value({own} IGNORE NULLS) OVER {window} ELSE {value} END AS {value}"
        )
    con.execute(
        f"CREATE OR REPLACE TEMP TABLE _grouped AS "
        f"SELECT _row, _line, {', '.join(filled)} FROM {STAGE_TABLE} ORDER BY _row"
    )
    con.execute(f"CREATE OR REPLACE TEMP TABLE {STAGE_TABLE} AS SELECT * FROM _grouped")
    con.execute("DROP TABLE _grouped")


def _group_as_product(
    schema: TableSchema, staged: Staged, mapping: Mapping[str, str], column: str
) -> Mapping[str, str]:
    """An items file's groups are its products (a product's variants share a
    ``Handle``), so the group column fills ``product_id`` unless the file maps
    or has a column of its own for it."""
    if schema.name != "items" or column in mapping:
        return mapping
    own = "product_id" in mapping.values() or any(
        normalise_name(c) == "product_id" and c not in mapping for c in staged.columns
    )
    return mapping if own else {**mapping, column: "product_id"}


def _with_constants(
    con: duckdb.DuckDBPyConnection,
    schema: TableSchema,
    staged: Staged,
    mapping: Mapping[str, str],
    constants: Mapping[str, str],
    source: str,
) -> tuple[Staged, dict[str, str]]:
    """Add one staged column per constant, mapped onto its field, like a column of the file.

    Raises:
        InvalidInputError: a constant names no field of ``schema``, or a field
            the source already has a column for (it would silently win).
    """
    mapped = dict(mapping)
    columns = list(staged.columns)
    for name, value in constants.items():
        if name not in schema.field_names:
            raise InvalidInputError(
                f"--set {name}={value}: {schema.name} has no field {name!r}; its fields are: "
                f"{', '.join(schema.field_names)}"
            )
        own = [c for c, f in mapping.items() if f == name] or [
            c for c in staged.columns if normalise_name(c) == name and c not in mapping
        ]
        if own:
            raise InvalidInputError(
                f"--set {name}={value}: {source} has a column for {name} ({own[0]}); "
                "leave out --set, or --map that column to another field"
            )
        column = f"--set {name}"
        con.execute(
            f"ALTER TABLE {STAGE_TABLE} ADD COLUMN {quote_ident(column)} VARCHAR "
            f"DEFAULT {quote_literal(value)}"
        )
        columns.append(column)
        mapped[column] = name
    return replace(staged, columns=tuple(columns)), mapped


def _schema(table: str) -> TableSchema:
    try:
        return get_schema(table)
    except KeyError as exc:
        raise InvalidInputError(str(exc.args[0])) from None


def _rules(
    now: datetime | None,
    tolerance: int,
    max_chars: int,
    values: Mapping[str, Mapping[str, str]] | None = None,
    time_formats: tuple[str, ...] = (),
    *,
    from_file: bool = False,
    currency: str | None = None,
) -> ValidationRules:
    if currency is not None and not CURRENCY_CODE.match(currency):
        raise InvalidInputError(
            f"currency {currency!r} is not an ISO 4217 code such as CNY, USD or EUR"
        )
    moment = (now or datetime.now(UTC)).astimezone(UTC).replace(tzinfo=None)
    return ValidationRules(
        moment,
        tolerance,
        max_chars,
        MappingProxyType(dict(values or {})),
        time_formats,
        suggest_time_format=from_file,
        currency=currency,
    )


def _check_values(schema: TableSchema, values: Mapping[str, Mapping[str, str]]) -> None:
    """Refuse a value map that names no vocabulary field or maps onto no allowed value.

    Raises:
        InvalidInputError: before anything is read or written.
    """
    for name, pairs in values.items():
        if name not in schema.field_names:
            raise InvalidInputError(
                f"--value {name}:…: {schema.name} has no field {name!r}; its fields are "
                f"{', '.join(schema.field_names)}"
            )
        choices = schema.field(name).choices
        if choices is None:
            with_vocabulary = [f.name for f in schema.fields if f.choices is not None]
            raise InvalidInputError(
                f"--value {name}:…: {name} takes any value, so there is nothing to map; "
                f"fields of {schema.name} with a vocabulary: {', '.join(with_vocabulary) or 'none'}"
            )
        for source_value, value in pairs.items():
            if value not in choices:
                raise InvalidInputError(
                    f"--value {name}:{source_value}={value}: {value!r} is not one of: "
                    f"{', '.join(choices)}"
                )


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
    lines: bool = False,
    complete: bool = False,
) -> IngestReport:
    if batch_size < 1:
        raise InvalidInputError(f"batch_size must be at least 1, got {batch_size}")
    started = time.perf_counter()
    try:
        lines_read = 0
        if lines:
            line_fields, ignored = _resolve_columns(
                ORDER_LINES, staged.columns, mapping or {}, source
            )
            lines_read = staged.rows
            staged = group_order_lines(con, staged, line_fields, rules)
            renames, _ = _resolve_columns(schema, staged.columns, {}, source)
        else:
            renames, ignored = _resolve_columns(schema, staged.columns, mapping or {}, source)
        present = set(renames.values())
        derived = _needs_derived_key(schema, present, source)
        kept = _attribute_columns(schema, present, ignored)
        ignored = [c for c in ignored if c not in kept]
        _project_stage(con, schema, renames, derived, kept)
        if derived:
            present |= set(schema.key)
        if kept:
            present.add(_ATTRIBUTES)
        rules = with_currency_mix(con, _PROJECTED, schema, present, rules)
        report = IngestReport(
            table=schema.name,
            source=source,
            format=fmt,
            run_id=uuid.uuid4().hex,
            ignored_columns=tuple(ignored),
            attribute_columns=tuple(kept),
            derived_key=derived,
            lines=lines_read,
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
        salt = _erasure_salt(con, schema)
        # _row may have gaps (rows moved to rejects), so batch by position range.
        bound = con.execute(f"SELECT coalesce(max(_row) + 1, 0) FROM {STAGE_TABLE}").fetchall()
        report.rows = len(staged.rejects)
        try:
            for lo in range(0, int(bound[0][0]), batch_size):
                _commit_batch(
                    con,
                    schema,
                    report,
                    validation,
                    (lo, lo + batch_size),
                    clear_fixed,
                    present,
                    rules.now,
                    salt,
                )
                if on_progress is not None:
                    on_progress(report.rows, staged.rows)
            if complete:
                report.withdrawn, report.relisted = _sync_listing(con, report, rules.now)
        except Exception as exc:
            _finish_run(con, report, "failed", f"{type(exc).__name__}: {exc}"[:2000])
            raise
        report.seconds = time.perf_counter() - started
        _finish_run(con, report, "completed", None)
        return report
    finally:
        _drop_temporaries(con)


def _sync_listing(
    con: duckdb.DuckDBPyConnection, report: IngestReport, now: datetime
) -> tuple[int, int]:
    """Take the stored items a whole catalogue does not list off sale, and put back on
    sale the ones it lists again; returns (withdrawn, relisted).

    Every line of the file counts as listed, a quarantined one too (a bad
    price does not take a product off sale). Withdrawn items are kept in
    ``withdrawn_items``, so only they come back when listed again: an item a
    stock feed marked unavailable stays so when a catalogue without an
    ``available`` column lists it. A catalogue of no usable line changes
    nothing: that is a broken export, not an empty shop.
    """
    if report.accepted + report.duplicates == 0:
        return 0, 0
    listed = f"SELECT DISTINCT trim(item_id) FROM {_PROJECTED} WHERE item_id IS NOT NULL"
    con.execute("BEGIN TRANSACTION")
    try:
        con.execute(WITHDRAWN_DDL)
        relisted = con.execute(
            f"UPDATE items SET available = TRUE WHERE item_id IN "
            f"(SELECT item_id FROM {WITHDRAWN_TABLE} WHERE item_id IN ({listed})) RETURNING 1"
        ).fetchall()
        con.execute(f"DELETE FROM {WITHDRAWN_TABLE} WHERE item_id IN ({listed})")
        gone = con.execute(
            f"UPDATE items SET available = FALSE WHERE available IS DISTINCT FROM FALSE "
            f"AND item_id NOT IN ({listed}) RETURNING item_id"
        ).fetchall()
        if gone:
            con.executemany(
                f"INSERT OR REPLACE INTO {WITHDRAWN_TABLE} VALUES (?, ?)",
                [(item, now) for (item,) in gone],
            )
        con.execute("COMMIT")
    except BaseException:
        con.execute("ROLLBACK")
        raise
    return len(gone), len(relisted)


def _drop_temporaries(con: duckdb.DuckDBPyConnection) -> None:
    for name in ("_batch_src", _PROJECTED, STAGE_TABLE, _BATCH_TABLE, _OCCURRENCE, _CONFLICTS):
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
            f"Name the matching columns with {hint}, or give a value every record shares "
            f"with --set {missing[0]}=VALUE"
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


def _attribute_columns(schema: TableSchema, present: set[str], unused: list[str]) -> list[str]:
    """The unused source columns that go into ``attributes``: all of them, for a table
    with that JSON field when the source has no column for it (a profile export's
    ``age``, ``income``, ``country``; a catalogue's ``department``), so a team can
    split retention by them without first packing them into JSON."""
    if _ATTRIBUTES not in schema.field_names or _ATTRIBUTES in present:
        return []
    return list(unused)


def _project_stage(
    con: duckdb.DuckDBPyConnection,
    schema: TableSchema,
    renames: Mapping[str, str],
    derived: bool,
    attributes: list[str] | None = None,
) -> None:
    """Rename the staged columns to field names, derive the key if asked, and pack
    the ``attributes`` columns into one JSON object (values as text, empty ones left out)."""
    cols = [f"{quote_ident(src)} AS {quote_ident(dst)}" for src, dst in renames.items()]
    if attributes:
        pairs = ", ".join(
            f"struct_pack(k := {quote_literal(c)}, v := {quote_ident(c)})" for c in attributes
        )
        kept = f"list_filter([{pairs}], lambda x: x.v IS NOT NULL AND x.v <> '')"
        cols.append(
            f"CASE WHEN len({kept}) > 0 THEN CAST(to_json(map_from_entries({kept})) AS VARCHAR) "
            f"END AS {_ATTRIBUTES}"
        )
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
    """Quarantine what staging or line grouping refused, in one transaction.

    One set-based insert: row-by-row inserts took 3 ms each, so the 143,985
    refused lines of the Online Retail export loaded with ``--lines`` took
    ten minutes to quarantine.
    """
    if not rejects:
        return
    last = {r.line: r for r in rejects}  # a line is stored once; its last reason wins
    frame = pa.table(
        {
            "line": pa.array(list(last), pa.int64()),
            "reason": [r.reason for r in last.values()],
            "record": pa.array([r.raw for r in last.values()], pa.string()),
        }
    )
    con.execute("BEGIN TRANSACTION")
    try:
        con.register("_rejects_in", frame)
        con.execute(
            "INSERT OR REPLACE INTO quarantine SELECT ?, ?, line, reason, record, ?, now() "
            "FROM _rejects_in",
            [report.table, report.source, report.run_id],
        )
        con.unregister("_rejects_in")
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
    rows: tuple[int, int],
    clear_fixed: bool,
    present: set[str],
    now: datetime,
    erasure_salt: str | None = None,
) -> None:
    """Validate records ``rows`` (from, to) and commit them in one transaction;
    ``now`` dates the status moves the source gives no date for; with
    ``erasure_salt``, records of erased customers are skipped first."""
    lo, hi = rows
    con.execute(
        f"CREATE OR REPLACE TEMP VIEW _batch_src AS SELECT * FROM {_PROJECTED} "
        f"WHERE _row >= {lo} AND _row < {hi}"
    )
    con.execute("BEGIN TRANSACTION")
    try:
        con.execute(f"CREATE OR REPLACE TEMP TABLE {_BATCH_TABLE} AS {validation}")
        erased = _skip_erased(con, schema, erasure_salt) if erasure_salt is not None else 0
        if schema.mode == "append":
            inserted, updated = _write_append(con, schema, present, now)
        else:
            inserted, updated = _write_upsert(con, schema, present), 0
        valid, bad = _counts(con)  # after conflicts joined the invalid records
        _write_quarantine(con, schema, report, clear_fixed)
        if bad:
            for reason, n in con.execute(
                f"SELECT _reason, count(*) FROM {_BATCH_TABLE} WHERE _reason <> '' GROUP BY 1"
            ).fetchall():
                report.reasons[reason] = report.reasons.get(reason, 0) + int(n)
        new = replace(report)
        new.rows += valid + bad + erased
        new.erased += erased
        new.accepted += inserted
        new.updated += updated
        new.duplicates += valid - inserted
        new.quarantined += bad
        new.batches += 1
        _update_run(con, new)
        con.execute("COMMIT")
    except BaseException:
        con.execute("ROLLBACK")
        raise
    report.rows, report.accepted, report.updated = new.rows, new.accepted, new.updated
    report.erased = new.erased
    report.duplicates, report.quarantined, report.batches = (
        new.duplicates,
        new.quarantined,
        new.batches,
    )


def _erasure_salt(con: duckdb.DuckDBPyConnection, schema: TableSchema) -> str | None:
    """The salt to check ``schema``'s records against erased customers; None when there
    is nothing to check (no customer field, or nobody erased), which costs nothing."""
    return erasure_salt(con) if "user_id" in schema.field_names else None


def _skip_erased(con: duckdb.DuckDBPyConnection, schema: TableSchema, salt: str) -> int:
    """Drop the batch's records of erased customers that the erase covered; returns how many.

    A record dated before the erase, or with no date (a profile), is the
    data the customer had erased, come back with a re-export; it is neither
    stored nor quarantined (a quarantine row keeps the raw record). A later
    record is what they did since, and is kept.
    """
    when = schema.time_field
    covered = (
        "TRUE"
        if when is None
        else f"(b.{quote_ident(when)} IS NULL OR b.{quote_ident(when)} < e.erased_at)"
    )
    # Each customer of the batch is hashed once, not each of their records; an
    # e-mail id erased before ids were folded was hashed as written, so an id
    # written otherwise than stored is hashed that way too (rare: a few rows).
    named = (
        f"WITH u AS (SELECT DISTINCT user_id, r_user_id FROM {_BATCH_TABLE} "
        "WHERE user_id IS NOT NULL), "
        "h AS (SELECT DISTINCT user_id, sha256($salt || user_id) AS id_hash FROM u "
        "UNION ALL SELECT user_id, sha256($salt || r_user_id) FROM u WHERE r_user_id <> user_id) "
        f"SELECT h.user_id, max(e.erased_at) AS erased_at FROM h "
        f"JOIN {ERASED_TABLE} e ON e.id_hash = h.id_hash GROUP BY h.user_id"
    )
    gone = con.execute(
        f"DELETE FROM {_BATCH_TABLE} b USING ({named}) e "
        f"WHERE b.user_id = e.user_id AND {covered} RETURNING 1",
        {"salt": salt},
    ).fetchall()
    return len(gone)


def _counts(con: duckdb.DuckDBPyConnection) -> tuple[int, int]:
    row = con.execute(
        f"SELECT count(*) FILTER (WHERE _reason = ''), count(*) FILTER (WHERE _reason <> '') "
        f"FROM {_BATCH_TABLE}"
    ).fetchall()[0]
    return int(row[0]), int(row[1])


def _write_append(
    con: duckdb.DuckDBPyConnection, schema: TableSchema, present: set[str], now: datetime
) -> tuple[int, int]:
    """Insert the batch's new facts; returns (written, of them updated).

    Valid records are taken in rounds by their occurrence of the key within
    the batch (nearly always one round), so two records of one key apply in
    file order. A record whose key is already stored is compared with the
    stored record: identical, or an earlier lifecycle value, is a duplicate;
    a later lifecycle value updates it; any other difference turns the
    record into a quarantined conflict. When every record of the first round
    was new, nothing needs comparing (the usual first load).
    """
    names = ", ".join(quote_ident(n) for n in schema.field_names)
    keys = ", ".join(quote_ident(k) for k in schema.key)
    target = quote_ident(schema.name)
    con.execute(
        f"CREATE OR REPLACE TEMP TABLE {_OCCURRENCE} AS SELECT _row, "
        f"row_number() OVER (PARTITION BY {keys} ORDER BY _row) AS _occ "
        f"FROM {_BATCH_TABLE} WHERE _reason = ''"
    )
    rounds, firsts = con.execute(
        f"SELECT coalesce(max(_occ), 0), count(*) FILTER (WHERE _occ = 1) FROM {_OCCURRENCE}"
    ).fetchall()[0]
    written = updated = 0
    for occurrence in range(1, int(rounds) + 1):
        this_round = (
            f"SELECT b.* FROM {_BATCH_TABLE} b JOIN {_OCCURRENCE} o USING (_row) "
            f"WHERE o._occ = {occurrence} AND b._reason = ''"
        )
        if occurrence == 1:
            inserted = int(
                con.execute(
                    f"INSERT OR IGNORE INTO {target} ({names}) SELECT {names} "
                    f"FROM ({this_round}) ORDER BY _row"
                ).fetchall()[0][0]
            )
            written += inserted
            if inserted == firsts and rounds == 1:
                break  # every record new: nothing stored to compare with
        moved = _compare_with_stored(con, schema, present, this_round, now)
        written += moved
        updated += moved
    return written, updated


def _compare_with_stored(
    con: duckdb.DuckDBPyConnection,
    schema: TableSchema,
    present: set[str],
    records: str,
    now: datetime,
) -> int:
    """Quarantine ``records`` that conflict with the stored record of their key, and
    apply the lifecycle moves of the rest, dated ``now`` where the source gives no
    date; returns how many stored records moved."""
    target = quote_ident(schema.name)
    join = " AND ".join(f"t.{quote_ident(k)} = b.{quote_ident(k)}" for k in schema.key)
    lifecycle = schema.lifecycle
    moving = (lifecycle.field, lifecycle.since) if lifecycle is not None else ()
    fixed = [
        n for n in schema.field_names if n in present and n not in schema.key and n not in moving
    ]
    differences = [_difference(n, f"t.{quote_ident(n)}", f"b.{quote_ident(n)}") for n in fixed]
    forward: str | None = None
    if lifecycle is not None and lifecycle.field in present:
        life = lifecycle.field
        pairs = [f"{a}>{b}" for a, later in lifecycle.moves.items() for b in later]
        allowed = ", ".join(quote_literal(p) for p in pairs)
        old, new = f"t.{quote_ident(life)}", f"b.{quote_ident(life)}"
        forward = f"({old} || '>' || {new}) IN ({allowed})"
        backward = f"({new} || '>' || {old}) IN ({allowed})"
        differences.append(
            _difference(
                life,
                old,
                new,
                unless=f"{forward} OR {backward}",
                note=" (no move leads from one to the other)",
            )
        )
    if not differences:
        return 0
    key_shown = " || ', ' || ".join(
        f"{quote_literal(k + ' ')} || {_shown('b.' + quote_ident(k))}" for k in schema.key
    )
    # The hint explains differing fixed fields, not a status that cannot move.
    hint = quote_literal(_CONFLICT_HINTS.get(schema.name, ""))
    hinted = " OR ".join(f"({d}) IS NOT NULL" for d in differences[: len(fixed)]) or "FALSE"
    con.execute(
        f"CREATE OR REPLACE TEMP TABLE {_CONFLICTS} AS SELECT b._row, "
        f"{key_shown} || ' is already stored with other values: ' || "
        f"concat_ws(' and ', {', '.join(differences)}) || "
        f"CASE WHEN {hinted} THEN {hint} ELSE '' END AS why "
        f"FROM ({records}) b JOIN {target} t ON {join} "
        f"WHERE {' OR '.join(f'({d}) IS NOT NULL' for d in differences)}"
    )
    con.execute(
        f"UPDATE {_BATCH_TABLE} SET _reason = c.why FROM {_CONFLICTS} c "
        f"WHERE {_BATCH_TABLE}._row = c._row"
    )
    if forward is None or lifecycle is None:
        return 0
    column, since = quote_ident(lifecycle.field), quote_ident(lifecycle.since)
    rows = f"SELECT * FROM ({records}) WHERE _row NOT IN (SELECT _row FROM {_CONFLICTS})"
    # Without the source's own date, a move dates from the ingest: when the store learned of it.
    # A move between exits keeps the date the record left (a refund after the return).
    dated = f"coalesce(b.{since}, ?)"
    if lifecycle.exits:
        exits = ", ".join(quote_literal(v) for v in lifecycle.exits)
        dated = f"CASE WHEN t.{column} IN ({exits}) THEN t.{since} ELSE {dated} END"
    moved = con.execute(
        f"UPDATE {target} t SET {column} = b.{column}, {since} = {dated} "
        f"FROM ({rows}) b WHERE {join} AND {forward}",
        [now],
    ).fetchall()[0][0]
    return int(moved)


def _difference(name: str, stored: str, new: str, *, unless: str = "FALSE", note: str = "") -> str:
    """SQL naming ``name``'s stored and new values when they differ (else NULL)."""
    return (
        f"CASE WHEN {stored} IS DISTINCT FROM {new} AND NOT coalesce({unless}, FALSE) THEN "
        f"{quote_literal(name + ' ')} || {_shown(stored)} || ' stored, ' || {_shown(new)} "
        f"|| ' here' || {quote_literal(note)} END"
    )


def _shown(value_sql: str) -> str:
    """SQL for a value as a person reads it in a conflict: quoted, cut short, or empty."""
    return f"coalesce({snippet_sql(f'CAST({value_sql} AS VARCHAR)')}, 'empty')"


def _write_upsert(con: duckdb.DuckDBPyConnection, schema: TableSchema, present: set[str]) -> int:
    """Write the batch's new or changed descriptions; returns how many.

    A file speaks only for the columns it has: a price feed (``item_id,price``)
    or a consent export (``user_id,marketing_consent``) changes those fields
    and keeps the stored title, description, first-seen date and the rest,
    which a whole-row replace would have erased. A new record takes the
    defaults for what the file lacks. A JSON object (``attributes``) is
    merged key by key (RFC 7396), so a feed with one extra column adds that
    key without dropping the others.
    """
    target = quote_ident(schema.name)
    keys = ", ".join(quote_ident(k) for k in schema.key)
    join = " AND ".join(f"t.{quote_ident(k)} = c.{quote_ident(k)}" for k in schema.key)
    new_record = f"t.{quote_ident(schema.key[0])} IS NULL"
    spoken = set(present) | set(schema.key)
    if schema.text_field in present:
        spoken |= {f.name for f in schema.fields if f.kind == "language"}  # detected afresh
    values, changes = [], []
    for f in schema.fields:
        name = quote_ident(f.name)
        given, stored = f"c.{name}", f"t.{name}"
        if f.name not in spoken:
            values.append(f"CASE WHEN {new_record} THEN {given} ELSE {stored} END")
            continue
        if f.kind == "json" and f.json_shape == "object" and f.name not in schema.key:
            given = (
                f"CASE WHEN {stored} IS NULL THEN {given} WHEN {given} IS NULL THEN {stored} "
                f"ELSE CAST(json_merge_patch({stored}, {given}) AS VARCHAR) END"
            )
            # Compared as JSON: the merge writes it compact, the file may not have.
            values.append(given)
            changes.append(f"json({stored}) IS DISTINCT FROM json({given})")
            continue
        values.append(given)
        changes.append(f"{stored} IS DISTINCT FROM {given}")
    names = ", ".join(quote_ident(n) for n in schema.field_names)
    # Last record of a key in the batch wins, as it would in a stream of updates.
    row = con.execute(
        f"INSERT OR REPLACE INTO {target} ({names}) SELECT {', '.join(values)} "
        f"FROM (SELECT * FROM {_BATCH_TABLE} WHERE _reason = '' "
        f"QUALIFY row_number() OVER (PARTITION BY {keys} ORDER BY _row DESC) = 1) c "
        f"LEFT JOIN {target} t ON {join} WHERE {new_record} OR {' OR '.join(changes)}"
    ).fetchall()[0]
    return int(row[0])


def _write_quarantine(
    con: duckdb.DuckDBPyConnection, schema: TableSchema, report: IngestReport, clear_fixed: bool
) -> None:
    record = raw_record_sql(schema)
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
