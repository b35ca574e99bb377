"""Row validation as one vectorised SQL statement per batch.

Checking rows one by one in Python tops out near 50,000 rows/s; DuckDB
evaluates the same rules column-wise at several hundred thousand. The rules
are generated from the :class:`~retain.data.schemas.TableSchema`, so each rule
exists once, and every rule that fails adds a sentence to the row's
``_reason`` — a person reading the quarantine sees all that is wrong with a
row at once, not only the first problem.

The statement reads raw text columns (``r_<field>``) and yields, per row, the
cleaned typed value of every field plus ``_reason`` (empty when valid).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime
from types import MappingProxyType

import duckdb

from retain.currency import CURRENCY_FAMILIES, MARKERS, markers_for
from retain.data.schemas import Field, TableSchema
from retain.data.user_ids import MAX_ID_CHARS, canonical_user_id_sql
from retain.errors import InvalidInputError

__all__ = [
    "CURRENCY_FAMILIES",
    "CurrencyMix",
    "ValidationRules",
    "build_validation_sql",
    "check_time_formats",
    "mixed_currencies",
    "quote_ident",
    "quote_literal",
    "raw_record_sql",
    "snippet_sql",
    "with_currency_mix",
]

_TRIM_CHARS = " \t\r\n\ufeff"
_SNIPPET_CHARS = 40
#: Longest raw value kept per field in a quarantined record.
_RAW_CHARS = 2000
#: How exports write "no value" (R's NA, pandas' NaN and None, SQL's NULL,
#: Excel's #N/A), compared upper-cased. For ids, numbers, times, flags and
#: language codes they mean a missing value: read as an id, every
#: anonymous row of a views log written by R would be one user called "NA".
#: Free text keeps them: a review may say "None".
MISSING_MARKERS: tuple[str, ...] = ("NA", "N/A", "#N/A", "NULL", "NONE", "NAN", "NIL")
_MARKED_KINDS = frozenset(
    {"id", "number", "integer", "timestamp", "boolean", "language", "currency"}
)


@dataclass(frozen=True)
class ValidationRules:
    """The run-time parameters of validation.

    Attributes:
        now: Ingest time (UTC, naive); later timestamps are in the future.
        future_tolerance_seconds: Clock skew accepted beyond ``now``.
        max_text_chars: Longest text accepted.
        values: Per field, the source's own values mapped onto Retain's
            (``{"event_type": {"1": "view", "4": "purchase"}}``), compared
            lower-cased like the built-in synonyms and tried before them.
        time_formats: strptime formats the source writes its times in
            (``%d/%m/%Y %H:%M``), tried before the built-in ones. Day-first
            and month-first dates look alike, so they are read only when
            named (:func:`check_time_formats`).
        suggest_time_format: An unreadable time's reason suggests
            ``--time-format`` (files read by ``retain ingest``, not records
            sent to the API).
        currencies: Per number field whose values name more than one
            currency family, or ``currency`` field holding more than one
            code, the load's main one (:func:`mixed_currencies`); values in
            another are quarantined, since amounts are summed as one
            currency. Used only when the shop names no currency.
        currency: The shop's currency (ISO 4217), when it names one: an
            amount written in another currency, or a ``currency`` column
            holding another code, is quarantined, whatever the rest of the
            load holds.
    """

    now: datetime
    future_tolerance_seconds: int = 300
    max_text_chars: int = 1_000_000
    values: Mapping[str, Mapping[str, str]] = field(default_factory=lambda: MappingProxyType({}))
    time_formats: tuple[str, ...] = ()
    suggest_time_format: bool = False
    currencies: Mapping[str, CurrencyMix] = field(default_factory=lambda: MappingProxyType({}))
    currency: str | None = None


def quote_ident(name: str) -> str:
    """Quote a column or table name for DuckDB."""
    return '"' + name.replace('"', '""') + '"'


def quote_literal(text: str) -> str:
    """Quote a string literal for DuckDB."""
    return "'" + text.replace("'", "''") + "'"


def snippet_sql(raw: str) -> str:
    """SQL for a short quoted excerpt of a raw value, for error messages."""
    return (
        f"('''' || left({raw}, {_SNIPPET_CHARS}) || "
        f"CASE WHEN length({raw}) > {_SNIPPET_CHARS} THEN '…''' ELSE '''' END)"
    )


def raw_record_sql(schema: TableSchema) -> str:
    """SQL for a validated row's raw fields (``r_<field>``) as one JSON object, each
    value cut at 2,000 characters: what the quarantine keeps of a rejected record."""
    fields = ", ".join(
        f"{quote_literal(f.name)}, left({quote_ident('r_' + f.name)}, {_RAW_CHARS})"
        for f in schema.fields
    )
    return f"json_object({fields})"


def _trimmed(raw: str) -> str:
    # trim() with a character set costs twice a pattern test, and almost no
    # value needs trimming, so trim only where the pattern says so.
    return (
        f"NULLIF(CASE WHEN regexp_matches({raw}, '^[\\s\\x{{feff}}]|[\\s\\x{{feff}}]$') "
        f"THEN trim({raw}, {quote_literal(_TRIM_CHARS)}) ELSE {raw} END, '')"
    )


def _timestamp_sql(t: str, formats: tuple[str, ...] = ()) -> str:
    """Parse ISO 8601 (any offset, stored as UTC), YYYYMMDD, YYYY-MM-DD HH, epoch s or ms.

    ``YYYY-MM-DD HH`` (the hour, no minutes) is how Alibaba's Tianchi logs
    and others that round to the hour write time; ``2026年1月2日 10:05`` how
    Chinese spreadsheets do; ``2026-01-02 10:05:00 +0800`` (a space before
    the offset) how many logs do. ``formats`` (the source's own, see
    :class:`ValidationRules`) are tried first.

    The ISO cast reads nearly every real value, so it goes first; what it
    cannot read takes the first pattern that matches.
    """
    own = f"{_strptime_sql(t, formats)}, " if formats else ""
    chinese = "\\d{4}年\\d{1,2}月\\d{1,2}日(\\s*\\d{1,2}[:：]\\d\\d([:：]\\d\\d)?)?"
    as_iso = (
        f"regexp_replace(replace(replace(replace({t}, '年', '-'), '月', '-'), '日', ' '), "
        "'：', ':', 'g')"
    )
    spaced_offset = "\\d{4}-\\d\\d-\\d\\d[ T][\\d:.]+ [+-]\\d\\d:?\\d\\d"
    # coalesce evaluates every argument on every row, so the CASE runs for all
    # values; its patterns are cheaper than a second ISO cast would be, and the
    # rarer forms are guarded by a substring test.
    return (
        f"coalesce({own}TRY_CAST({t} AS TIMESTAMPTZ) AT TIME ZONE 'UTC', "
        f"CASE WHEN regexp_full_match({t}, '\\d{{8}}') THEN try_strptime({t}, '%Y%m%d') "
        f"WHEN regexp_full_match({t}, '\\d{{4}}-\\d\\d-\\d\\d[ T]\\d\\d') "
        f"THEN try_strptime(replace({t}, 'T', ' '), '%Y-%m-%d %H') "
        f"WHEN regexp_full_match({t}, '\\d{{9,11}}(\\.\\d+)?') "
        f"THEN to_timestamp(TRY_CAST({t} AS DOUBLE)) AT TIME ZONE 'UTC' "
        f"WHEN regexp_full_match({t}, '\\d{{12,14}}') "
        f"THEN epoch_ms(TRY_CAST({t} AS BIGINT)) "
        f"WHEN contains({t}, '年') AND regexp_full_match({t}, '{chinese}') "
        f"THEN TRY_CAST(trim({as_iso}) AS TIMESTAMP) "
        f"WHEN (contains({t}, ' +') OR contains({t}, ' -')) "
        f"AND regexp_full_match({t}, '{spaced_offset}') "
        f"THEN TRY_CAST(regexp_replace({t}, ' ([+-])', '\\1') AS TIMESTAMPTZ) AT TIME ZONE 'UTC' "
        "END)"
    )


def _strptime_sql(t: str, formats: tuple[str, ...]) -> str:
    """``try_strptime`` with the source's formats, as UTC timestamps without zone.

    Formats with an offset (``%z``) parse to a zoned type, the others to a
    plain one, so each group gets its own call.
    """
    zoned = tuple(f for f in formats if _has_offset(f))
    plain = tuple(f for f in formats if not _has_offset(f))
    calls = []
    if plain:
        calls.append(f"try_strptime({t}, {_sql_list(plain)})")
    if zoned:
        calls.append(f"(try_strptime({t}, {_sql_list(zoned)}) AT TIME ZONE 'UTC')")
    return ", ".join(calls)


def _has_offset(time_format: str) -> bool:
    return "%z" in time_format or "%Z" in time_format


def _sql_list(texts: tuple[str, ...]) -> str:
    return "[" + ", ".join(quote_literal(x) for x in texts) + "]"


def check_time_formats(formats: tuple[str, ...]) -> None:
    """Refuse formats DuckDB's strptime cannot use, before anything is read.

    Raises:
        InvalidInputError: a format with an unknown directive.
    """
    if not formats:
        return
    with duckdb.connect() as con:  # in memory; only when a file names its formats
        for f in formats:
            try:
                con.execute(f"SELECT try_strptime('', {quote_literal(f)})").fetchall()
            except duckdb.Error as exc:
                detail = str(exc).strip().splitlines()[0]
                raise InvalidInputError(f"--time-format {f!r}: {detail}") from None


def _shown_time_sql(value: str) -> str:
    """SQL showing a cleaned (UTC) timestamp to a person in a reason, to the second."""
    return f"strftime({value}, '%Y-%m-%d %H:%M:%S')"


def _detect_language_sql(text: str) -> str:
    """'zh' when Han characters carry the text, 'en' for Latin script.

    One Han character carries about as much as a four-letter English word, so
    the text counts as Chinese when Han characters are at least a quarter as
    many as Latin letters.
    """
    han = f"length(regexp_replace(coalesce({text}, ''), '[^\\x{{4e00}}-\\x{{9fff}}]', '', 'g'))"
    latin = f"length(regexp_replace(coalesce({text}, ''), '[^A-Za-z]', '', 'g'))"
    return (
        f"CASE WHEN {text} IS NULL THEN NULL WHEN {han} > 0 AND {han} * 4 >= {latin} THEN 'zh' "
        f"WHEN {latin} > 0 THEN 'en' ELSE 'und' END"
    )


def _clean_sql(f: Field, raw: str, formats: tuple[str, ...] = ()) -> str:
    """SQL that turns the trimmed raw text of ``f`` into its stored value."""
    t = raw
    if f.kind in ("id", "text"):
        if f.choices is None:
            return canonical_user_id_sql(t) if f.customer else t
        lowered = f"lower({t})"
        if not f.synonyms:
            return lowered
        canonical = ", ".join(quote_literal(c) for c in f.choices)
        cases = " ".join(
            f"WHEN {quote_literal(k)} THEN {quote_literal(v)}" for k, v in f.synonyms.items()
        )
        return (
            f"CASE WHEN {lowered} IN ({canonical}) THEN {lowered} "
            f"ELSE CASE {lowered} {cases} ELSE {lowered} END END"
        )
    if f.kind == "language":
        return f"lower({t})"
    if f.kind == "currency":
        return f"upper({t})"
    if f.kind == "timestamp":
        return _timestamp_sql(raw, formats)
    if f.kind == "number":
        return _number_sql(t, integer=False)
    if f.kind == "integer":
        number = _number_sql(t, integer=True)
        return (
            f"CASE WHEN {number} = round({number}) AND abs({number}) < 9e15 "
            f"THEN CAST({number} AS BIGINT) END"
        )
    if f.kind == "boolean":
        return (
            f"CASE WHEN lower({t}) IN ('true', 't', '1', 'yes', 'y') THEN TRUE "
            f"WHEN lower({t}) IN ('false', 'f', '0', 'no', 'n') THEN FALSE END"
        )
    if f.kind == "json":
        return f"CASE WHEN json_valid({t}) THEN {t} END"
    raise AssertionError(f"unhandled field kind {f.kind}")


#: Any sign or code written beside an amount (:data:`retain.currency.MARKERS`),
#: as a regular expression.
_CURRENCY = "|".join(re.escape(s) for s in MARKERS)


@dataclass(frozen=True)
class CurrencyMix:
    """A number field of one load whose values name several currency families.

    Attributes:
        main: The family most values name (ties go to the first in sort order).
        main_values: How many values name it.
        marked_values: How many values name any currency.
    """

    main: str
    main_values: int
    marked_values: int


def _marker_sql(t: str) -> str:
    """SQL: the sign or code before or after the number text ``t`` (``'¥'``, ``'USD'``)."""
    before = f"regexp_extract({t}, '^\\s*\\(?[-+]?\\s*({_CURRENCY})', 1)"
    after = f"regexp_extract({t}, '({_CURRENCY})\\)?\\s*$', 1)"
    return f"coalesce(nullif({before}, ''), nullif({after}, ''))"


def _family_sql(t: str) -> str:
    """SQL: the currency family of the sign or code before or after the text ``t``, else NULL."""
    marker = _marker_sql(t)
    families = " ".join(
        f"WHEN {marker} IN ({', '.join(quote_literal(s) for s in signs)}) "
        f"THEN {quote_literal(family)}"
        for family, signs in CURRENCY_FAMILIES.items()
    )
    return f"CASE {families} END"


def _currency_sql(t: str) -> str:
    """SQL: the currency family written beside the number text ``t`` (``'¥'``), else NULL.

    A plain number names none and skips the patterns, which keeps the usual
    file's cost to one cast.
    """
    return f"CASE WHEN TRY_CAST({t} AS DOUBLE) IS NULL THEN {_family_sql(t)} END"


def mixed_currencies(
    con: duckdb.DuckDBPyConnection, relation: str, schema: TableSchema, present: set[str]
) -> dict[str, CurrencyMix]:
    """The fields of ``relation`` that name more than one currency: number fields
    whose values carry signs or codes of several families, and ``currency``
    columns holding several codes.

    ``relation`` holds the ``present`` fields of ``schema`` as text, before
    validation; the result goes into :attr:`ValidationRules.currencies`.

    A spreadsheet that mixes ¥128 and $12.50 in one column would otherwise be
    summed as if both were one currency: the revenue, spend and lifetime
    value built on it would be silently wrong.
    """
    found: dict[str, CurrencyMix] = {}
    for f in schema.fields:
        if f.name not in present or f.kind not in ("number", "currency"):
            continue
        column = quote_ident(f.name)
        if f.kind == "currency":
            code = f"upper(trim({column}))"
            markers = ", ".join(quote_literal(m) for m in MISSING_MARKERS)
            sql = (
                f"SELECT {code}, count(*) AS n FROM {relation} "
                f"WHERE regexp_full_match(trim({column}), '[A-Za-z]{{3}}') "
                f"AND {code} NOT IN ({markers}) GROUP BY 1 ORDER BY n DESC, 1"
            )
        else:
            # The patterns read only what is not a plain number. MATERIALIZED keeps
            # the optimiser from merging the filters, which ran them on every row.
            sql = (
                f"WITH odd AS MATERIALIZED (SELECT {column} FROM {relation} "
                f"WHERE TRY_CAST({column} AS DOUBLE) IS NULL AND {column} IS NOT NULL) "
                f"SELECT family, count(*) AS n FROM (SELECT {_family_sql(column)} AS family "
                "FROM odd) WHERE family IS NOT NULL GROUP BY 1 ORDER BY n DESC, family"
            )
        counts = con.execute(sql).fetchall()
        if len(counts) > 1:
            found[f.name] = CurrencyMix(
                str(counts[0][0]), int(counts[0][1]), sum(int(n) for _, n in counts)
            )
    return found


def with_currency_mix(
    con: duckdb.DuckDBPyConnection,
    relation: str,
    schema: TableSchema,
    present: set[str],
    rules: ValidationRules,
) -> ValidationRules:
    """``rules`` with :attr:`~ValidationRules.currencies` found in ``relation``.

    A shop that names its currency checks every value against it, so its
    loads skip the scan for a mix within the file.
    """
    if rules.currency is not None:
        return rules
    return replace(rules, currencies=mixed_currencies(con, relation, schema, present))


#: Digits grouped by a comma into thousands: 1,234 (a decimal comma would read 1.234).
_COMMA_GROUPS = "[-+]?\\d{1,3}(,\\d{3})+"


def _number_sql(t: str, *, integer: bool) -> str:
    """A number as spreadsheets and shop exports write it, as DOUBLE (NULL if unreadable).

    Plain numbers take the first cast. Only what it cannot read is tried as
    display text: a currency sign or code before or after (a file holds one
    currency; the sign is not kept), accounting brackets for a minus, and
    thousands and decimal separators where they cannot be mistaken:
    ``1,234.56``, ``1.234,56``, ``1 234,56`` and ``12,50``. ``1,234`` alone
    could be either convention, so it is read only where a whole number is
    expected (a quantity); elsewhere its reason says why.
    """
    bare = _bare_number_sql(t)
    grouped_whole = (
        f"WHEN regexp_full_match({bare}, '{_COMMA_GROUPS}') THEN replace({bare}, ',', '') "
        if integer
        else ""
    )
    spaces = "[ \u00a0\u202f]"
    shown = (
        f"CASE WHEN regexp_full_match({bare}, '{_COMMA_GROUPS}\\.\\d+') "
        f"THEN replace({bare}, ',', '') {grouped_whole}"
        f"WHEN regexp_full_match({bare}, '[-+]?\\d{{1,3}}(\\.\\d{{3}})+,\\d+') "
        f"THEN replace(replace({bare}, '.', ''), ',', '.') "
        f"WHEN regexp_full_match({bare}, '[-+]?\\d{{1,3}}({spaces}\\d{{3}})+(,\\d+)?') "
        f"THEN replace(regexp_replace({bare}, '{spaces}', '', 'g'), ',', '.') "
        f"WHEN regexp_full_match({bare}, '[-+]?\\d+,\\d{{1,2}}') THEN replace({bare}, ',', '.') "
        f"ELSE {bare} END"
    )
    # CASE, not coalesce: DuckDB evaluates every argument of coalesce on every
    # row, and the display-text branch costs ten times the cast.
    plain = f"TRY_CAST({t} AS DOUBLE)"
    return f"CASE WHEN {plain} IS NOT NULL THEN {plain} ELSE TRY_CAST({shown} AS DOUBLE) END"


def _bare_number_sql(t: str) -> str:
    """SQL: the number text ``t`` without its currency sign or code, accounting
    brackets read as a minus (``(¥1,234)`` is ``-1,234``)."""
    bracketed = f"regexp_replace({t}, '^\\((.*)\\)$', '-\\1')"
    signed = f"regexp_replace({bracketed}, '^([-+]?)\\s*(?:{_CURRENCY})\\s*', '\\1')"
    return f"regexp_replace({signed}, '\\s*(?:{_CURRENCY})$', '')"


def _ambiguous_grouping_sql(t: str) -> str:
    """SQL: ``t`` is digits in comma groups of three and nothing else (1,234: 1234 or 1.234?)."""
    return f"regexp_full_match({_bare_number_sql(t)}, '{_COMMA_GROUPS}')"


Rule = tuple[str, str]
"""A broken-rule test (SQL boolean) and its sentence (SQL string)."""


def _unmarked(raw: str) -> str:
    """SQL: the trimmed raw text, or NULL when it is one of :data:`MISSING_MARKERS`."""
    markers = ", ".join(quote_literal(m) for m in MISSING_MARKERS)
    return f"CASE WHEN strlen({raw}) <= 4 AND upper({raw}) IN ({markers}) THEN NULL ELSE {raw} END"


def _rules_for(
    f: Field, t: str, clean: str, rules: ValidationRules, raw: str | None = None
) -> list[Rule]:
    """The rules of one field.

    ``t`` is its trimmed text with missing-value markers read as NULL,
    ``clean`` its value, and ``raw`` the trimmed text as the source wrote it
    (default ``t``), named when a marker stands for a required value.
    """
    name = f.name
    present = f"{t} IS NOT NULL"
    snippet = snippet_sql(t)
    out: list[Rule] = []
    if f.required:
        missing = quote_literal(f"missing required field '{name}'")
        if raw is not None and raw != t:
            missing = (
                f"{missing} || CASE WHEN {raw} IS NOT NULL THEN ' (' || {snippet_sql(raw)} || "
                "' marks a missing value)' ELSE '' END"
            )
        out.append((f"{t} IS NULL", missing))
    if f.kind == "id":
        message = f"{name}: id longer than {MAX_ID_CHARS} characters"
        out.append((f"length({t}) > {MAX_ID_CHARS}", quote_literal(message)))
    if f.kind in ("text", "json"):
        limit = rules.max_text_chars
        out.append(
            (
                f"length({t}) > {limit}",
                f"'{name}: text of ' || length({t}) || ' characters exceeds the limit of {limit}'",
            )
        )
    if f.choices is not None:
        in_list = ", ".join(quote_literal(c) for c in f.choices)
        allowed = quote_literal(f" is not one of: {', '.join(f.choices)}")
        out.append(
            (f"{present} AND {clean} NOT IN ({in_list})", f"'{name}: ' || {snippet} || {allowed}")
        )
    if f.kind == "language":
        out.append(
            (
                f"{present} AND NOT regexp_full_match({clean}, '[a-z]{{2,3}}(-[a-z0-9]+)*')",
                f"'{name}: ' || {snippet} || ' is not a language code such as en or zh'",
            )
        )
    if f.kind == "timestamp":
        limit_ts = rules.now.timestamp() + rules.future_tolerance_seconds
        if rules.time_formats:
            named = " or ".join(rules.time_formats).replace("'", "''")
            expected = f"(expected {named}, ISO 8601, YYYYMMDD or epoch seconds)"
        elif rules.suggest_time_format:
            expected = (
                "(use ISO 8601 such as 2024-05-01T13:45:00Z, YYYYMMDD or epoch seconds, "
                "or name the format with --time-format, e.g. %d/%m/%Y %H:%M)"
            )
        else:
            expected = "(use ISO 8601 such as 2024-05-01T13:45:00Z, YYYYMMDD or epoch seconds)"
        out.append(
            (
                f"{present} AND {clean} IS NULL",
                f"'{name}: cannot read ' || {snippet} || ' as a timestamp {expected}'",
            )
        )
        out.append(
            (
                f"{clean} > (to_timestamp({limit_ts!r}) AT TIME ZONE 'UTC')",
                f"'{name}: ' || {_shown_time_sql(clean)} || ' UTC is in the future'",
            )
        )
    if f.kind in ("number", "integer"):
        out.extend(_number_rules(f, t, clean, snippet))
    if f.kind == "currency":
        out.append(
            (
                f"{present} AND NOT regexp_full_match({clean}, '[A-Z]{{3}}')",
                f"'{name}: ' || {snippet} || ' is not a currency code such as CNY or USD'",
            )
        )
    if rules.currency is not None and f.kind in ("number", "currency"):
        out.append(_shop_currency_rule(f, t, clean, snippet, rules.currency))
    elif f.name in rules.currencies:
        out.append(_currency_rule(f, t, clean, snippet, rules.currencies[f.name]))
    if f.kind in ("boolean", "json"):
        what = "true/false" if f.kind == "boolean" else "valid JSON"
        out.append(
            (f"{present} AND {clean} IS NULL", f"'{name}: ' || {snippet} || ' is not {what}'")
        )
    if f.json_shape is not None:
        out.append(
            (
                f"{clean} IS NOT NULL AND json_type({clean}) <> '{f.json_shape.upper()}'",
                quote_literal(f"{name}: must be a JSON {f.json_shape}"),
            )
        )
    return out


def _number_rules(f: Field, t: str, clean: str, snippet: str) -> list[Rule]:
    name = f.name
    # A number field's cleaned column is this value already: read it, not the text again.
    as_double = clean if f.kind == "number" else _number_sql(t, integer=True)
    what = "an integer" if f.kind == "integer" else "a number"
    ambiguous = quote_literal(
        " is not a number: a comma before three digits separates thousands in some "
        "countries and decimals in others (write it without the thousands separator)"
    )
    # CASE keeps the pattern to the unreadable values: a rule is evaluated on
    # every row, and AND does not stop early outside a filter.
    unreadable = f"{t} IS NOT NULL AND {as_double} IS NULL"
    grouped = _ambiguous_grouping_sql(t)
    out: list[Rule] = [
        (
            f"CASE WHEN {unreadable} THEN {grouped} ELSE FALSE END",
            f"'{name}: ' || {snippet} || {ambiguous}",
        ),
        (
            f"CASE WHEN {unreadable} THEN NOT {grouped} ELSE FALSE END",
            f"'{name}: ' || {snippet} || ' is not {what}'",
        ),
        (f"NOT isfinite({as_double})", quote_literal(f"{name}: must be a finite number")),
    ]
    if f.kind == "integer":
        out.append(
            (
                f"isfinite({as_double}) AND {clean} IS NULL",
                f"'{name}: ' || {snippet} || ' is not a whole number'",
            )
        )
    if f.non_negative:
        out.append((f"{as_double} < 0", f"'{name}: must not be negative, got ' || {snippet}"))
    if f.bounds is not None:
        lo, hi = f.bounds
        out.append(
            (
                f"{as_double} < {lo} OR {as_double} > {hi}",
                f"'{name}: ' || {snippet} || ' is outside {lo:g}..{hi:g}'",
            )
        )
    return out


def _named_currency_sql(f: Field, t: str, clean: str) -> str:
    """SQL: the currency a value of ``f`` names (a sign, a code, or the code of a
    ``currency`` column), else NULL."""
    if f.kind == "currency":
        return f"CASE WHEN regexp_full_match({clean}, '[A-Z]{{3}}') THEN {clean} END"
    return f"CASE WHEN TRY_CAST({t} AS DOUBLE) IS NULL THEN {_marker_sql(t)} END"


def _currency_rule(f: Field, t: str, clean: str, snippet: str, mix: CurrencyMix) -> Rule:
    """A value in another currency than most of its load's values of ``f``."""
    # No "; " in a reason: it joins a record's reasons, and the API splits on it.
    tail = "and amounts are summed as one currency: convert these or load them on their own"
    if f.kind == "currency":
        named = _named_currency_sql(f, t, clean)
        message = quote_literal(
            f" is not {mix.main}, the currency of {mix.main_values:,} of the "
            f"{mix.marked_values:,} {f.name} values loaded with it, {tail}"
        )
    else:  # families, not signs: ¥ beside 元 is one currency
        named = _currency_sql(t)
        message = f"' is in ' || {named} || " + quote_literal(
            f", while {mix.main_values:,} of the {mix.marked_values:,} {f.name} values "
            f"with a currency loaded with it are in {mix.main}, {tail}"
        )
    return (f"{named} <> {quote_literal(mix.main)}", f"'{f.name}: ' || {snippet} || {message}")


def _shop_currency_rule(f: Field, t: str, clean: str, snippet: str, currency: str) -> Rule:
    """A value in another currency than the shop's (the ``currency`` setting)."""
    named = _named_currency_sql(f, t, clean)
    shop = f"this shop's currency, {currency} (the currency setting), and amounts are summed "
    tail = f"{shop}as one currency: convert it to {currency} before loading"
    if f.kind == "currency":
        allowed: tuple[str, ...] = (currency,)
        message = quote_literal(f" is not {tail}")
    else:
        allowed = markers_for(currency)
        message = f"' is in ' || {named} || " + quote_literal(f", not {tail}")
    listed = ", ".join(quote_literal(m) for m in allowed)
    other = f"{named} NOT IN ({listed})" if allowed else f"{named} IS NOT NULL"
    return (other, f"'{f.name}: ' || {snippet} || {message}")


def build_validation_sql(
    schema: TableSchema, present: set[str], rules: ValidationRules, source_sql: str
) -> str:
    """A SELECT yielding ``_row``, ``_line``, raw and cleaned fields, and ``_reason``.

    Args:
        schema: The table being ingested.
        present: Fields the source has a column for; the others are NULL or
            take their default (``language`` is detected from text).
        rules: Run-time parameters.
        source_sql: A relation with ``_row``, ``_line`` and one VARCHAR column
            per present field, named after the field.

    Returns:
        SQL text; rows are valid exactly when ``_reason = ''``. The sentences
        are built only for invalid rows, which keeps valid data fast.
    """
    # Trimmed once here; every rule below reads the trimmed text.
    raw_cols = [
        f"{_trimmed(quote_ident(f.name))} AS {quote_ident('r_' + f.name)}"
        if f.name in present
        else f"CAST(NULL AS VARCHAR) AS {quote_ident('r_' + f.name)}"
        for f in schema.fields
    ]
    # Fields whose markers mean "missing" also get a v_ column: the text they are read from.
    marked = [f.name for f in schema.fields if f.kind in _MARKED_KINDS and f.name in present]
    value_cols = [f"{_unmarked(quote_ident('r_' + n))} AS {quote_ident('v_' + n)}" for n in marked]
    clean_cols: list[str] = []
    checks: list[Rule] = []
    for f in schema.fields:
        source = quote_ident("r_" + f.name)
        raw = quote_ident("v_" + f.name) if f.name in marked else source
        if f.name in rules.values:
            own = {k.lower(): v for k, v in rules.values[f.name].items()}
            f = replace(f, synonyms={**f.synonyms, **own})  # the shop's own spelling wins
        clean = _clean_sql(f, raw, rules.time_formats)
        if f.kind == "language" and f.name not in present and schema.text_field:
            text = _clean_sql(
                schema.field(schema.text_field), quote_ident("r_" + schema.text_field)
            )
            clean = _detect_language_sql(text)
        elif f.default_sql is not None:
            clean = f"coalesce({clean}, {f.default_sql})"
        elif f.kind == "currency" and rules.currency is not None:
            # Loaded under the shop's currency, a record says so: the stored
            # amounts stay readable whatever the setting later becomes.
            clean = f"coalesce({clean}, {quote_literal(rules.currency)})"
        clean_cols.append(f"{clean} AS {quote_ident(f.name)}")
        checks.extend(_rules_for(f, raw, quote_ident(f.name), rules, source))
    if schema.item_optional_for:
        optional = ", ".join(quote_literal(e) for e in schema.item_optional_for)
        checks.append(
            (
                f"item_id IS NULL AND coalesce(event_type, '') NOT IN ({optional})",
                "'missing item_id (required for ' || coalesce(event_type, 'these') || ' events)'",
            )
        )
    for f in schema.fields:
        if f.not_before is not None:
            later, earlier = quote_ident(f.name), quote_ident(f.not_before)
            checks.append(
                (
                    f"{later} < {earlier}",
                    f"'{f.name}: ' || {_shown_time_sql(later)} || "
                    f"' UTC is before {f.not_before} ' || {_shown_time_sql(earlier)}",
                )
            )
        if f.not_above is not None:
            part, whole = quote_ident(f.name), quote_ident(f.not_above)
            checks.append(
                (
                    f"{part} > {whole}",
                    f"'{f.name}: ' || {part} || ' is more than {f.not_above} ' || {whole}",
                )
            )
    broken = " OR ".join(f"coalesce({cond}, FALSE)" for cond, _ in checks)
    sentences = ", ".join(f"CASE WHEN coalesce({c}, FALSE) THEN {m} END" for c, m in checks)
    raw_names = ", ".join(quote_ident("r_" + f.name) for f in schema.fields)
    value_names = "".join(", " + quote_ident("v_" + n) for n in marked)
    fields = ", ".join(quote_ident(n) for n in schema.field_names)
    return (
        f"SELECT _row, _line, {raw_names}, {fields}, "
        f"CASE WHEN {broken} THEN concat_ws('; ', {sentences}) ELSE '' END AS _reason FROM ("
        f"SELECT _row, _line, {raw_names}{value_names}, {', '.join(clean_cols)} FROM ("
        f"SELECT _row, _line, {raw_names}{''.join(', ' + c for c in value_cols)} "
        f"FROM (SELECT _row, _line, {', '.join(raw_cols)} FROM {source_sql})))"
    )
