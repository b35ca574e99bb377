"""Getting a shop's data in and looking at it: ``ingest``, ``demo-data``,
``status``, ``quarantine`` and ``bench ingest``.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

from retain.cli.base import CommandError, app, bench_app, err, open_store, out, write_json
from retain.cli.printing import print_report, print_summary
from retain.config import get_settings
from retain.data.ingest import ingest_file
from retain.data.loaders import FORMATS as PUBLIC_FORMATS
from retain.data.schemas import INPUT_TABLES
from retain.data.sources import FORMATS as FILE_FORMATS

_PROGRESS_MIN_BYTES = 5_000_000


def _parse_map(
    pairs: list[str], option: str = "--map", shape: str = "SOURCE_COLUMN=FIELD"
) -> dict[str, str]:
    """``LEFT=RIGHT`` options (``--map``, ``--set``) as ``{left: right}``."""
    mapping: dict[str, str] = {}
    for pair in pairs:
        src, sep, dst = pair.partition("=")
        if not sep or not src or not dst:
            raise CommandError(f"{option} expects {shape}, got {pair!r}")
        mapping[src] = dst
    return mapping


def _parse_values(pairs: list[str]) -> dict[str, dict[str, str]]:
    """``FIELD:SOURCE=VALUE`` options as ``{field: {source value: value}}``."""
    values: dict[str, dict[str, str]] = {}
    for pair in pairs:
        field, colon, rest = pair.partition(":")
        source_value, sep, value = rest.partition("=")
        if not colon or not sep or not field or not source_value or not value:
            raise CommandError(
                f"--value expects FIELD:SOURCE_VALUE=VALUE (e.g. event_type:1=view), got {pair!r}"
            )
        values.setdefault(field.strip(), {})[source_value.strip()] = value.strip()
    return values


@app.command()
def ingest(
    table: Annotated[str, typer.Argument(help=f"One of: {', '.join(INPUT_TABLES)}.")],
    file: Annotated[Path, typer.Argument(help="The file to load.")],
    format: Annotated[
        str | None,
        typer.Option(
            "--format",
            "-f",
            help=f"{', '.join((*FILE_FORMATS, *PUBLIC_FORMATS))}; default from the file name.",
        ),
    ] = None,
    map_: Annotated[
        list[str] | None,
        typer.Option("--map", "-m", help="SOURCE_COLUMN=FIELD, repeatable."),
    ] = None,
    value: Annotated[
        list[str] | None,
        typer.Option(
            "--value",
            help="FIELD:SOURCE_VALUE=VALUE, repeatable: the source's own spelling of a "
            "vocabulary, e.g. event_type:1=view or status:sent=completed.",
        ),
    ] = None,
    set_: Annotated[
        list[str] | None,
        typer.Option(
            "--set",
            help="FIELD=VALUE, repeatable: a field the file has no column for because every "
            "record shares it, e.g. event_type=view for a log of views.",
        ),
    ] = None,
    batch_size: Annotated[int | None, typer.Option(help="Records per transaction.")] = None,
    delimiter: Annotated[
        str | None, typer.Option(help="CSV field separator, one character; \\t or tab for a tab.")
    ] = None,
    encoding: Annotated[
        str | None,
        typer.Option(
            help="The file's text encoding, e.g. gb18030 (Chinese Excel), big5, cp1252. "
            "Default: UTF-8, or UTF-16 where the file starts with its byte-order mark."
        ),
    ] = None,
    time_format: Annotated[
        list[str] | None,
        typer.Option(
            help="How the file writes times, as strptime directives, repeatable: e.g. "
            "'%d/%m/%Y %H:%M' (European) or '%m/%d/%Y %I:%M %p' (US). ISO 8601, YYYYMMDD, "
            "epoch seconds and 2026年1月2日 are read without it."
        ),
    ] = None,
    lines: Annotated[
        bool,
        typer.Option(
            "--lines",
            help="orders only: one row per order line (order_id, user_id, ts, item_id, "
            "quantity, price or amount, status); lines are summed into orders.",
        ),
    ] = False,
    group_by: Annotated[
        str | None,
        typer.Option(
            "--group-by",
            help="A column whose rows describe one thing together, e.g. Handle in a Shopify "
            "products export (its variants' rows): a row's empty fields are taken from its "
            "group's first row that has them. For items the group is the product "
            "(product_id): recommendations show one variant of it.",
        ),
    ] = None,
    complete: Annotated[
        bool,
        typer.Option(
            "--complete",
            help="FILE is the whole catalogue (items): stored items it does not list are "
            "marked unavailable and no longer recommended, until a catalogue lists them again.",
        ),
    ] = False,
) -> None:
    """Validate FILE and load it into TABLE; bad records go to the quarantine.

    Example: retain ingest events clicks.csv --map uid=user_id --map time=ts
    Example: retain ingest events log.csv --map kind=event_type --value event_type:4=purchase
    Example: retain ingest events views.csv --delimiter ';' --set event_type=view
    Example: retain ingest reviews excel-export.csv --encoding gb18030
    Example: retain ingest orders orders.csv --time-format '%d/%m/%Y %H:%M'
    Example: retain ingest items products_export.csv --group-by Handle -m "Variant SKU=item_id"
    Example: retain ingest items catalogue.csv --complete
    """
    settings = get_settings()
    mapping = _parse_map(map_ or [])
    values = _parse_values(value or [])
    constants = _parse_map(set_ or [], "--set", "FIELD=VALUE")
    size = batch_size or settings.ingest.batch_size
    common: dict[str, Any] = {
        "mapping": mapping,
        "batch_size": size,
        "future_tolerance_seconds": settings.ingest.future_tolerance_seconds,
        "max_text_chars": settings.ingest.max_text_chars,
        "currency": settings.currency,
    }
    with open_store(settings) as store, _progress(file) as on_progress:
        report = ingest_file(
            store,
            table,
            file,
            format=format,
            delimiter=delimiter,
            encoding=encoding,
            time_formats=time_format or (),
            on_progress=on_progress,
            lines=lines,
            values=values,
            constants=constants,
            group_by=group_by,
            complete=complete,
            **common,
        )
    print_report(report)


@contextmanager
def _progress(file: Path) -> Iterator[Any]:
    """A progress bar for large files on a terminal; nothing otherwise."""
    large = file.is_file() and file.stat().st_size >= _PROGRESS_MIN_BYTES
    if not (large and err.is_terminal):
        yield None
        return
    with Progress(
        TextColumn(f"[bold]{file.name}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeRemainingColumn(),
        console=err,
        transient=True,
    ) as bar:
        task = bar.add_task("ingest", total=None)

        def update(done: int, total: int) -> None:
            bar.update(task, completed=done, total=total)

        yield update


@app.command("demo-data")
def demo_data(
    out_dir: Annotated[Path, typer.Option("--out", help="Folder to write.")] = Path("demo-shop"),
    seed: Annotated[int, typer.Option(help="Same seed, same shop.")] = 7,
    users: Annotated[int, typer.Option(help="Customers.")] = 1500,
    items: Annotated[int, typer.Option(help="Catalogue size.")] = 240,
    days: Annotated[int, typer.Option(help="Days of history, ending today.")] = 180,
) -> None:
    """Write a seeded demo shop as ordinary input files.

    Example: retain demo-data --out shop --seed 3 && retain ingest events shop/events.csv
    """
    from retain.demo import generate_demo_shop

    try:
        manifest = generate_demo_shop(out_dir, seed=seed, n_users=users, n_items=items, days=days)
    except ValueError as exc:
        raise CommandError(str(exc)) from exc
    counts = ", ".join(f"{k} {v:,}" for k, v in manifest.counts.items())
    out.print(
        f"demo shop written to {out_dir} ({manifest.start[:10]} .. {manifest.end[:10]}): {counts}"
    )


@app.command()
def status() -> None:
    """Row counts and span of what the store holds, and how current the churn scores are."""
    from retain.data.summary import scores_summary, shop_summary

    settings = get_settings()
    with open_store(settings, read_only=True) as store:
        print_summary(shop_summary(store), settings)
        scores = scores_summary(store)
    if scores is None:
        out.print("churn scores: none yet (retain train predict)")
        return
    written = "" if scores["scored_at"] is None else f", written {str(scores['scored_at'])[:16]}"
    out.print(
        f"churn scores: {scores['customers']:,} customers as of {scores['cutoff']} "
        f"(model {scores['model_version']}{written})"
    )
    if scores["bought_since"]:
        out.print(
            f"  {scores['bought_since']:,} of them bought since, so their risk is out of date "
            "and campaigns leave them out: retain train predict scores them again"
        )


@app.command()
def quarantine(
    table: Annotated[str | None, typer.Option(help="Only this table.")] = None,
    limit: Annotated[int, typer.Option(help="Rows to show.")] = 20,
) -> None:
    """Show quarantined records with their source, line and reason.

    Example: retain quarantine --table events --limit 50
    """
    settings = get_settings()
    with open_store(settings, read_only=True) as store:
        where, params = (
            ("WHERE table_name = ?", [INPUT_TABLES.get(table, table)]) if table else ("", [])
        )
        rows = store.execute(
            f"SELECT table_name, source, line, reason FROM quarantine {where} "
            f"ORDER BY table_name, source, line LIMIT {int(limit)}",
            params,
        ).fetchall()
    if not rows:
        out.print("the quarantine is empty")
        return
    for name, source, line, reason in rows:
        out.print(f"{name} {source}:{line}: {reason}")


@bench_app.command("ingest")
def bench_ingest(
    json_out: Annotated[Path | None, typer.Option("--json", help="Write the result here.")] = None,
    rows: Annotated[int, typer.Option(help="Events in the generated file.")] = 1_000_000,
    batch_size: Annotated[int, typer.Option(help="Records per transaction.")] = 100_000,
    bad_fraction: Annotated[float, typer.Option(help="Share of malformed rows.")] = 0.0,
) -> None:
    """Events/s from CSV into the embedded store, with DuckDB's raw insert as baseline.

    Example: retain bench ingest --rows 1000000 --json bench-results/ingest.json
    """
    from retain.data.bench import run_ingest_benchmark

    if rows < 1 or not 0 <= bad_fraction < 1:
        raise CommandError(f"need rows >= 1 and 0 <= bad-fraction < 1; got {rows}, {bad_fraction}")
    result = run_ingest_benchmark(rows=rows, batch_size=batch_size, bad_fraction=bad_fraction)
    write_json(result, json_out)
