"""Recommendation: ``train recommend``, ``recommend`` and its benchmarks."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.table import Table

from retain.cli.base import (
    CommandError,
    app,
    bench_app,
    err,
    open_store,
    out,
    train_app,
    write_json,
)
from retain.cli.printing import print_recommend_training
from retain.config import get_settings

if TYPE_CHECKING:  # the model stack (LightGBM, scikit-learn) loads only for commands that use it
    pass


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
    with open_store(settings) as store:
        result = train_and_recommend(
            store, settings.models_dir, options, k=k or settings.recommend.k
        )
    print_recommend_training(result)


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
        raise CommandError(f"no such file: {data}")
    if horizon_days < 1 or k < 1:
        raise CommandError("--horizon-days and --k must be at least 1")
    result = run_popularity_benchmark(data, format=format, horizon_days=horizon_days, k=k)
    write_json(result, json_out)


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
            raise CommandError(f"no such file: {path}")
    settings = replace(RecommendSettings(), sequential=sequential)
    result = run_recommend_benchmark(
        data, attributes=attributes, seeds=seeds, settings=settings, baselines=baselines
    )
    write_json(result, json_out)


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
        raise CommandError(f"--changed must be between 0 and 1; got {changed}")
    store_url = get_settings().resolved_store_url
    write_json(run_text_vectors_benchmark(store_url, changed=changed, model=model), json_out)
