"""Staging: turn a source file into a temporary table of raw text columns.

Every reader leaves the same shape behind — a temp table with ``_row`` (the
record's 0-based position, which orders the batches), ``_line`` (what a
person opens the file at) and one VARCHAR column per source column — plus the
records the reader itself could not parse (:class:`Reject`). Validation and
the batched commits then work the same for every format.

Line numbers: for CSV, the header is line 1 and each record counts as one
line, as DuckDB's reader counts them; this equals the editor's line number
unless a quoted field spans several lines. For JSONL it is the physical line;
for Parquet, the row number starting at 1.
"""

from __future__ import annotations

import codecs
import csv
import io
import json
import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import duckdb
import pyarrow as pa

from retain.data.validation import quote_ident, quote_literal
from retain.errors import InvalidInputError, NotFoundError

__all__ = [
    "FORMATS",
    "STAGE_TABLE",
    "Reject",
    "SourceFormat",
    "Staged",
    "csv_separator",
    "guess_encoding",
    "infer_format",
    "records_to_arrow",
    "stage_arrow",
    "stage_file",
]

STAGE_TABLE = "_stage"
SourceFormat = Literal["csv", "parquet", "jsonl"]
FORMATS: tuple[str, ...] = ("csv", "parquet", "jsonl")

_SUFFIXES: dict[str, SourceFormat] = {
    ".csv": "csv",
    ".tsv": "csv",
    ".parquet": "parquet",
    ".pq": "parquet",
    ".jsonl": "jsonl",
    ".ndjson": "jsonl",
    ".json": "jsonl",
}

_BAD_BYTES_MARK = "\ue000"
_UTF8_MESSAGE = "not valid UTF-8 text (save the file as UTF-8)"
_CSV_ERRORS = {
    "INVALID ENCODING": _UTF8_MESSAGE,
    "INVALID UNICODE": _UTF8_MESSAGE,
    "LINE SIZE OVER MAXIMUM": "record longer than the 8 MB line limit",
}
_MAX_RAW_CHARS = 2_000


@dataclass(frozen=True)
class Reject:
    """A record the reader could not turn into columns."""

    line: int
    reason: str
    raw: str


@dataclass(frozen=True)
class Staged:
    """What a reader staged: its columns, record count and rejects."""

    columns: tuple[str, ...]
    rows: int
    rejects: tuple[Reject, ...]


def infer_format(path: Path) -> SourceFormat:
    """The format implied by a file name (``.gz`` is looked through)."""
    suffixes = [s.lower() for s in path.suffixes]
    if suffixes and suffixes[-1] in (".gz", ".zst"):
        suffixes = suffixes[:-1]
    fmt = _SUFFIXES.get(suffixes[-1]) if suffixes else None
    if fmt is None:
        raise InvalidInputError(
            f"cannot tell the format of {path.name}; pass --format with one of: "
            f"{', '.join(FORMATS)}"
        )
    return fmt


def stage_file(
    con: duckdb.DuckDBPyConnection,
    path: Path,
    fmt: SourceFormat,
    *,
    delimiter: str | None = None,
    encoding: str | None = None,
) -> Staged:
    """Stage ``path`` into :data:`STAGE_TABLE`.

    ``encoding`` names the text encoding of a CSV or JSONL file (a Python
    codec name: ``gb18030``, ``big5``, ``cp1252``, ...). Unset, a UTF-16 or
    UTF-32 byte-order mark (Excel's "Unicode text") is followed, and anything
    else is read as UTF-8.

    Raises:
        NotFoundError: the file does not exist.
        InvalidInputError: the file cannot be read as ``fmt`` at all.
    """
    if not path.is_file():
        raise NotFoundError(f"no such file: {path}")
    if path.stat().st_size == 0:
        raise InvalidInputError(f"{path} is empty")
    if fmt == "parquet":
        if encoding is not None:
            raise InvalidInputError("--encoding applies to CSV and JSONL files; Parquet is UTF-8")
        return _stage_parquet(con, path)
    codec = _text_encoding(path, encoding)
    if fmt == "csv":
        return _stage_csv(con, path, csv_separator(delimiter, path), codec)
    if fmt == "jsonl":
        return _stage_jsonl(con, path, codec)
    raise InvalidInputError(f"unknown format {fmt!r}; expected one of: {', '.join(FORMATS)}")


_NAMED_SEPARATORS = {"\\t": "\t", "tab": "\t", "comma": ",", "semicolon": ";", "pipe": "|"}


def csv_separator(delimiter: str | None, path: Path) -> str:
    """The one-character field separator ``delimiter`` names for ``path``.

    ``\\t`` (as a shell passes ``--delimiter '\\t'``) and ``tab`` mean a tab;
    unset, ``.tsv`` files are tab-separated and the rest comma-separated.
    """
    if delimiter is None:
        return "\t" if ".tsv" in [s.lower() for s in path.suffixes] else ","
    sep = _NAMED_SEPARATORS.get(delimiter.lower(), delimiter)
    if len(sep) != 1 or sep in ('"', "\n", "\r"):
        raise InvalidInputError(
            f"the CSV delimiter must be one character other than a quote or a line break "
            f"(\\t or tab for a tab); got {delimiter!r}"
        )
    return sep


_UTF8_NAMES = ("utf-8", "utf-8-sig")


def codec_name(encoding: str) -> str:
    """The Python codec ``encoding`` names (``GBK`` -> ``gbk``).

    Raises:
        InvalidInputError: no such codec, before anything is read.
    """
    try:
        return codecs.lookup(encoding).name
    except LookupError:
        raise InvalidInputError(
            f"unknown encoding {encoding!r}; name a Python codec such as utf-8, gb18030, "
            "big5, utf-16 or cp1252"
        ) from None


def _text_encoding(path: Path, encoding: str | None) -> str:
    """The codec to read ``path`` with: the one named, else its byte-order mark's, else UTF-8."""
    if encoding is not None:
        return codec_name(encoding)
    with _open_maybe_gzip(path) as handle:
        head = handle.read(4)
    if head.startswith((codecs.BOM_UTF32_LE, codecs.BOM_UTF32_BE)):
        return "utf-32"
    if head.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        return "utf-16"
    return "utf-8"


def _is_valid_utf8(path: Path) -> bool:
    decoder = codecs.getincrementaldecoder("utf-8")()
    with _open_maybe_gzip(path) as handle:
        try:
            while chunk := handle.read(16 << 20):
                decoder.decode(chunk)
            decoder.decode(b"", final=True)
        except UnicodeDecodeError:
            return False
    return True


def _bad_text_message(path: Path, codec: str) -> str:
    """Why a record with undecodable bytes was refused, with the fix.

    For a file that is not UTF-8, the encoding it most likely is gets named
    (GB18030 for Chinese text from Windows or Excel, else cp1252), so the
    user can pass it with ``--encoding`` instead of guessing.
    """
    if codec not in _UTF8_NAMES:
        return f"not valid {codec} text (check --encoding)"
    guess = guess_encoding(path)
    if guess is None:
        return _UTF8_MESSAGE
    return f"not valid UTF-8 text; the file reads as {guess}: pass --encoding {guess}"


def guess_encoding(path: Path, sample_bytes: int = 8 << 20) -> str | None:
    """GB18030 or cp1252 when the start of ``path`` reads as one of them and not as UTF-8.

    A UTF-8 file with a few damaged records is not "another encoding": the
    guess is made only when undecodable bytes outnumber UTF-8's own
    non-ASCII characters.
    """
    with _open_maybe_gzip(path) as handle:
        sample = handle.read(sample_bytes)
    as_utf8 = sample.decode("utf-8", errors="replace")
    bad = as_utf8.count("\ufffd")
    if bad == 0 or bad < sum(1 for ch in as_utf8 if ord(ch) > 127 and ch != "\ufffd"):
        return None
    for codec, wanted in (("gb18030", _has_cjk), ("cp1252", lambda _text: True)):
        try:
            text = codecs.getincrementaldecoder(codec)().decode(sample)
        except UnicodeDecodeError:
            continue
        if wanted(text):
            return codec
    return None


def _has_cjk(text: str) -> bool:
    return any("\u4e00" <= ch <= "\u9fff" for ch in text)


def _marked_copy(path: Path, folder: Path, codec: str = "utf-8") -> Path:
    """A UTF-8 copy of ``path`` read as ``codec``, each undecodable byte replaced by a marker.

    DuckDB's reader rejects most invalid rows by itself but aborts the whole
    file in some layouts (invalid bytes after a quoted multi-line field), so
    such files, and every file not in UTF-8, are read through this copy and
    the marked rows rejected here.
    """

    def mark(exc: UnicodeError) -> tuple[str, int]:
        assert isinstance(exc, UnicodeDecodeError)
        return _BAD_BYTES_MARK, exc.end

    codecs.register_error("retain_mark", mark)
    decoder = codecs.getincrementaldecoder(codec)(errors="retain_mark")
    target = folder / (path.name + ".utf8")
    with _open_maybe_gzip(path) as src, target.open("w", encoding="utf-8", newline="") as dst:
        while chunk := src.read(16 << 20):
            dst.write(decoder.decode(chunk))
        dst.write(decoder.decode(b"", final=True))
    return target


def _stage_csv(con: duckdb.DuckDBPyConnection, path: Path, sep: str, codec: str) -> Staged:
    if codec in _UTF8_NAMES and _is_valid_utf8(path):
        return _stage_csv_utf8(con, path, sep, bad_text=None, shown_as=path)
    reason = _bad_text_message(path, codec)
    with tempfile.TemporaryDirectory(prefix="retain-utf8-") as tmp:
        copy = _marked_copy(path, Path(tmp), codec)
        return _stage_csv_utf8(con, copy, sep, bad_text=reason, shown_as=path)


def _stage_csv_utf8(
    con: duckdb.DuckDBPyConnection, path: Path, sep: str, *, bad_text: str | None, shown_as: Path
) -> Staged:
    """Stage the UTF-8 file ``path``; ``shown_as`` is the user's file, for messages."""
    con.execute("DROP TABLE IF EXISTS _rej_errors; DROP TABLE IF EXISTS _rej_scans")
    options = (
        f"all_varchar=true, header=true, delim={quote_literal(sep)}, quote='\"', escape='\"', "
        "store_rejects=true, rejects_table='_rej_errors', rejects_scan='_rej_scans', "
        "strict_mode=true, max_line_size=8388608, auto_detect=false"
    )
    header = _csv_header(path, sep, shown_as, bad_text or _UTF8_MESSAGE)
    columns_arg = "{" + ", ".join(f"{quote_literal(c)}: 'VARCHAR'" for c in header) + "}"
    try:
        con.execute(
            f"CREATE OR REPLACE TEMP TABLE _raw AS SELECT * FROM read_csv("
            f"{quote_literal(str(path))}, {options}, columns={columns_arg})"
        )
    except duckdb.Error as exc:
        raise InvalidInputError(f"cannot read {shown_as} as CSV: {_first_line(exc)}") from exc
    rejects = _csv_rejects(con)
    con.execute("DROP TABLE IF EXISTS _rej_errors; DROP TABLE IF EXISTS _rej_scans")
    if rejects:
        # Accepted record k sits at line 2 + k plus the rejected records before
        # it; reject j precedes record k exactly when line_j - j <= 2 + k.
        con.execute(
            "CREATE OR REPLACE TEMP TABLE _rej_pos AS SELECT * FROM "
            "(VALUES "
            + ", ".join(f"({r.line - j}, {j + 1})" for j, r in enumerate(rejects))
            + ") AS t(pos, n)"
        )
        line_sql = "2 + r.rowid + coalesce(p.n, 0)"
        source = "_raw r ASOF LEFT JOIN _rej_pos p ON 2 + r.rowid >= p.pos"
    else:
        line_sql = "2 + r.rowid"
        source = "_raw r"
    con.execute(
        f"CREATE OR REPLACE TEMP TABLE {STAGE_TABLE} AS SELECT r.rowid AS _row, "
        f"{line_sql} AS _line, {', '.join('r.' + quote_ident(c) for c in header)} "
        f"FROM {source} ORDER BY r.rowid"
    )
    con.execute("DROP TABLE IF EXISTS _raw; DROP TABLE IF EXISTS _rej_pos")
    if bad_text is not None:
        marked = _take_marked_rows(con, header, bad_text)
        rejects = sorted([*rejects, *marked], key=lambda r: r.line)
    return Staged(tuple(header), _count(con) + len(rejects), tuple(rejects))


def _take_marked_rows(
    con: duckdb.DuckDBPyConnection, header: list[str], reason: str
) -> list[Reject]:
    """Move staged rows that held undecodable bytes into rejects."""
    mark = quote_literal(_BAD_BYTES_MARK)
    where = " OR ".join(f"contains(coalesce({quote_ident(c)}, ''), {mark})" for c in header)
    joined = "concat_ws(',', " + ", ".join(f"coalesce({quote_ident(c)}, '')" for c in header) + ")"
    rows = con.execute(f"SELECT _line, {joined} FROM {STAGE_TABLE} WHERE {where}").fetchall()
    con.execute(f"DELETE FROM {STAGE_TABLE} WHERE {where}")
    return [
        Reject(int(line), reason, str(raw).replace(_BAD_BYTES_MARK, "?")[:_MAX_RAW_CHARS])
        for line, raw in rows
    ]


def _csv_header(path: Path, sep: str, shown_as: Path, bad_text: str) -> list[str]:
    """Column names from the first record, checked for blanks, repeats and bad bytes."""
    with _open_maybe_gzip(path) as raw:
        head = raw.read(1 << 20).decode("utf-8", errors="replace").lstrip("\ufeff")
    try:
        row = next(csv.reader(io.StringIO(head, newline=""), delimiter=sep), None)
    except csv.Error as exc:
        raise InvalidInputError(f"cannot read the header of {shown_as}: {exc}") from exc
    if row is not None and any("\ufffd" in c or _BAD_BYTES_MARK in c for c in row):
        raise InvalidInputError(f"the header of {shown_as}: {bad_text}")
    if row is None:
        raise InvalidInputError(f"{shown_as} has no header line")
    names = [c.strip() for c in row]
    if any(not n for n in names):
        raise InvalidInputError(
            f"{shown_as}: the header has an empty column name (columns: {', '.join(names)})"
        )
    repeated = sorted({n for n in names if names.count(n) > 1})
    if repeated:
        raise InvalidInputError(f"{shown_as}: the header repeats column(s) {', '.join(repeated)}")
    return names


def _csv_rejects(con: duckdb.DuckDBPyConnection) -> list[Reject]:
    rows = con.execute(
        "SELECT line, string_agg(DISTINCT error_type, ',') AS types, "
        "string_agg(DISTINCT error_message, '; ') AS msgs, any_value(csv_line) "
        "FROM _rej_errors GROUP BY line ORDER BY line"
    ).fetchall()
    out = []
    for line, types, msgs, raw in rows:
        reasons = sorted({_CSV_ERRORS.get(t, "") for t in str(types).split(",")} - {""})
        reason = "; ".join(reasons) if reasons else f"malformed CSV record: {msgs}"
        out.append(Reject(int(line), reason, str(raw or "")[:_MAX_RAW_CHARS]))
    return out


def _stage_parquet(con: duckdb.DuckDBPyConnection, path: Path) -> Staged:
    try:
        described = con.execute(
            f"DESCRIBE SELECT * FROM read_parquet({quote_literal(str(path))})"
        ).fetchall()
    except duckdb.Error as exc:
        raise InvalidInputError(f"cannot read {path} as Parquet: {_first_line(exc)}") from exc
    casts = []
    for name, dtype, *_ in described:
        col = quote_ident(name)
        nested = any(k in str(dtype) for k in ("STRUCT", "MAP", "[]"))
        casts.append(
            f"CAST(to_json({col}) AS VARCHAR) AS {col}"
            if nested
            else f"CAST({col} AS VARCHAR) AS {col}"
        )
    con.execute(
        f"CREATE OR REPLACE TEMP TABLE {STAGE_TABLE} AS SELECT file_row_number AS _row, "
        f"file_row_number + 1 AS _line, {', '.join(casts)} FROM read_parquet("
        f"{quote_literal(str(path))}, file_row_number=true) ORDER BY file_row_number"
    )
    return Staged(tuple(d[0] for d in described), _count(con), ())


def _stage_jsonl(con: duckdb.DuckDBPyConnection, path: Path, codec: str = "utf-8") -> Staged:
    if codec in _UTF8_NAMES:
        return _stage_jsonl_utf8(con, path, bad_text=None)
    with tempfile.TemporaryDirectory(prefix="retain-utf8-") as tmp:
        copy = _marked_copy(path, Path(tmp), codec)
        return _stage_jsonl_utf8(con, copy, bad_text=_bad_text_message(path, codec))


def _stage_jsonl_utf8(
    con: duckdb.DuckDBPyConnection, path: Path, *, bad_text: str | None
) -> Staged:
    records: list[tuple[int, dict[str, Any]]] = []
    rejects: list[Reject] = []
    reason = bad_text or _UTF8_MESSAGE
    opener = _open_maybe_gzip(path)
    with opener as handle:
        for number, raw_line in enumerate(handle, start=1):
            if not raw_line.strip():
                continue
            try:
                text = raw_line.decode("utf-8")
            except UnicodeDecodeError:
                rejects.append(
                    Reject(number, reason, raw_line[:_MAX_RAW_CHARS].decode("utf-8", "replace"))
                )
                continue
            if bad_text is not None and _BAD_BYTES_MARK in text:
                shown = text.replace(_BAD_BYTES_MARK, "?")[:_MAX_RAW_CHARS].rstrip("\n")
                rejects.append(Reject(number, reason, shown))
                continue
            try:
                value = json.loads(text)
            except json.JSONDecodeError as exc:
                rejects.append(
                    Reject(
                        number,
                        f"not valid JSON: {exc.msg} at column {exc.colno}",
                        text[:_MAX_RAW_CHARS].rstrip("\n"),
                    )
                )
                continue
            if not isinstance(value, dict):
                rejects.append(
                    Reject(
                        number,
                        f"expected a JSON object per line, got {type(value).__name__}",
                        text[:_MAX_RAW_CHARS].rstrip("\n"),
                    )
                )
                continue
            records.append((number, value))
    table = records_to_arrow(records)
    stage_arrow(con, table)
    columns = tuple(c for c in table.column_names if c not in ("_row", "_line"))
    return Staged(columns, len(records) + len(rejects), tuple(rejects))


def records_to_arrow(records: Sequence[tuple[int, Mapping[str, Any]]]) -> pa.Table:
    """JSON objects, each with its line number, as a stageable table of text columns.

    Columns are the union of the records' named keys in first-seen order; a value
    that is not a string is kept as its JSON text, so validation sees what
    the client sent.
    """
    columns: list[str] = []
    seen: set[str] = {"_row", "_line"}
    for _, rec in records:
        for key in rec:
            # SQL names are case-blind: the first spelling of a name wins. A name
            # that is empty, reserved or holds control characters cannot be a
            # canonical field, so it is left out like any other unknown field.
            folded = key.lower()
            if folded not in seen and key.isprintable() and key.strip():
                seen.add(folded)
                columns.append(key)
    data: dict[str, list[Any]] = {
        "_row": list(range(len(records))),
        "_line": [n for n, _ in records],
    }
    for col in columns:
        data[col] = [_as_text(rec.get(col)) for _, rec in records]
    schema = pa.schema(
        [("_row", pa.int64()), ("_line", pa.int64())] + [(c, pa.string()) for c in columns]
    )
    return pa.table(data, schema=schema)


def stage_arrow(con: duckdb.DuckDBPyConnection, table: pa.Table) -> Staged:
    """Stage an Arrow table that already has ``_row`` and ``_line`` columns."""
    missing = {"_row", "_line"} - set(table.column_names)
    if missing:
        raise InvalidInputError(f"staged table lacks {', '.join(sorted(missing))}")
    con.register("_arrow_in", table)
    try:
        columns = [c for c in table.column_names if c not in ("_row", "_line")]
        casts = ", ".join(f"CAST({quote_ident(c)} AS VARCHAR) AS {quote_ident(c)}" for c in columns)
        con.execute(
            f"CREATE OR REPLACE TEMP TABLE {STAGE_TABLE} AS SELECT CAST(_row AS BIGINT) AS _row, "
            f"CAST(_line AS BIGINT) AS _line{', ' + casts if casts else ''} FROM _arrow_in "
            f"ORDER BY _row"
        )
    finally:
        con.unregister("_arrow_in")
    return Staged(tuple(columns), table.num_rows, ())


def _as_text(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return repr(value)
    return json.dumps(value, ensure_ascii=False)


def _open_maybe_gzip(path: Path) -> Any:
    if path.suffix.lower() == ".gz":
        import gzip

        return gzip.open(path, "rb")
    return path.open("rb")


def _count(con: duckdb.DuckDBPyConnection) -> int:
    row = con.execute(f"SELECT count(*) FROM {STAGE_TABLE}").fetchall()[0]
    return int(row[0])


def _first_line(exc: BaseException) -> str:
    return str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
