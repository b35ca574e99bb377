"""Writing an append table's batch: new keys are added, a stored key with the
same values is a duplicate, a later status along the allowed moves updates
the record, an edit of the fields its author may rewrite (a review's text and
rating) replaces them and keeps the old version, and any other difference is a
conflict, quarantined with each differing field's stored and new value.
"""

from __future__ import annotations

from datetime import datetime

import duckdb

from retain.data.ingest.columns import BATCH_TABLE, OCCURRENCE, spoken_fields
from retain.data.schemas import TableSchema
from retain.data.store import column_names
from retain.data.validation import quote_ident, quote_literal, snippet_sql

CONFLICTS = "_conflicts"
_EDITS = "_edits"
#: Said after a conflict, where one mistake explains most of them.
_CONFLICT_HINTS = {
    "orders": " (an order id names one order: load a file with one row per order line "
    "with --lines, which sums its lines per order)",
}


def write_append(
    con: duckdb.DuckDBPyConnection, schema: TableSchema, present: set[str], now: datetime
) -> tuple[int, int]:
    """Insert the batch's new facts; returns (written, of them updated).

    Valid records are taken in rounds by their occurrence of the key within
    the batch (nearly always one round), so two records of one key apply in
    file order. A record whose key is already stored is compared with the
    stored record: identical, or an earlier lifecycle value, is a duplicate;
    a later lifecycle value updates it, and so does an edit of its revision
    fields (:class:`~retain.data.schemas.Revision`); any other difference
    turns the record into a quarantined conflict. When every record of the
    first round was new, nothing needs comparing (the usual first load).
    """
    names = ", ".join(quote_ident(n) for n in schema.field_names)
    keys = ", ".join(quote_ident(k) for k in schema.key)
    target = quote_ident(schema.name)
    con.execute(
        f"CREATE OR REPLACE TEMP TABLE {OCCURRENCE} AS SELECT _row, "
        f"row_number() OVER (PARTITION BY {keys} ORDER BY _row) AS _occ "
        f"FROM {BATCH_TABLE} WHERE _reason = ''"
    )
    rounds, firsts = con.execute(
        f"SELECT coalesce(max(_occ), 0), count(*) FILTER (WHERE _occ = 1) FROM {OCCURRENCE}"
    ).fetchall()[0]
    written = updated = 0
    for occurrence in range(1, int(rounds) + 1):
        this_round = (
            f"SELECT b.* FROM {BATCH_TABLE} b JOIN {OCCURRENCE} o USING (_row) "
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
    apply the lifecycle moves and edits of the rest, dated ``now`` where the source
    gives no date; returns how many stored records moved or were edited."""
    target = quote_ident(schema.name)
    join = " AND ".join(f"t.{quote_ident(k)} = b.{quote_ident(k)}" for k in schema.key)
    lifecycle, revision = schema.lifecycle, schema.revision
    moving: tuple[str, ...] = (lifecycle.field, lifecycle.since) if lifecycle is not None else ()
    revised: list[str] = []
    if revision is not None:
        spoken = spoken_fields(schema, present)
        revised = [n for n in revision.fields if n in spoken]
        moving = (*moving, revision.since, *revision.fields)
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
        return _apply_edits(con, schema, present, revised, records, now)
    key_shown = " || ', ' || ".join(
        f"{quote_literal(k + ' ')} || {_shown('b.' + quote_ident(k))}" for k in schema.key
    )
    # The hint explains differing fixed fields, not a status that cannot move.
    hint = quote_literal(_CONFLICT_HINTS.get(schema.name, ""))
    hinted = " OR ".join(f"({d}) IS NOT NULL" for d in differences[: len(fixed)]) or "FALSE"
    con.execute(
        f"CREATE OR REPLACE TEMP TABLE {CONFLICTS} AS SELECT b._row, "
        f"{key_shown} || ' is already stored with other values: ' || "
        f"concat_ws(' and ', {', '.join(differences)}) || "
        f"CASE WHEN {hinted} THEN {hint} ELSE '' END AS why "
        f"FROM ({records}) b JOIN {target} t ON {join} "
        f"WHERE {' OR '.join(f'({d}) IS NOT NULL' for d in differences)}"
    )
    con.execute(
        f"UPDATE {BATCH_TABLE} SET _reason = c.why FROM {CONFLICTS} c "
        f"WHERE {BATCH_TABLE}._row = c._row"
    )
    # The conflicts left ``records`` (they read the batch's reasons afresh): the rest may be edits.
    edited = _apply_edits(con, schema, present, revised, records, now)
    if forward is None or lifecycle is None:
        return edited
    column, since = quote_ident(lifecycle.field), quote_ident(lifecycle.since)
    rows = f"SELECT * FROM ({records}) WHERE _row NOT IN (SELECT _row FROM {CONFLICTS})"
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
    return int(moved) + edited


def _apply_edits(
    con: duckdb.DuckDBPyConnection,
    schema: TableSchema,
    present: set[str],
    revised: list[str],
    records: str,
    now: datetime,
) -> int:
    """Apply the edits among ``records``: keep each stored version in the history,
    then write the new ``revised`` values, dated by the source or ``now``;
    returns how many.

    Only what the source wrote decides that a record is an edit: a language
    detected afresh from unchanged words is no edit, though an edit takes it.
    An empty value says nothing: a re-export that leaves a refund or a rating
    empty (another template, a column it fills on some rows) keeps the stored
    value, where it would otherwise have put the shop's revenue back up by
    a refund nobody undid.
    An edit that is no newer than what is stored is a duplicate: its own date
    is not after the stored version's, or (undated) its values are those of a
    version already replaced, as when an older export is loaded again.
    """
    revision = schema.revision
    written = [n for n in revised if n in present]
    if revision is None or not written:
        return 0
    target, history = quote_ident(schema.name), quote_ident(revision.history)
    join = " AND ".join(f"t.{quote_ident(k)} = b.{quote_ident(k)}" for k in schema.key)
    since = quote_ident(revision.since)
    when = schema.time_field
    stored_since = f"coalesce(t.{since}, t.{quote_ident(when)})" if when else f"t.{since}"
    changed = " OR ".join(
        f"(b.{quote_ident(n)} IS NOT NULL AND t.{quote_ident(n)} IS DISTINCT FROM "
        f"b.{quote_ident(n)})"
        for n in written
    )
    earlier = " AND ".join(
        [f"h.{quote_ident(k)} = b.{quote_ident(k)}" for k in schema.key]
        + [
            f"(b.{quote_ident(n)} IS NULL OR h.{quote_ident(n)} = b.{quote_ident(n)})"
            for n in written
        ]
    )
    stale = (
        f"CASE WHEN b.{since} IS NOT NULL THEN b.{since} <= {stored_since} "
        f"ELSE EXISTS (SELECT 1 FROM {history} h WHERE {earlier}) END"
    )
    con.execute(
        f"CREATE OR REPLACE TEMP TABLE {_EDITS} AS SELECT b.* FROM ({records}) b "
        f"JOIN {target} t ON {join} WHERE ({changed}) AND NOT coalesce({stale}, FALSE)"
    )
    edits = int(con.execute(f"SELECT count(*) FROM {_EDITS}").fetchall()[0][0])
    if edits == 0:
        return 0
    kept = [f.name for f in schema.history_fields()]
    at_key = " AND ".join(f"h.{quote_ident(k)} = t.{quote_ident(k)}" for k in schema.key)
    columns = [*kept, "valid_from", "valid_to", "version"]
    values = [f"t.{quote_ident(n)}" for n in kept]
    values += [
        stored_since,
        f"coalesce(b.{since}, ?)",
        f"1 + (SELECT count(*) FROM {history} h WHERE {at_key})",
    ]
    verdicts = revision.verdicts
    read = set(column_names(con, verdicts)) if verdicts is not None else set()
    if verdicts is not None and "label" in read:
        # The model's reading of the version being replaced, if it was made of that version.
        of_key = " AND ".join(f"s.{quote_ident(k)} = t.{quote_ident(k)}" for k in schema.key)
        fresh = (
            f" AND s.scored_at >= coalesce({stored_since}, s.scored_at)"
            if "scored_at" in read
            else ""
        )
        columns.append("verdict")
        values.append(f"(SELECT max(s.label) FROM {quote_ident(verdicts)} s WHERE {of_key}{fresh})")
    con.execute(
        f"INSERT INTO {history} ({', '.join(quote_ident(c) for c in columns)}) "
        f"SELECT {', '.join(values)} FROM {_EDITS} b JOIN {target} t ON {join}",
        [now],
    )
    updates = [
        f"{quote_ident(n)} = coalesce(b.{quote_ident(n)}, t.{quote_ident(n)})" for n in revised
    ]
    con.execute(
        f"UPDATE {target} t SET {', '.join(updates)}, {since} = coalesce(b.{since}, ?) "
        f"FROM {_EDITS} b WHERE {join}",
        [now],
    )
    return edits


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
