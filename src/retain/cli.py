"""The ``retain`` command line: thin commands over the library.

Each command reads the settings, opens the store, calls one library
function and prints its result. Known errors become one line on stderr and
exit code 1; a usage mistake exits 2 (typer's convention).
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from datetime import date, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, cast

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn
from rich.table import Table

from retain.config import Settings, get_settings
from retain.currency import format_money
from retain.data.ingest import IngestReport, ingest_file
from retain.data.loaders import FORMATS as PUBLIC_FORMATS
from retain.data.schemas import INPUT_TABLES
from retain.data.sources import FORMATS as FILE_FORMATS
from retain.data.store import Store
from retain.data.user_ids import canonical_user_id, fold_email_id
from retain.errors import RetainError

if TYPE_CHECKING:  # the model stack (LightGBM, scikit-learn) loads only for commands that use it
    from retain.assistant.intents import IntentSettings
    from retain.main_job import TrainingRun
    from retain.predict.scoring import TrainResult
    from retain.recommend.scoring import RecommendTrainResult
    from retain.retention.cluster_training import StoredClusters
    from retain.retention.clusters import Cluster
    from retain.retention.members import SegmentMembers

__all__ = ["app", "main"]

app = typer.Typer(
    help="Retain: user retention for e-commerce. Start with `retain run`.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
bench_app = typer.Typer(help="Benchmarks that write a JSON of metrics.", no_args_is_help=True)
app.add_typer(bench_app, name="bench")
train_app = typer.Typer(help="Train a capability's model on the store.", no_args_is_help=True)
app.add_typer(train_app, name="train")
keys_app = typer.Typer(help="API keys of the service (shown once when made).", no_args_is_help=True)
app.add_typer(keys_app, name="keys")
models_app = typer.Typer(
    help="Stored model versions: list, promote, roll back.", no_args_is_help=True
)
app.add_typer(models_app, name="models")

# soft_wrap: lines stay whole when piped into logs instead of breaking at 80 columns.
out = Console(soft_wrap=True)
err = Console(stderr=True, soft_wrap=True)

_PROGRESS_MIN_BYTES = 5_000_000


class _CommandError(Exception):
    """Raised inside commands to exit with one clear line."""


@contextmanager
def _open_store(settings: Settings, *, read_only: bool = False) -> Iterator[Store]:
    store = Store.open(settings.resolved_store_url, read_only=read_only)
    try:
        yield store
    finally:
        store.close()


def _parse_map(
    pairs: list[str], option: str = "--map", shape: str = "SOURCE_COLUMN=FIELD"
) -> dict[str, str]:
    """``LEFT=RIGHT`` options (``--map``, ``--set``) as ``{left: right}``."""
    mapping: dict[str, str] = {}
    for pair in pairs:
        src, sep, dst = pair.partition("=")
        if not sep or not src or not dst:
            raise _CommandError(f"{option} expects {shape}, got {pair!r}")
        mapping[src] = dst
    return mapping


def _parse_values(pairs: list[str]) -> dict[str, dict[str, str]]:
    """``FIELD:SOURCE=VALUE`` options as ``{field: {source value: value}}``."""
    values: dict[str, dict[str, str]] = {}
    for pair in pairs:
        field, colon, rest = pair.partition(":")
        source_value, sep, value = rest.partition("=")
        if not colon or not sep or not field or not source_value or not value:
            raise _CommandError(
                f"--value expects FIELD:SOURCE_VALUE=VALUE (e.g. event_type:1=view), got {pair!r}"
            )
        values.setdefault(field.strip(), {})[source_value.strip()] = value.strip()
    return values


def _money(amount: float) -> str:
    """An amount in the shop's currency (the ``currency`` setting), as a team reads it."""
    return format_money(amount, get_settings().currency)


def _print_report(report: IngestReport) -> None:
    read = (
        f"{report.lines:,} order lines read from {report.source}, summed into orders"
        if report.lines
        else f"{report.rows:,} records read from {report.source}"
    )
    out.print(
        f"{report.table}: {read} - "
        f"accepted {report.accepted:,}"
        + (f" ({report.updated:,} moved on to a later status)" if report.updated else "")
        + f", duplicate {report.duplicates:,}, "
        f"quarantined {report.quarantined:,} ({report.seconds:.2f}s)"
    )
    if report.erased:
        out.print(
            f"  skipped {report.erased:,} records of customers erased on request, dated before "
            "the erase: not stored again"
        )
    if report.withdrawn:
        out.print(
            f"  marked {report.withdrawn:,} items unavailable: the catalogue no longer lists them"
        )
    if report.relisted:
        out.print(f"  {report.relisted:,} items listed again are available again")
    if report.derived_key:
        out.print("  (no key column: ids derived from each record's content and occurrence)")
    if report.attribute_columns:
        out.print(f"  kept in attributes: {', '.join(report.attribute_columns)}")
    if report.ignored_columns:
        out.print(f"  ignored columns: {', '.join(report.ignored_columns)}")
    for reason, n in sorted(report.reasons.items(), key=lambda kv: -kv[1])[:5]:
        out.print(f"  {n:,} x {reason}")
    if any(" is not one of: " in reason for reason in report.reasons):
        out.print(
            "  a system of its own spelling? map its values: --value FIELD:SOURCE_VALUE=VALUE "
            "(e.g. --value event_type:1=view)"
        )
    if report.quarantined:
        out.print(f"  see them with: retain quarantine --table {report.table}")


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
    with _open_store(settings) as store, _progress(file) as on_progress:
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
    _print_report(report)


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
        raise _CommandError(str(exc)) from exc
    counts = ", ".join(f"{k} {v:,}" for k, v in manifest.counts.items())
    out.print(
        f"demo shop written to {out_dir} ({manifest.start[:10]} .. {manifest.end[:10]}): {counts}"
    )


@app.command()
def run(
    fresh: Annotated[bool, typer.Option(help="Regenerate the demo shop first.")] = False,
) -> None:
    """The main job: build the demo shop, load it into the store, summarise.

    Example: RETAIN_DATA_DIR=/tmp/shop retain run
    """
    from retain.main_job import run_main_job

    settings = get_settings()
    with _open_store(settings) as store:
        result = run_main_job(
            store,
            settings.data_dir,
            fresh=fresh,
            batch_size=settings.ingest.batch_size,
            on_step=lambda m: err.print(f"[dim]- {m}[/dim]"),
            recommend_settings=settings.recommend.to_settings(),
            intent_settings=_intent_settings(settings),
            actions=settings.campaign.to_actions(),
            currency=settings.currency,
            require_consent=settings.campaign.require_consent,
        )
    for report in result.reports:
        _print_report(report)
    _print_summary(result.summary, settings)
    _print_training_run(result)
    if result.campaign is not None:
        plan = result.campaign.plan
        out.print(
            f"campaign {result.campaign.campaign_id}: {len(plan):,} customers get an action "
            f"(expected cost {result.campaign.expected_cost:,.2f}); experiment "
            f"{result.campaign.experiment}. See `retain serve` or `retain campaign --help`."
        )


def _print_training_run(run: TrainingRun) -> None:
    """One line per capability trained (see ``train_everything``), then what was skipped."""
    if run.predict is not None:
        _print_training(run.predict)
    if run.recommend is not None:
        _print_recommend_training(run.recommend)
    if run.sentiment is not None:
        out.print(
            f"sentiment model {run.sentiment.version}: scored {run.sentiment.scored:,} "
            f"reviews into review_scores, {run.sentiment.alerts} alerts; try `retain alerts`"
        )
    for segments in (run.segments, run.tastes):
        if segments is not None:
            _print_segments_training(segments)
    if run.assistant is not None:
        out.print(
            f"assistant model {run.assistant.version}: "
            f"{len(run.assistant.intents)} intents; try `retain chat --user U00001`"
        )
    for name, why in run.skipped.items():
        out.print(f"skipped {name}: {why}")


@train_app.command("all")
def train_all() -> None:
    """Train every capability on the store as it is, in the order their inputs need.

    Reviews, then churn scores, segments and review alerts, then the
    recommender and the assistant: what `retain run` does after loading the
    demo shop, for a shop's own data (run it after each load). A capability
    whose input the shop lacks (no reviews, no events, ...) is skipped with
    the reason; the command fails only when nothing could be trained.
    Example: retain train all
    """
    from retain.main_job import train_everything

    settings = get_settings()
    with _open_store(settings) as store:
        run = train_everything(
            store,
            settings.models_dir,
            on_step=lambda m: err.print(f"[dim]- {m}[/dim]"),
            recommend_settings=settings.recommend.to_settings(),
            intent_settings=_intent_settings(settings),
            skip_missing=True,
            currency=settings.currency,
        )
    _print_training_run(run)
    if not any((run.predict, run.recommend, run.sentiment, run.segments)):
        raise _CommandError(
            "nothing trained: the store has no orders, events or reviews to learn from"
        )


def _print_summary(summary: dict[str, Any], settings: Settings) -> None:
    out.print(f"store: {settings.resolved_store_url}")
    table = Table(show_header=True)
    table.add_column("table")
    table.add_column("rows", justify="right")
    for name, n in summary["counts"].items():
        table.add_row(name, f"{n:,}")
    out.print(table)
    rate = summary["repeat_purchase_rate"]
    spans = [
        f"{name} {summary['first_' + key]} .. {summary['last_' + key]}"
        if summary["first_" + key] is not None
        else f"no {name}"
        for name, key in (("orders", "order"), ("events", "event"))
    ]
    out.print(
        f"{'; '.join(spans)}; "
        f"{summary['buyers']:,} buyers, repeat-purchase rate "
        f"{'n/a' if rate is None else f'{rate:.1%}'}, "
        f"completed revenue {_money(summary['completed_revenue'])}"
    )


@app.command()
def status() -> None:
    """Row counts and span of what the store holds, and how current the churn scores are."""
    from retain.data.summary import scores_summary, shop_summary

    settings = get_settings()
    with _open_store(settings, read_only=True) as store:
        _print_summary(shop_summary(store), settings)
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
    with _open_store(settings, read_only=True) as store:
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
        raise _CommandError(f"need rows >= 1 and 0 <= bad-fraction < 1; got {rows}, {bad_fraction}")
    result = run_ingest_benchmark(rows=rows, batch_size=batch_size, bad_fraction=bad_fraction)
    _write_json(result, json_out)


def _write_json(result: dict[str, Any], json_out: Path | None) -> None:
    text = json.dumps(result, indent=2, default=str)
    if json_out is not None:
        json_out.parent.mkdir(parents=True, exist_ok=True)
        json_out.write_text(text + "\n")
    out.print_json(text)


def _parse_day(value: str | None, option: str) -> date | None:
    if value is None:
        return None
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise _CommandError(f"{option} must be a date like 1997-09-30; got {value!r}") from None


@train_app.command("predict")
def train_predict(
    cutoff: Annotated[
        str | None, typer.Option(help="Learn from data up to this day (default: last order).")
    ] = None,
    horizon_days: Annotated[int, typer.Option(help="Days the predictions are about.")] = 90,
    check: Annotated[
        bool,
        typer.Option(
            help="Also replay the model one horizon back and compare with what customers did "
            "(doubles training time)."
        ),
    ] = True,
) -> None:
    """Train churn / repurchase / lifetime-value models and score every customer.

    Scores go to the user_scores table; the model to <data_dir>/models/predict;
    the check on the shop's own past to model_checks.
    Example: retain train predict --horizon-days 90
    """
    from retain.predict.scoring import train_and_score

    settings = get_settings()
    with _open_store(settings) as store:
        result = train_and_score(
            store,
            settings.models_dir,
            cutoff=_parse_day(cutoff, "--cutoff"),
            horizon_days=horizon_days,
            check=check,
            currency=settings.currency,
        )
    _print_training(result)


@train_app.command("recommend")
def train_recommend(
    k: Annotated[
        int | None, typer.Option(help="Items stored per user (default: settings).")
    ] = None,
    sequential: Annotated[
        bool | None, typer.Option(help="Train the SASRec source (default: settings).")
    ] = None,
    text: Annotated[bool, typer.Option(help="Use item text (content source).")] = True,
) -> None:
    """Train the recommender on events and items; write every user's top k.

    Lists go to the recommendations table; the model to <data_dir>/models/recommend.
    Settings: the \\[recommend] section of retain.toml. Example: retain train recommend --k 20
    """
    from dataclasses import replace

    from retain.recommend.scoring import train_and_recommend

    settings = get_settings()
    options = settings.recommend.to_settings()
    if sequential is not None:
        options = replace(options, sequential=sequential)
    if not text:
        options = replace(options, text_model=None)
    with _open_store(settings) as store:
        result = train_and_recommend(
            store, settings.models_dir, options, k=k or settings.recommend.k
        )
    _print_recommend_training(result)


def _print_recommend_training(result: RecommendTrainResult) -> None:
    weights = ", ".join(f"{n} {w:g}" for n, w in result.blend_weights.items() if w > 0)
    out.print(
        f"recommend model {result.version}: {result.users:,} users, {result.items:,} items, "
        f"{result.rows_written:,} rows in recommendations; blend {weights}; held-out NDCG@10 "
        f"{result.holdout_ndcg10:.4f}; {result.seconds:.0f} s"
    )


@app.command()
def recommend(
    user: Annotated[str | None, typer.Argument(help="Customer id (omit for a session).")] = None,
    item: Annotated[
        list[str] | None, typer.Option(help="A recent item of the session (repeatable).")
    ] = None,
    k: Annotated[int, typer.Option(help="How many items.")] = 10,
    category: Annotated[
        list[str] | None, typer.Option(help="Only this category (repeatable).")
    ] = None,
    similar: Annotated[str | None, typer.Option(help="Items similar to this item instead.")] = None,
) -> None:
    """What a customer (or an anonymous session) should see next, with reasons.

    Example: retain recommend U00012 --k 5; retain recommend --item I00003 --item I00007
    """
    from retain.recommend.scoring import load_current

    rec = load_current(get_settings().models_dir)
    if similar is not None:
        rows = rec.similar_items(similar, k=k)
        unknown: list[str] = []
    else:
        answer = rec.recommend(user, item or [], k=k, categories=category)
        rows, unknown = answer.items, answer.unknown_items
        if answer.cold_start:
            err.print("no history for this request: showing popular items")
    table = Table(show_header=True)
    for column in ("#", "item", "name", "why"):
        table.add_column(column)
    for rank, row in enumerate(rows, start=1):
        code = rec.items.lookup()[row.item_id]
        table.add_row(str(rank), row.item_id, str(rec.names[code] or ""), row.reason)
    out.print(table)
    if unknown:
        err.print(f"ignored unknown items: {', '.join(unknown)}")


def _print_training(result: TrainResult) -> None:
    out.print(
        f"predict model {result.version} as of {result.cutoff} ({result.horizon_days}-day "
        f"horizon), learned from {result.training_rows:,} rows over {result.backtests} "
        f"backtests; scored {result.customers_scored:,} customers into user_scores: mean "
        f"churn risk {result.mean_churn_risk:.1%}, {result.expected_purchases:,.0f} purchases "
        "expected"
    )
    check = result.check
    if check is None:
        out.print(result.check_note)
        return
    out.print(
        f"check: refitted as of {check.calibration_end}, it ranked who bought again by "
        f"{check.holdout_end} with AUC {check.auc:.3f} (BG/NBD {check.bgnbd_auc:.3f}) and "
        f"predicted {check.predicted_rate:.1%} would, against {check.observed_rate:.1%} who did"
    )


@app.command()
def scores(
    top: Annotated[int, typer.Option(help="Customers to show.")] = 20,
    by: Annotated[
        str, typer.Option(help="churn_risk, expected_lifetime_value or repurchase_probability.")
    ] = "churn_risk",
) -> None:
    """The customers most at risk (or most valuable), with the reasons.

    Example: retain scores --top 10 --by expected_lifetime_value
    """
    from retain.predict.scoring import top_scores

    settings = get_settings()
    with _open_store(settings, read_only=True) as store:
        rows = top_scores(store, top, by)
    table = Table(show_header=True)
    for column in ("customer", "churn risk", "repurchase", "purchases", "value", "reasons"):
        table.add_column(column, justify="left" if column in ("customer", "reasons") else "right")
    for row in rows.itertuples():
        table.add_row(
            str(row.user_id),
            f"{row.churn_risk:.1%}",
            f"{row.repurchase_probability:.1%}",
            f"{row.expected_purchases:.2f}",
            _money(cast(float, row.expected_lifetime_value)),
            "; ".join(cast(list[str], row.reasons)),
        )
    out.print(table)
    if len(rows):
        first = rows.iloc[0]
        out.print(
            f"model {first.model_version}, as of {first.cutoff:%Y-%m-%d}, "
            f"next {first.horizon_days} days"
        )


AsOfOption = Annotated[str | None, typer.Option(help="Last day counted (default: last order).")]


def _read_as_of(
    as_of: str | None, *builds: Callable[[Any, date], Any], fetch: bool = True
) -> tuple[date, list[Any]]:
    """Open the store read-only, settle the day, and fetch each ``build(tables, day)``.

    With ``fetch=False`` the builds return frames themselves.
    """
    from retain.data.summary import last_order_day
    from retain.features.customer import FeatureTables

    with _open_store(get_settings(), read_only=True) as store:
        day = _parse_day(as_of, "--as-of") or last_order_day(store)
        tables = FeatureTables.from_store(store)
        built = [build(tables, day) for build in builds]
        return day, [tables.fetch(b) for b in built] if fetch else built


@app.command()
def cohorts(
    period: Annotated[str, typer.Option(help="month or week.")] = "month",
    as_of: AsOfOption = None,
    by: Annotated[
        str | None,
        typer.Option(
            help="Split the curves: 'rfm' (today's RFM segment), 'cluster' or 'taste' (the "
            "stored learned segment), 'first_category' (of the first item bought) or a "
            "customer attribute from the users table, e.g. 'channel'."
        ),
    ] = None,
) -> None:
    """Cohort retention: who came back, by month (or week) of first purchase.

    Example: retain cohorts --period week
    Example: retain cohorts --by channel
    Example: retain cohorts --by taste
    """
    from retain.retention.analytics import (
        cohort_heatmap,
        cohort_retention,
        repeat_purchase_rate,
        retention_curve,
        thin_tail_note,
    )

    if period not in ("month", "week"):
        raise _CommandError(f"--period must be month or week; got {period!r}")
    if by is not None:
        _segment_curves(period, as_of, by)
        return
    day, (matrix, repeats) = _read_as_of(
        as_of,
        lambda tables, day: cohort_retention(tables, day, period),  # type: ignore[arg-type]
        repeat_purchase_rate,
    )
    repeat = repeats.iloc[0]
    if matrix.empty:
        out.print(f"no purchases on or before {day}: no cohorts to show yet")
        return
    grid = cohort_heatmap(matrix)
    sizes: dict[Any, int] = matrix.groupby("cohort").cohort_size.first().to_dict()
    table = Table(title=f"retention by {period} of first purchase, as of {day}")
    table.add_column("cohort")
    table.add_column("customers", justify="right")
    for k in grid.columns:
        table.add_column(f"+{k}", justify="right")
    for cohort, row in grid.iterrows():
        cells = ["" if v != v else f"{v:.0%}" for v in row.tolist()]  # NaN: not yet observed
        table.add_row(f"{cohort:%Y-%m-%d}", f"{sizes[cohort]:,}", *cells)
    out.print(table)
    curve = retention_curve(matrix)
    points = ", ".join(f"+{r.period_index}: {r.retention:.1%}" for r in curve.itertuples())
    out.print(f"retention curve (complete periods only): {points}")
    out.print(f"the last filled cell of each row is still running on {day}")
    note = thin_tail_note(curve, matrix, period)
    if note:
        out.print(note)
    out.print(
        f"repeat customers: {int(repeat.repeat_customers):,} of {int(repeat.customers):,} "
        f"({repeat.rate:.1%})"
    )


def _segment_curves(period: str, as_of: str | None, by: str) -> None:
    """``retain cohorts --by``: retention and revenue-per-customer curves per segment."""
    from retain.retention.analytics import retention_curve, segment_matrix, split_caveat

    day, (matrix,) = _read_as_of(
        as_of,
        lambda tables, day: segment_matrix(tables, day, by, period),  # type: ignore[arg-type]
        fetch=False,
    )
    if matrix.empty:
        out.print(f"no purchases on or before {day}: no cohorts to show yet")
        return
    curves = retention_curve(matrix)
    width = int(curves.period_index.max())
    for title, column, cell in (
        ("share buying again", "retention", "{:.0%}"),
        ("revenue per customer so far (LTV)", "revenue_per_customer", "{:,.2f}"),
    ):
        table = Table(title=f"{title}, by {period}s since the first purchase and {by}, as of {day}")
        table.add_column(by)
        table.add_column("customers", justify="right")
        for k in range(width + 1):
            table.add_column(f"+{k}", justify="right")
        for segment, curve in curves.groupby("segment", sort=False):
            values = dict(zip(curve.period_index, curve[column], strict=True))
            cells = [cell.format(values[k]) if k in values else "" for k in range(width + 1)]
            table.add_row(str(segment), f"{int(curve.customers.iloc[0]):,}", *cells)
        out.print(table)
    out.print(
        f"Each point counts only the {period}ly cohorts that have lived through it. "
        + split_caveat(by)
    )


@app.command()
def segments(
    as_of: AsOfOption = None,
    members: Annotated[
        str | None,
        typer.Option(
            help="List one segment's customers, most value at stake first: an RFM segment "
            "name ('at risk') or, with --kind cluster or taste, a learned segment's number."
        ),
    ] = None,
    kind: Annotated[
        str,
        typer.Option(help="rfm, cluster (behaviour) or taste: which segments, or --members of."),
    ] = "rfm",
    csv: Annotated[Path | None, typer.Option(help="Write every member to this CSV.")] = None,
    show: Annotated[int, typer.Option(help="Members to print.")] = 20,
    moves: Annotated[
        int | None,
        typer.Option(help="Also show where customers moved between segments over these days."),
    ] = None,
    moved_from: MovedFromOption = None,
) -> None:
    """RFM segments: how many customers are champions, at risk, hibernating, ...

    Example: retain segments
    Example: retain segments --moves 30
    Example: retain segments --members "at risk" --csv at_risk.csv
    Example: retain segments --members "at risk" --moved-from "loyal customers"
    Example: retain segments --kind taste
    """
    from retain.retention.segments import SEGMENTS, rfm_segments

    if members is not None:
        if as_of is not None:
            raise _CommandError("--members lists customers as of the last order; drop --as-of")
        _segment_members(kind, members, csv, show, moved_from, moves)
        return
    if moved_from is not None:
        raise _CommandError("--moved-from filters a segment's customers: add --members NAME")
    if csv is not None:
        raise _CommandError("--csv writes a segment's customers: add --members NAME")
    from retain.retention.members import KINDS

    if kind not in KINDS:
        known = f"{', '.join(KINDS[:-1])} or {KINDS[-1]}"
        raise _CommandError(f"--kind must be {known}; got {kind!r}")
    if kind != "rfm":  # the learned segments, as `retain clusters --kind` shows them
        if moves is not None:
            raise _CommandError("--moves is about RFM segments: drop --kind")
        clusters(as_of=as_of, k=None, kind=kind)
        return
    day, (scored,) = _read_as_of(as_of, rfm_segments)
    if scored.empty:
        out.print(f"no purchases on or before {day}: no segments yet")
        return
    summary = scored.groupby("segment").agg(
        customers=("user_id", "size"),
        recency=("recency_days", "median"),
        frequency=("frequency", "mean"),
        monetary=("monetary", "mean"),
    )
    table = Table(title=f"RFM segments as of {day}")
    for column in ("segment", "customers", "median days since purchase", "purchases", "spend"):
        table.add_column(column, justify="left" if column == "segment" else "right")
    table.add_column("what sets it apart / what to do")
    rows = summary.to_dict("index")
    for segment in SEGMENTS:
        if segment.name not in rows:
            continue
        row = rows[segment.name]
        table.add_row(
            segment.name,
            f"{int(row['customers']):,} ({row['customers'] / len(scored):.0%})",
            f"{row['recency']:.0f}",
            f"{row['frequency']:.1f}",
            _money(row["monetary"]),
            f"{segment.description}; {segment.action}",
        )
    out.print(table)
    if moves is not None:
        _print_moves(as_of, moves)


def _print_moves(as_of: str | None, days: int) -> None:
    """The largest moves between segments over the last ``days`` days, and the totals."""
    from retain.retention.segments import count_moves, describe_moves, segment_moves

    if days < 1:
        raise _CommandError(f"--moves takes a number of days of at least 1; got {days}")
    day, (found,) = _read_as_of(
        as_of, lambda tables, end: segment_moves(tables, end - timedelta(days=days), end)
    )
    start = day - timedelta(days=days)
    counts = count_moves(found)
    if not counts.earlier:
        out.print(f"no moves: nobody had bought by {start}")
        return
    changed = found[found.from_segment != found.to_segment]
    table = Table(title=f"largest moves between segments, {start} -> {day}")
    for column in ("from", "to", "customers"):
        table.add_column(column, justify="right" if column == "customers" else "left")
    for row in changed.head(15).itertuples():
        table.add_row(str(row.from_segment), str(row.to_segment), f"{int(row.customers):,}")
    out.print(table)
    out.print(describe_moves(counts))


def _segment_members(
    kind: str, name: str, csv: Path | None, show: int, moved_from: str | None, days: int | None
) -> None:
    with _open_store(get_settings(), read_only=True) as store:
        found = _find_segment(store, kind, name, moved_from, days)
    frame = found.customers
    out.print(f"{found.title}: {len(frame):,} customers as of {found.as_of}. {found.about}")
    table = Table()
    for column in frame.columns:
        table.add_column(column, justify="left" if column == "user_id" else "right")
    for row in frame.head(show).itertuples(index=False):
        table.add_row(*("" if v != v else str(v) for v in row))
    out.print(table)
    if csv is not None:
        csv.parent.mkdir(parents=True, exist_ok=True)
        frame.to_csv(csv, index=False)
        out.print(f"wrote {len(frame):,} customers to {csv}")


def _find_segment(
    store: Store, kind: str, name: str, moved_from: str | None, days: int | None
) -> SegmentMembers:
    """A segment's members (``retain.retention.members.find_segment``); ``days``
    defaults to the dashboard's window (``MOVES_DAYS``)."""
    from retain.retention.members import find_segment
    from retain.retention.segments import MOVES_DAYS

    return find_segment(
        store, kind, name, moved_from=moved_from, days=MOVES_DAYS if days is None else days
    )


MovedFromOption = Annotated[
    str | None,
    typer.Option(
        help="Only customers who were in this RFM segment --moves days (default: the "
        "dashboard's window, 30) before the last order ('not a customer yet': first-time "
        "buyers since)."
    ),
]


@app.command()
def campaign(
    budget: Annotated[float, typer.Option(help="Most the campaign may cost (expected).")] = 1000.0,
    csv: Annotated[Path | None, typer.Option(help="Also write the list to this CSV.")] = None,
    show: Annotated[int, typer.Option(help="Rows to print.")] = 10,
    holdout: Annotated[
        float | None,
        typer.Option(help="Share held out as a control group, e.g. 0.2: makes it an experiment."),
    ] = None,
    segment: Annotated[
        str | None,
        typer.Option(
            help="Only this segment's customers: an RFM segment name or, with --kind cluster, "
            "a learned segment's number."
        ),
    ] = None,
    kind: Annotated[
        str, typer.Option(help="rfm, cluster (behaviour) or taste (with --segment).")
    ] = "rfm",
    moved_from: MovedFromOption = None,
    moves: Annotated[
        int | None,
        typer.Option(help="Days --moved-from looks back (default: the dashboard's window)."),
    ] = None,
    action: Annotated[
        list[str] | None,
        typer.Option(
            help="Plan with only this action (repeatable), e.g. --action coupon_5: a "
            "coupon-only win-back. Default: every action."
        ),
    ] = None,
) -> None:
    """Who gets a coupon, a message or a care call, within a budget, and why.

    Appends the campaign to the interventions table. Needs user_scores. The
    actions and their costs are the shop's own in retain.toml (\\[campaign]
    actions; see retain.example.toml), else a 5-off and a 15-off coupon, a
    message with picks and a care contact.
    Example: retain campaign --budget 500 --csv campaign.csv
    Example: retain campaign --budget 200 --segment "at risk" --moved-from "loyal customers"
    Example: retain campaign --budget 300 --action coupon_5 --action coupon_15
    """
    from retain.data.summary import median_order_value
    from retain.retention.campaign import build_campaign
    from retain.retention.policy import SMALL_OFFER_SHARE, small_offers

    if segment is None and moved_from is not None:
        raise _CommandError("--moved-from narrows a segment: add --segment NAME")
    settings = get_settings()
    try:
        actions = settings.campaign.to_actions(action)
    except ValueError as exc:
        raise _CommandError(f"--action: {exc}") from None
    ops = _operational(settings)
    with _open_store(settings) as store:
        if ops is not None:
            from retain.serve.operational import pull_consent

            pull_consent(ops, store)  # an opt-out through any replica counts now
        audience, audience_name = None, None
        if segment is not None:
            found = _find_segment(store, kind, segment, moved_from, moves)
            audience = set(found.customers.user_id.astype(str))
            audience_name = found.title
            out.print(f"audience: {found.title}, {len(audience):,} customers")
        result = build_campaign(
            store,
            budget,
            export=csv,
            holdout=holdout,
            audience=audience,
            audience_name=audience_name,
            actions=actions,
            currency=settings.currency,
            require_consent=settings.campaign.require_consent,
        )
        median_order = median_order_value(store)
    plan = result.plan
    table = Table(title=f"campaign {result.campaign_id}")
    for column in ("customer", "action", "cost", "uplift", "net value", "reason"):
        table.add_column(
            column, justify="left" if column in ("customer", "action", "reason") else "right"
        )
    for row in plan.head(show).to_dict("records"):
        table.add_row(
            str(row["user_id"]),
            str(row["action"]),
            _money(row["expected_cost"]),
            f"{row['uplift'] * 100:.1f} pts",
            _money(row["expected_net_value"]),
            str(row["reason"]),
        )
    out.print(table)
    counts = ", ".join(f"{n} {a}" for a, n in plan.action.value_counts().items()) or "nobody"
    out.print(
        f"{len(plan):,} of {result.customers_considered:,} customers get an action ({counts}); "
        f"expected cost {_money(result.expected_cost)} of {_money(budget)}, expected net value "
        f"{_money(result.expected_net_value)}" + (f"; written to {csv}" if csv else "")
    )
    if result.uplift_learned:
        learned = ", ".join(f"{a} ({n:,} customers)" for a, n in result.uplift_learned.items())
        out.print(f"uplift learned from past holdout campaigns: {learned}; others assumed")
    else:
        out.print(
            "uplift assumed for every action: no past holdout campaign has a finished "
            "outcome window with at least 100 treated and 100 control customers for an action"
        )
    assumed_small = [
        a for a in small_offers(actions, median_order) if a.name not in result.uplift_learned
    ]
    if assumed_small and median_order is not None:
        names = ", ".join(f"{a.name} ({_money(a.cost_if_used)})" for a in assumed_small)
        out.print(
            f"the median order here is {_money(median_order)}; every coupon ({names}) is under "
            f"{SMALL_OFFER_SHARE:.0%} of it, so their assumed uplift is likely too high: "
            "set the shop's own offers in retain.toml under [campaign] actions "
            "(see retain.example.toml), or measure them with --holdout 0.2",
            markup=False,
        )
    if result.without_picks:
        out.print(
            f"{result.without_picks:,} customers have no recommendation list, so they get no "
            "message with picks: `retain train recommend` makes the lists (it needs events or "
            "orders that name items)"
        )
    if result.without_consent:
        which = (
            "have not accepted marketing ([campaign] require_consent)"
            if settings.campaign.require_consent
            else "declined marketing (users.marketing_consent)"
        )
        out.print(
            f"{result.without_consent:,} customers {which}, so they get no coupon or "
            "message; a care contact after a complaint is still possible"
        )
    if result.bought_since_scored:
        out.print(
            f"{result.bought_since_scored:,} customers bought after their scores were computed "
            f"(as of {result.scored_as_of}), so they get nothing: their churn risk is out of date; "
            "`retain train predict` scores them again"
        )
    if result.experiment:
        out.print(
            f"experiment {result.experiment}: {holdout:.0%} held out as control; "
            f"read it later with `retain experiment {result.experiment}`"
        )


@app.command()
def campaigns(
    campaign_id: Annotated[
        str | None, typer.Argument(help="One campaign's customers (default: list them all).")
    ] = None,
    csv: Annotated[Path | None, typer.Option(help="Write that campaign's rows here.")] = None,
    show: Annotated[int, typer.Option(help="Rows to print.")] = 20,
) -> None:
    """Campaigns planned so far, newest first; or one campaign's customers and why.

    Example: retain campaigns
    Example: retain campaigns C1ff15e3b6477 --csv campaign.csv
    """
    from retain.retention.campaign import campaign_rows, campaign_summaries

    with _open_store(get_settings(), read_only=True) as store:
        if campaign_id is None:
            if csv is not None:
                raise _CommandError("--csv writes one campaign's rows: name the campaign")
            summaries = campaign_summaries(store)
        else:
            rows = campaign_rows(store, campaign_id)
    if campaign_id is None:
        if summaries.empty:
            out.print("no campaign yet; plan one with `retain campaign --budget 500`")
            return
        table = Table(title="campaigns, newest first")
        for column in ("campaign", "planned", "for", "customers", "actions", "cost", "experiment"):
            table.add_column(column, justify="right" if column in ("customers", "cost") else "left")
        for row in summaries.head(show).to_dict("records"):
            table.add_row(
                str(row["campaign_id"]),
                f"{row['created_at']:%Y-%m-%d %H:%M}",
                _text_or(row["audience"], "every scored customer"),
                f"{int(row['customers']):,}",
                ", ".join(f"{a} {n:,}" for a, n in sorted(row["actions"].items())),
                f"{_money(row['expected_cost'])} of {_money(row['budget'])}",
                _text_or(row["experiment"], "none"),
            )
        out.print(table)
        return
    if rows is None:
        raise _CommandError(f"no campaign {campaign_id!r}; `retain campaigns` lists them")
    table = Table(title=f"campaign {campaign_id}: {len(rows):,} customers")
    for column in ("customer", "action", "group", "reason"):
        table.add_column(column)
    for row in rows.head(show).to_dict("records"):
        group = _text_or(row["variant"], "")
        table.add_row(str(row["user_id"]), str(row["action"]), group, str(row["reason"]))
    out.print(table)
    if csv is not None:
        csv.parent.mkdir(parents=True, exist_ok=True)
        rows.to_csv(csv, index=False)
        out.print(f"wrote {len(rows):,} rows to {csv}")


def _text_or(value: object, default: str) -> str:
    """``value`` when it is text; ``default`` for None and pandas' NaN."""
    return value if isinstance(value, str) else default


@app.command()
def experiment(name: Annotated[str, typer.Argument(help="Experiment name.")]) -> None:
    """Treatment against control: repurchase and revenue at D7, D30 and D90 after exposure.

    Example: retain experiment campaign-C1a2b3c4d5e6
    """
    from retain.retention.tracking import experiment_report

    settings = get_settings()
    with _open_store(settings, read_only=True) as store:
        results = experiment_report(store, name)
    table = Table(title=f"experiment {name}")
    for column in ("horizon", "repurchase control", "treatment", "difference (95% CI)", "p",
                   "revenue/customer difference (CUPED, 95% CI)"):  # fmt: skip
        table.add_column(column)
    for r in results:
        if not r.ready or r.repurchase is None or r.revenue is None:
            table.add_row(f"D{r.days}", "pending", "", f"the window ends {r.ends}", "", "")
            continue
        rate, money = r.repurchase, r.revenue
        low, high = rate.ci_low * 100, rate.ci_high * 100
        table.add_row(
            f"D{r.days}",
            f"{rate.control:.1%} of {rate.n_control:,}",
            f"{rate.treatment:.1%} of {rate.n_treatment:,}",
            f"{rate.difference * 100:+.1f} pts [{low:+.1f}, {high:+.1f}]",
            f"{rate.p_value:.3g}",
            f"{money.difference:+,.2f} [{money.ci_low:+,.2f}, {money.ci_high:+,.2f}]",
        )
    out.print(table)


@app.command()
def serve(
    host: Annotated[str, typer.Option(help="Interface to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port.")] = 8000,
) -> None:
    """The service: the /v1 REST API (spec at /openapi.json) and the dashboard.

    Example: retain serve --port 8000, then open http://127.0.0.1:8000
    """
    import uvicorn

    from retain.serve.app import create_app

    err.print(f"Retain on http://{host}:{port} (API under /v1; Ctrl-C to stop)")
    uvicorn.run(
        create_app(get_settings()), host=host, port=port, log_level="warning", access_log=False
    )


@app.command()
def export(
    user_id: Annotated[str, typer.Argument(help="The customer's id.")],
    out_file: Annotated[Path | None, typer.Option("--out", help="Write the JSON here.")] = None,
) -> None:
    """Everything stored about one customer, as JSON (a data-access request).

    Example: retain export U00012 --out U00012.json
    """
    from retain.privacy import export_user

    with _open_store(get_settings(), read_only=True) as store:
        tables = export_user(store, user_id)
    _write_json({"user_id": fold_email_id(user_id), "tables": tables}, out_file)


@app.command()
def erase(
    user_id: Annotated[str, typer.Argument(help="The customer's id.")],
    yes: Annotated[bool, typer.Option("--yes", help="Confirm: this cannot be undone.")] = False,
) -> None:
    """Erase one customer from every table; the audit keeps counts, not the id.

    Retrain afterwards (retain run, or retain train ...), then `retain models
    prune KIND`, so that no stored model version holds them; a running
    service forgets them at once via DELETE /v1/users/{id}.

    Example: retain erase U00012 --yes
    """
    from retain.privacy import erase_user

    if not yes:
        raise _CommandError("erasing cannot be undone: add --yes to confirm")
    with _open_store(get_settings()) as store:
        report = erase_user(store, user_id)
    parts = ", ".join(f"{t} {n:,}" for t, n in sorted(report.rows_by_table.items())) or "nothing"
    out.print(f"erased {report.rows:,} rows ({parts}); audit request {report.request_id}")


@app.command()
def consent(
    user_id: Annotated[str, typer.Argument(help="The customer's id.")],
    accept: Annotated[
        bool | None,
        typer.Option(
            "--accept/--decline",
            help="Record an opt-in or an opt-out; without either, show the consent and its "
            "changes.",
        ),
    ] = None,
    source: Annotated[
        str | None, typer.Option(help="Where it came from, e.g. 'phone call'.")
    ] = None,
) -> None:
    """A customer's marketing consent: record an opt-in or opt-out, or show it.

    The change is logged in consent_log with when and where from, and the
    next campaign follows it (the same as PUT /v1/users/{id}/marketing-consent;
    with service.operational_url, in PostgreSQL for every replica).

    Example: retain consent U00012 --decline --source "phone call"
    Example: retain consent U00012
    """
    from retain.data.consent import ConsentChange, consent_view, record_consent

    user_id = canonical_user_id(user_id)
    settings = get_settings()
    ops = _operational(settings)
    if accept is not None:
        change = ConsentChange.new(
            user_id,
            accept,
            source=source,
            future_tolerance_seconds=settings.ingest.future_tolerance_seconds,
        )
        if ops is not None:
            recorded = ops.record_consent(change)
        else:
            with _open_store(settings) as store:
                recorded = record_consent(store, change)
        out.print(
            f"{user_id}: {'accepts' if recorded.marketing_consent else 'declined'} marketing"
            + ("" if recorded.applied else " (a later change was already recorded)")
        )
        return
    with _open_store(settings) as store:
        current, history = consent_view(store, user_id, ops)
    said = {True: "accepts marketing", False: "declined marketing", None: "consent not known"}
    out.print(f"{user_id}: {said[current]}")
    for h in history:
        what = "accepted" if h["marketing_consent"] else "declined"
        when = h["changed_at"][:19].replace("T", " ")
        out.print(f"  {when} UTC {what}" + (f" ({h['source']})" if h["source"] else ""))


@keys_app.command("create")
def keys_create(
    name: Annotated[str, typer.Argument(help="Who or what uses the key, e.g. storefront.")],
    role: Annotated[str, typer.Option(help="read, ingest or admin.")] = "read",
    rate: Annotated[
        float | None, typer.Option(help="Requests per second (default: service.rate_per_second).")
    ] = None,
) -> None:
    """Make an API key; it is printed once and only its hash is stored.

    Example: retain keys create storefront --role read --rate 2000
    """
    from retain.serve.keys import create_key

    settings = get_settings()
    ops = _operational(settings)
    if ops is not None:
        key, secret = ops.create_key(name, role, rate or settings.service.rate_per_second)
    else:
        with _open_store(settings) as store:
            key, secret = create_key(store, name, role, rate or settings.service.rate_per_second)
    err.print(f"key {key.key_id} ({key.role}, {key.rate_per_second:g} req/s) for {key.name}:")
    print(secret)


@keys_app.command("list")
def keys_list() -> None:
    """Every API key, without secrets.

    Example: retain keys list
    """
    from retain.serve.keys import list_keys

    settings = get_settings()
    ops = _operational(settings)
    if ops is not None:
        found = ops.list_keys()
    else:
        with _open_store(settings, read_only=True) as store:
            found = list_keys(store)
    table = Table(title="API keys")
    for column in ("id", "name", "role", "req/s", "created", "revoked"):
        table.add_column(column)
    for key in found:
        table.add_row(
            key.key_id,
            key.name,
            key.role,
            f"{key.rate_per_second:g}",
            f"{key.created_at:%Y-%m-%d %H:%M}",
            f"{key.revoked_at:%Y-%m-%d %H:%M}" if key.revoked_at else "",
        )
    out.print(table)


@keys_app.command("revoke")
def keys_revoke(key_id: Annotated[str, typer.Argument(help="The key's id (keys list).")]) -> None:
    """Revoke a key; a running service refuses it within a few seconds.

    Example: retain keys revoke 1a2b3c4d
    """
    from retain.serve.keys import revoke_key

    settings = get_settings()
    ops = _operational(settings)
    if ops is not None:
        ops.revoke_key(key_id)
    else:
        with _open_store(settings) as store:
            revoke_key(store, key_id)
    out.print(f"revoked {key_id}")


def _operational(settings: Settings) -> Any:
    """The operational PostgreSQL store when one is configured, else None."""
    url = settings.service.operational_url
    if url is None:
        return None
    from retain.serve.operational import PostgresStore

    return PostgresStore(url.get_secret_value())


@app.command("pull-events")
def pull_events(
    batch: Annotated[int, typer.Option(help="Rows fetched and committed at a time.")] = 50_000,
) -> None:
    """Copy what the service replicas wrote to PostgreSQL (events, assistant conversation
    turns and marketing consent changes) into the embedded store.

    Idempotent (by key), resumable, in commit order; run it before training.
    Needs service.operational_url.

    Example: RETAIN_SERVICE__OPERATIONAL_URL=postgresql://... retain pull-events
    """
    from retain.serve.operational import pull_events as pull

    settings = get_settings()
    ops = _operational(settings)
    if ops is None:
        raise _CommandError("no operational store: set service.operational_url (postgresql://...)")
    with _open_store(settings) as store:
        added = pull(ops, store, batch=batch)
    out.print(
        f"pulled {added:,} new events, conversation turns and consent changes into "
        f"{settings.resolved_store_url}"
    )


@models_app.command("list")
def models_list(
    kind: Annotated[
        str | None, typer.Argument(help="recommend, predict, ... (default: all).")
    ] = None,
) -> None:
    """Stored model versions, newest first; * marks the current one.

    Example: retain models list recommend
    """
    from retain.artifacts import list_versions

    root = get_settings().models_dir
    kinds = (
        [kind]
        if kind
        else sorted(p.name for p in root.iterdir() if p.is_dir())
        if root.is_dir()
        else []
    )
    table = Table(title=f"models under {root}")
    for column in ("kind", "version", "stored", "current"):
        table.add_column(column)
    for name in kinds:
        for v in list_versions(root, name):
            table.add_row(
                name, v.version, f"{v.created_at:%Y-%m-%d %H:%M}", "*" if v.current else ""
            )
    out.print(table)


@models_app.command("promote")
def models_promote(
    kind: Annotated[str, typer.Argument(help="recommend, predict, sentiment or assistant.")],
    version: Annotated[str, typer.Argument(help="A stored version (models list).")],
) -> None:
    """Make a stored version current; a running service swaps to it without a restart.

    Example: retain models promote recommend 3f2a1b4c5d6e
    """
    from retain.artifacts import promote

    promote(get_settings().models_dir, kind, version)
    out.print(f"{kind}: {version} is current")


@models_app.command("prune")
def models_prune(
    kind: Annotated[str, typer.Argument(help="recommend, predict, sentiment or assistant.")],
    keep: Annotated[int, typer.Option(help="Older versions kept for roll-back.")] = 0,
) -> None:
    """Delete stored versions except the current one (and --keep older ones).

    After `retain erase` and a retrain, this removes the model files that
    were trained on the erased customer's data.

    Example: retain models prune recommend --keep 1
    """
    from retain.artifacts import prune

    gone = prune(get_settings().models_dir, kind, keep)
    out.print(f"{kind}: deleted {len(gone)} version(s){': ' + ', '.join(gone) if gone else ''}")


@models_app.command("rollback")
def models_rollback(
    kind: Annotated[str, typer.Argument(help="recommend, predict, sentiment or assistant.")],
) -> None:
    """Make the previously current version current again.

    Example: retain models rollback recommend
    """
    from retain.artifacts import rollback

    version = rollback(get_settings().models_dir, kind)
    out.print(f"{kind}: rolled back to {version}")


@app.command()
def clusters(
    as_of: AsOfOption = None,
    k: Annotated[int | None, typer.Option(help="Number of clusters (default: chosen).")] = None,
    kind: Annotated[
        str,
        typer.Option(
            help="cluster: how customers shop (behaviour); taste: what they buy (category mix)."
        ),
    ] = "cluster",
) -> None:
    """Learned customer segments (k-means on behaviour or taste), each described in words.

    Shows the segments `retain train segments` stored (the ones the dashboard
    and the API use); with --as-of or --k it fits afresh to explore, and
    stores nothing.
    Example: retain clusters
    Example: retain clusters --kind taste
    """
    from retain.retention.cluster_training import LEARNED_KINDS, stored_clusters

    learned = LEARNED_KINDS.get(kind)
    if learned is None:
        raise _CommandError(f"--kind must be {' or '.join(LEARNED_KINDS)}; got {kind!r}")
    stored = None
    if as_of is None and k is None:
        with _open_store(get_settings(), read_only=True) as store:
            stored = stored_clusters(store, learned)
    if stored is not None:
        day, found = stored.as_of, stored.clusters
        title = f"{learned.title}s as of {day} (model {stored.version})"
    else:
        day, ((_, found),) = _read_as_of(
            as_of, lambda tables, day: learned.fit_now(tables, day, k=k), fetch=False
        )
        title = f"{learned.title}s as of {day}, fitted now and not stored"
    _print_clusters(title, found)


def _print_clusters(title: str, found: Sequence[Cluster]) -> None:
    table = Table(title=title)
    for column in ("segment", "customers", "what sets it apart"):
        table.add_column(column)
    for cluster in found:
        table.add_row(
            str(cluster.label),
            f"{cluster.customers:,} ({cluster.share:.0%})",
            cluster.description,
        )
    out.print(table)


@train_app.command("segments")
def train_segments_command(
    k: Annotated[int | None, typer.Option(help="Number of clusters (default: chosen).")] = None,
) -> None:
    """Learn customer segments from behaviour and from taste, and store who is in which.

    Behaviour (how customers shop) goes to customer_clusters and
    segment_clusters, model <data_dir>/models/segments; taste (the share of
    their purchases per category) to customer_tastes and taste_clusters,
    model <data_dir>/models/tastes, when the shop has purchase events of
    catalogued items. A retrain keeps the numbers of segments that are
    still there, so links and exported lists keep their meaning.
    Example: retain train segments
    """
    from retain.retention.cluster_training import BEHAVIOUR, TASTE, train_segments

    settings = get_settings()
    with _open_store(settings) as store:
        result = train_segments(store, settings.models_dir, k=k, kind=BEHAVIOUR)
        _print_segments_training(result)
        try:
            tastes = train_segments(store, settings.models_dir, k=k, kind=TASTE)
        except RetainError as exc:  # a shop without item purchases has no taste to learn
            out.print(f"no taste segments: {exc}")
        else:
            _print_segments_training(tastes)


def _print_segments_training(result: StoredClusters) -> None:
    kept = f"; kept the numbers {', '.join(map(str, result.carried))}" if result.carried else ""
    kind = result.kind
    out.print(
        f"{kind.model_kind} model {result.version} as of {result.as_of}: "
        f"{len(result.clusters)} {kind.title}s of "
        f"{sum(c.customers for c in result.clusters):,} customers in "
        f"{kind.customers_table}{kept}; try `retain clusters --kind {kind.name}`"
    )


@app.command("sample-size")
def sample_size(
    baseline: Annotated[float, typer.Option(help="Current rate, e.g. 0.10 for 10%.")],
    effect: Annotated[float, typer.Option(help="Smallest absolute change worth finding.")],
    confidence: Annotated[float, typer.Option(help="1 - false-positive rate.")] = 0.95,
    power: Annotated[float, typer.Option(help="Chance to detect the effect if real.")] = 0.8,
) -> None:
    """Users per arm an A/B test needs before anyone looks at the result.

    Example: retain sample-size --baseline 0.10 --effect 0.02
    """
    from retain.retention.experiments import sample_size_proportions

    n = sample_size_proportions(baseline, effect, confidence=confidence, power=power)
    out.print(
        f"{n:,} users per arm to detect {baseline:.2%} -> {baseline + effect:.2%} "
        f"with {confidence:.0%} confidence and {power:.0%} power; decide only once both "
        "arms have them (a fixed-horizon test)"
    )


@bench_app.command("predict")
def bench_predict(
    data: Annotated[
        Path | None, typer.Option(help="Transaction log; omit for the generated demo shop.")
    ] = None,
    format: Annotated[
        str | None, typer.Option(help="Loader format, e.g. cdnow; default from the file name.")
    ] = None,
    calibration_end: Annotated[
        str | None, typer.Option(help="Last day of the calibration period.")
    ] = None,
    holdout_end: Annotated[str | None, typer.Option(help="Last day of the holdout.")] = None,
    json_out: Annotated[Path | None, typer.Option("--json", help="Write the result here.")] = None,
    seed: Annotated[int, typer.Option(help="First random seed.")] = 0,
    seeds: Annotated[int, typer.Option(help="Fits with consecutive seeds; mean and std.")] = 1,
    store: Annotated[
        bool,
        typer.Option(
            "--store",
            help="Check the model on the shop's own store (read only): by default the last "
            "90 days are the holdout.",
        ),
    ] = False,
) -> None:
    """Holdout accuracy of churn / repurchase / value predictions against BG/NBD.

    Example: retain bench predict --data CDNOW_master.txt --format cdnow
    --calibration-end 1997-09-30 --holdout-end 1998-06-30 --json predict.json
    Example: retain bench predict --store      # on your own shop's history
    """
    from retain.predict.bench import run_predict_benchmark

    if data is not None and not data.is_file():
        raise _CommandError(f"no such file: {data}")
    if store and data is not None:
        raise _CommandError("give --data or --store, not both")
    options: dict[str, Any] = {
        "format": format,
        "calibration_end": _parse_day(calibration_end, "--calibration-end"),
        "holdout_end": _parse_day(holdout_end, "--holdout-end"),
        "seed": seed,
        "seeds": seeds,
    }
    if store:
        with _open_store(get_settings(), read_only=True) as opened:
            result = run_predict_benchmark(None, store=opened, **options)
    else:
        result = run_predict_benchmark(data, **options)
    _write_json(result, json_out)


@bench_app.command("popularity")
def bench_popularity(
    data: Annotated[
        Path | None, typer.Option(help="Orders with items (e.g. Online Retail); omit for the demo.")
    ] = None,
    format: Annotated[
        str | None, typer.Option(help="Loader format, e.g. online-retail; default from the name.")
    ] = None,
    horizon_days: Annotated[int, typer.Option(help="Days after each cutoff scored.")] = 30,
    k: Annotated[int, typer.Option(help="Length of the popularity list.")] = 10,
    json_out: Annotated[Path | None, typer.Option("--json", help="Write the result here.")] = None,
) -> None:
    """Time-decayed popularity against all-time counts at monthly cutoffs (what sells next).

    Example: retain bench popularity --data online_retail.csv.gz --format online-retail
    --json popularity.json
    """
    from retain.recommend.trend import run_popularity_benchmark

    if data is not None and not data.is_file():
        raise _CommandError(f"no such file: {data}")
    if horizon_days < 1 or k < 1:
        raise _CommandError("--horizon-days and --k must be at least 1")
    result = run_popularity_benchmark(data, format=format, horizon_days=horizon_days, k=k)
    _write_json(result, json_out)


@bench_app.command("retention")
def bench_retention(
    json_out: Annotated[Path | None, typer.Option("--json", help="Write the result here.")] = None,
    seeds: Annotated[int, typer.Option(help="Simulated shops (at least 2).")] = 5,
    customers: Annotated[int, typer.Option(help="Customers per shop.")] = 3000,
    budget_per_customer: Annotated[float, typer.Option(help="Budget per past customer.")] = 1.0,
    every_days: Annotated[
        int,
        typer.Option(help="A campaign every this many days over the 90 (0: once, on day 0)."),
    ] = 7,
) -> None:
    """Retention policies in the simulated shop at equal budget, with 95% intervals.

    Example: retain bench retention --seeds 5 --json retention.json
    """
    from retain.retention.bench import run_retention_benchmark

    if every_days < 0:
        raise _CommandError(f"--every-days must be 0 (once) or more; got {every_days}")
    result = run_retention_benchmark(
        seeds=seeds,
        customers=customers,
        budget_per_customer=budget_per_customer,
        every_days=every_days or None,
    )
    _write_json(result, json_out)


@bench_app.command("serve")
def bench_serve(
    json_out: Annotated[Path | None, typer.Option("--json", help="Write the result here.")] = None,
    seconds: Annotated[float, typer.Option(help="Length of each load phase.")] = 20.0,
    connections: Annotated[int, typer.Option(help="wrk's keep-alive connections.")] = 8,
) -> None:
    """Recommendation requests/s and latency of the running service, also during hot swaps.

    Serves the shop in the data directory (builds the demo shop when it has no
    recommender). Needs wrk (apt-get install wrk).

    Example: retain bench serve --json serve.json
    """
    from retain.serve.bench import run_serve_benchmark

    settings = get_settings()
    result = run_serve_benchmark(settings.data_dir, seconds=seconds, connections=connections)
    _write_json(result, json_out)


@bench_app.command("pages")
def bench_pages(
    json_out: Annotated[Path | None, typer.Option("--json", help="Write the result here.")] = None,
    repeats: Annotated[int, typer.Option(help="Timed fetches of each page.")] = 5,
) -> None:
    """Seconds each dashboard page takes on the shop in the data directory, as it is.

    Starts `retain serve` over the data directory and fetches every page in
    turn (see src/retain/serve/page_bench.py for the protocol).
    Example: retain bench pages --json pages.json
    """
    from retain.serve.page_bench import run_pages_benchmark

    result = run_pages_benchmark(get_settings().data_dir, repeats=repeats)
    _write_json(result, json_out)


@bench_app.command("recommend")
def bench_recommend(
    data: Annotated[Path, typer.Option(help="Sequence file: 'user item item ...' per line.")],
    attributes: Annotated[
        Path | None, typer.Option(help="item2attributes.json (item text for the content source).")
    ] = None,
    json_out: Annotated[Path | None, typer.Option("--json", help="Write the result here.")] = None,
    seeds: Annotated[int, typer.Option(help="Fits with seeds 0..N-1; mean and std.")] = 1,
    sequential: Annotated[
        bool, typer.Option(help="Train the SASRec source (and the SASRec baseline).")
    ] = True,
    baselines: Annotated[bool, typer.Option(help="Run the baselines in the same run.")] = True,
) -> None:
    """Leave-one-out full-ranking HR/NDCG against popularity, item-kNN, ALS and SASRec.

    Example: retain bench recommend --data Beauty.txt --attributes
    Beauty_item2attributes.json --json recommend.json
    """
    from dataclasses import replace

    from retain.recommend.bench import run_recommend_benchmark
    from retain.recommend.recommender import RecommendSettings

    for path in (data, attributes):
        if path is not None and not path.is_file():
            raise _CommandError(f"no such file: {path}")
    settings = replace(RecommendSettings(), sequential=sequential)
    result = run_recommend_benchmark(
        data, attributes=attributes, seeds=seeds, settings=settings, baselines=baselines
    )
    _write_json(result, json_out)


@train_app.command("assistant")
def train_assistant(
    data: Annotated[
        Path | None,
        typer.Option(help="The shop's labelled utterances: CSV text,category or the JSON layout."),
    ] = None,
    fine_tune_epochs: Annotated[
        int, typer.Option(help="Fine-tune the encoder first (worth it from a few thousand).")
    ] = 0,
) -> None:
    """Train the assistant's intent model: starter utterances plus the shop's own.

    Example: retain train assistant --data my_intents.csv
    """
    from retain.assistant.service import train_assistant as train
    from retain.data.loaders.intents import read_intents

    settings = get_settings()
    extra = read_intents(data) if data is not None else None
    from dataclasses import replace

    options = replace(_intent_settings(settings), fine_tune_epochs=fine_tune_epochs)
    result = train(settings.models_dir, extra, options)
    out.print(
        f"assistant model {result.version}: {len(result.intents)} intents "
        f"({', '.join(result.intents)}), {result.utterances:,} utterances, {result.seconds:.1f} s"
    )


@app.command()
def chat(
    user: Annotated[str, typer.Option(help="The customer you are talking as.")],
    conversation: Annotated[str | None, typer.Option(help="Continue this conversation id.")] = None,
    message: Annotated[
        list[str] | None,
        typer.Option("--message", "-m", help="Send this and exit (repeatable); else interactive."),
    ] = None,
) -> None:
    """Talk to the customer-service assistant as one customer (Ctrl-D ends).

    Example: retain chat --user U00012; retain chat --user U00012 -m "where is my order"
    """
    from retain.assistant.service import build_assistant

    settings = get_settings()
    with _open_store(settings) as store:
        bot = build_assistant(
            store,
            settings.models_dir,
            knowledge_encoder=settings.assistant.knowledge_encoder,
            language_encoders=settings.assistant.knowledge_language_encoders,
            llm=_llm(settings),
        )
        lines = iter(message) if message else _prompt_lines()
        for line in lines:
            reply = bot.reply(user, line, conversation)
            conversation = reply.conversation_id
            # No markup: "[kb-refunds-en]" in a citation is text, not a Rich style tag.
            out.print(f"bot: {reply.text}", markup=False, highlight=False)
        if conversation:
            err.print(f"conversation {conversation}")


def _intent_settings(settings: Settings) -> IntentSettings:
    from retain.assistant.intents import IntentSettings

    return IntentSettings(encoder=settings.assistant.intent_encoder)


def _prompt_lines() -> Iterator[str]:
    while True:
        try:
            yield input("you: ")
        except EOFError:
            return


@bench_app.command("intent")
def bench_intent(
    data: Annotated[Path, typer.Option(help="Training utterances: CSV text,category or JSON.")],
    test: Annotated[Path | None, typer.Option(help="Test CSV, when separate.")] = None,
    json_out: Annotated[Path | None, typer.Option("--json", help="Write the result here.")] = None,
    oos_intents: Annotated[
        int, typer.Option(help="Hold out this many intents as out-of-scope data.")
    ] = 0,
    oos_learned: Annotated[
        bool,
        typer.Option(
            "--oos-learned/--oos-threshold-only",
            help="Held-out intents' train utterances are learned as a class, or only set the "
            "threshold.",
        ),
    ] = True,
    seed: Annotated[
        int, typer.Option(help="Seed of the calibration split and held-out intents.")
    ] = 0,
    fine_tune_epochs: Annotated[
        int, typer.Option(help="Fine-tune the encoder this many epochs first (0: frozen).")
    ] = 5,
    fine_tune_bf16: Annotated[
        bool,
        typer.Option(
            help="Fine-tune in bfloat16 where the CPU has it natively (float32 elsewhere)."
        ),
    ] = True,
    int8: Annotated[
        bool,
        typer.Option(help="Serve the tuned encoder in int8 (faster, less accurate)."),
    ] = False,
    baselines: Annotated[bool, typer.Option(help="Run the baselines in the same run.")] = True,
) -> None:
    """Intent accuracy, macro-F1, out-of-scope recall/precision and latency, with baselines.

    Example: retain bench intent --data banking77/train.csv --test banking77/test.csv
    --json intent.json
    """
    from retain.assistant.bench import run_intent_benchmark

    result = run_intent_benchmark(
        data,
        test=test,
        oos_intents=oos_intents,
        oos_learned=oos_learned,
        seed=seed,
        fine_tune_epochs=fine_tune_epochs,
        fine_tune_bf16=fine_tune_bf16,
        int8=int8,
        baselines=baselines,
    )
    _write_json(result, json_out)


@bench_app.command("assistant")
def bench_assistant(
    data: Annotated[
        Path,
        typer.Option(
            help="Labelled questions: Bitext CSV (utterance,intent) or text,category; "
            "with --format ecd, the ECD sample's folder or one of its files."
        ),
    ],
    json_out: Annotated[Path | None, typer.Option("--json", help="Write the result here.")] = None,
    per_intent: Annotated[int, typer.Option(help="Questions drawn per intent.")] = 60,
    seed: Annotated[int, typer.Option(help="Seed of the draw.")] = 0,
    baselines: Annotated[bool, typer.Option(help="Run the baselines in the same run.")] = True,
    kb: Annotated[
        Path | None,
        typer.Option(help="Knowledge base: the Ecommerce FAQ JSON instead of the demo articles."),
    ] = None,
    data_format: Annotated[
        str,
        typer.Option(
            "--format",
            help="intents (labelled questions) or ecd (real Chinese shoppers' turns, "
            "scored against this project's labels).",
        ),
    ] = "intents",
) -> None:
    """What the assistant does with each question's first message: right answer, wrong answer,
    "I don't know" or a person; with the knowledge-base baselines.

    Example: retain bench assistant --data cs-8k/Bitext_Sample_Customer_Service_Training_Dataset.csv
    --json assistant.json
    """
    from retain.assistant.answer_bench import run_answer_benchmark

    if data_format not in ("intents", "ecd"):
        raise _CommandError(f"--format must be intents or ecd, got {data_format!r}")
    result = run_answer_benchmark(
        data,
        per_intent=per_intent,
        seed=seed,
        baselines=baselines,
        kb=kb,
        data_format="ecd" if data_format == "ecd" else "intents",
    )
    _write_json(result, json_out)


@bench_app.command("chat-sentiment")
def bench_chat_sentiment(
    reviews: Annotated[
        Path, typer.Option(help="Labelled reviews, as `retain bench sentiment --data` reads them.")
    ],
    data: Annotated[
        Path, typer.Option(help="Customer-service messages: Bitext CSV or text,category.")
    ],
    json_out: Annotated[Path | None, typer.Option("--json", help="Write the result here.")] = None,
    complaint_intent: Annotated[str, typer.Option(help="The intent of complaints.")] = "complaint",
) -> None:
    """Does the review sentiment model flag complaints in chat more than other messages?

    Example: retain bench chat-sentiment --reviews amazon-multidomain-sentiment
    --data cs-8k/Bitext_Sample_Customer_Service_Training_Dataset.csv --json chat.json
    """
    from retain.assistant.anger_bench import run_chat_sentiment_benchmark

    result = run_chat_sentiment_benchmark(reviews, data, complaint_intent=complaint_intent)
    _write_json(result, json_out)


def _llm(settings: Settings) -> Any:
    """The configured OpenAI-compatible backend, or None (templates only)."""
    from retain.assistant.responder import LLMBackend

    return LLMBackend.from_config(settings.assistant)


@train_app.command("sentiment")
def train_sentiment(
    data: Annotated[
        Path | None,
        typer.Option(help="Train on this labelled CSV (label,review[,cat]) instead of the store."),
    ] = None,
    encoder: Annotated[
        str | None,
        typer.Option(help="Add this encoder's embeddings (any sentence-transformers name)."),
    ] = None,
    encoding: Annotated[
        str | None, typer.Option(help="The --data CSV's encoding, e.g. gb18030; default UTF-8.")
    ] = None,
) -> None:
    """Train the review model, score every review into review_scores, raise review_alerts.

    Without --data it learns from the store's reviews: their label, else a rating
    of 4-5 (positive) or 1-2 (negative). Example: retain train sentiment
    """
    from retain.sentiment.model import SentimentSettings
    from retain.sentiment.service import labelled_reviews_from_csv
    from retain.sentiment.service import train_sentiment as train

    settings = get_settings()
    training = labelled_reviews_from_csv(data, encoding) if data is not None else None
    if training is not None and training.skipped:
        line, reason = training.skipped[0]
        err.print(f"left out {len(training.skipped)} rows (first: line {line}, {reason})")
    with _open_store(settings) as store:
        result = train(
            store,
            settings.models_dir,
            data=training,
            settings=SentimentSettings(encoder=encoder),
            llm=_llm(settings),
            currency=settings.currency,
        )
    out.print(
        f"sentiment model {result.version}: {result.reviews:,} reviews "
        f"({result.positive_share:.0%} positive), validation accuracy "
        f"{result.validation_accuracy:.3f}, {result.seconds:.1f} s; scored {result.scored:,} "
        f"reviews, {result.alerts} alerts"
    )


@app.command()
def sentiment(
    texts: Annotated[list[str], typer.Argument(help="Review texts to score.")],
) -> None:
    """Score review texts with the published model: polarity, confidence, aspects.

    Example: retain sentiment "物流很快，但是包装破了" "Great value, runs small"
    """
    from retain.sentiment.service import load_current, score_texts

    model = load_current(get_settings().models_dir)
    for text, score, mentions in score_texts(model, texts):
        if score.label is None:
            out.print(f"{text!r}: {score.note}", markup=False)
            continue
        polarity = "positive" if score.label == 1 else "negative"
        marks = (f"{m.aspect} {'+' if m.polarity == 'positive' else '-'}" for m in mentions)
        found = ", ".join(dict.fromkeys(marks))  # one mark per aspect and polarity
        out.print(
            f"{polarity} ({score.p_positive:.2f}) {score.language}"
            + (f" | {found}" if found else "")
            + f" | {text}",
            markup=False,
            highlight=False,
        )
    if model.training_note:
        out.print(f"note: {model.training_note}", markup=False, highlight=False)


@app.command()
def alerts(
    top: Annotated[int, typer.Option(help="Alerts to show.")] = 10,
) -> None:
    """Negative reviews to answer first, with reasons and a drafted reply.

    Example: retain alerts --top 5
    """
    from retain.sentiment.service import top_alerts

    settings = get_settings()
    with _open_store(settings, read_only=True) as store:
        rows = top_alerts(store, top)
    if rows.empty:
        out.print("no open alerts: no negative review in the alert window")
    for row in rows.itertuples():
        out.print(
            f"[{row.priority}] {row.review_id} by {row.user_id} on {row.item_id} "
            f"({row.ts:%Y-%m-%d}): {row.text}",
            markup=False,
            highlight=False,
        )
        out.print("  why: " + "; ".join(json.loads(str(row.reasons))), markup=False)
        out.print(f"  draft: {row.draft}", markup=False, highlight=False)


@app.command()
def aspects(
    by: Annotated[str, typer.Option(help="item, category or week.")] = "category",
    top: Annotated[int, typer.Option(help="Aspects shown per group.")] = 3,
) -> None:
    """Why sentiment moves: aspect mentions and their negative share per item, category or week.

    Example: retain aspects --by week
    """
    from retain.sentiment.service import aspect_summary

    settings = get_settings()
    with _open_store(settings, read_only=True) as store:
        frame = aspect_summary(store, by, top=top)
    table = Table(show_header=True)
    for column in (by, "aspect", "mentions", "negative"):
        table.add_column(column, justify="right" if column in ("mentions", "negative") else "left")
    for row in frame.itertuples(index=False):
        table.add_row(str(row[0]), str(row[1]), f"{row[2]:,}", f"{row[3]:.0%}")
    out.print(table)


@bench_app.command("sentiment")
def bench_sentiment(
    data: Annotated[Path, typer.Option(help="Review CSV with columns label,review[,cat].")],
    json_out: Annotated[Path | None, typer.Option("--json", help="Write the result here.")] = None,
    seed: Annotated[int, typer.Option(help="Seed of the 80/10/10 split.")] = 0,
    encoder: Annotated[
        str | None, typer.Option(help="Also measure this frozen encoder + logistic regression.")
    ] = None,
    encoder_limit: Annotated[
        int | None, typer.Option(help="Train the encoder baseline on at most this many reviews.")
    ] = None,
    baselines: Annotated[bool, typer.Option(help="Run the baselines in the same run.")] = True,
    encoding: Annotated[
        str | None, typer.Option(help="The CSV's encoding, e.g. gb18030; default UTF-8.")
    ] = None,
) -> None:
    """Review polarity: accuracy, macro-F1, speed, and the character n-gram baseline.

    Example: retain bench sentiment --data online_shopping_10_cats.csv --json sentiment.json
    """
    from retain.sentiment.bench import run_sentiment_benchmark
    from retain.sentiment.service import labelled_reviews_from_csv

    source = labelled_reviews_from_csv(data, encoding) if encoding is not None else data
    result = run_sentiment_benchmark(
        source, seed=seed, encoder=encoder, encoder_limit=encoder_limit, baselines=baselines
    )
    _write_json(result, json_out)


@bench_app.command("aspects")
def bench_aspects(
    data: Annotated[Path, typer.Option(help="Aspect terms, SemEval-2014 .xml.seg layout (test).")],
    reviews: Annotated[
        Path, typer.Option(help="Labelled reviews that train the review model (label,review CSV).")
    ],
    dev: Annotated[
        Path | None, typer.Option(help="A training .xml.seg file: sweep the widening bar there.")
    ] = None,
    json_out: Annotated[Path | None, typer.Option("--json", help="Write the result here.")] = None,
    seed: Annotated[int, typer.Option(help="Seed of the review model.")] = 0,
) -> None:
    """Aspect polarity against people's labels: Retain's span rule and the sentence baseline.

    Example: retain bench aspects --data Laptops_Test_Gold.xml.seg --reviews reviews.csv
    """
    from retain.sentiment.aspect_bench import run_aspect_benchmark

    _write_json(run_aspect_benchmark(data, reviews, dev=dev, seed=seed), json_out)


@bench_app.command("predict-scale")
def bench_predict_scale(
    customers: Annotated[int, typer.Option(help="Simulated customers.")] = 1_000_000,
    json_out: Annotated[Path | None, typer.Option("--json", help="Write the result here.")] = None,
    seed: Annotated[int, typer.Option(help="Random seed.")] = 0,
) -> None:
    """Seconds to fit and score simulated customers (BG/NBD with CDNOW parameters).

    Example: retain bench predict-scale --customers 1000000 --json scale.json
    """
    from retain.predict.bench import run_scale_benchmark

    if customers < 1000:
        raise _CommandError(f"--customers must be at least 1000; got {customers}")
    _write_json(run_scale_benchmark(customers, seed=seed), json_out)


@bench_app.command("text-vectors")
def bench_text_vectors(
    json_out: Annotated[Path | None, typer.Option("--json", help="Write the result here.")] = None,
    changed: Annotated[
        float, typer.Option(help="Share of item texts changed before the retrain.")
    ] = 0.01,
    model: Annotated[str, typer.Option(help="Sentence encoder name.")] = "all-MiniLM-L6-v2",
) -> None:
    """Seconds a retrain spends embedding the catalogue, with stored vectors and without.

    Reads the shop in the data directory (see src/retain/text/bench.py for
    the protocol). Example: retain bench text-vectors --json vectors.json
    """
    from retain.text.bench import run_text_vectors_benchmark

    if not 0.0 <= changed <= 1.0:
        raise _CommandError(f"--changed must be between 0 and 1; got {changed}")
    store_url = get_settings().resolved_store_url
    _write_json(run_text_vectors_benchmark(store_url, changed=changed, model=model), json_out)


def main() -> None:
    """Entry point: run the app, turning Retain's errors into one line and exit 1.

    Usage mistakes are typer's to report (exit 2); anything else is a bug and
    keeps its traceback.
    """
    try:
        app()
    except (RetainError, _CommandError) as exc:
        err.print(f"error: {exc}", highlight=False, markup=False)
        sys.exit(1)


if __name__ == "__main__":
    main()
