"""Shaping a staged source onto a table's schema: which column feeds which field,
values filled from a record's group or given for the whole file, a key derived
from content where the source has none, and the columns kept as attributes.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace

import duckdb

from retain.data.ingest.report import normalise_name
from retain.data.schemas import TableSchema
from retain.data.sources import STAGE_TABLE, Staged
from retain.data.validation import quote_ident, quote_literal
from retain.errors import InvalidInputError

#: The work table holding the batch being validated and written.
BATCH_TABLE = "_batch"
#: The work table holding the source projected onto the schema's fields.
PROJECTED = "_projected"
#: A record's occurrence number among identical records, for derived keys.
OCCURRENCE = "_occurrence"
#: The field that keeps a source's columns the schema has no field for.
ATTRIBUTES = "attributes"


def fill_groups(
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
    renames, _ = resolve_columns(schema, staged.columns, mapping, source)
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


def group_as_product(
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


def with_constants(
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


def resolve_columns(
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


def needs_derived_key(schema: TableSchema, present: set[str], source: str) -> bool:
    missing_key = [k for k in schema.key if k not in present]
    if not missing_key:
        return False
    if not schema.derivable_key:
        raise InvalidInputError(
            f"{source} has no column for the {schema.name} key {', '.join(missing_key)}"
        )
    return True


def attribute_columns(schema: TableSchema, present: set[str], unused: list[str]) -> list[str]:
    """The unused source columns that go into ``attributes``: all of them, for a table
    with that JSON field when the source has no column for it (a profile export's
    ``age``, ``income``, ``country``; a catalogue's ``department``), so a team can
    split retention by them without first packing them into JSON."""
    if ATTRIBUTES not in schema.field_names or ATTRIBUTES in present:
        return []
    return list(unused)


def project_stage(
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
            f"END AS {ATTRIBUTES}"
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
        con.execute(f"CREATE OR REPLACE TEMP TABLE {PROJECTED} AS {select} ORDER BY _row")
    else:
        con.execute(f"CREATE OR REPLACE TEMP VIEW {PROJECTED} AS {select}")


def spoken_fields(schema: TableSchema, present: set[str]) -> set[str]:
    """The fields a source speaks for: its own, the key, and a language detected
    afresh from its text. A file changes only these in a stored record."""
    spoken = set(present) | set(schema.key)
    if schema.text_field in present:
        spoken |= {f.name for f in schema.fields if f.kind == "language"}
    return spoken
