"""The entry points: a file or an Arrow table in, an :class:`IngestReport` out.

Each stages its source on a private cursor, shapes it onto the table's schema
(:mod:`.columns`), and hands it to :func:`.batches.ingest_staged`.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path
from types import MappingProxyType
from typing import cast

import duckdb
import pyarrow as pa

from retain.currency import CURRENCY_CODE
from retain.data.ingest.batches import ingest_staged
from retain.data.ingest.columns import fill_groups, group_as_product, with_constants
from retain.data.ingest.report import IngestReport, ProgressCallback
from retain.data.loaders import FORMATS as PUBLIC_FORMATS
from retain.data.order_lines import ORDER_LINES
from retain.data.schemas import TableSchema, get_schema
from retain.data.sources import FORMATS as FILE_FORMATS
from retain.data.sources import SourceFormat, Staged, infer_format, stage_arrow, stage_file
from retain.data.store import Store
from retain.data.validation import ValidationRules, check_time_formats
from retain.errors import InvalidInputError, NotFoundError


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
            fill_groups(
                con, ORDER_LINES if lines else schema, staged, mapping or {}, group_by, source
            )
            mapping = group_as_product(schema, staged, mapping or {}, group_by)
        if constants:
            staged, mapping = with_constants(
                con, ORDER_LINES if lines else schema, staged, mapping or {}, constants, source
            )
        return ingest_staged(
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
