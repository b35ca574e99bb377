"""Review sentiment: ``train sentiment``, ``sentiment``, ``alerts``, ``aspects``
and their benchmarks.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from retain.cli.base import app, bench_app, err, llm_backend, open_store, out, train_app, write_json
from retain.config import get_settings


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
    with open_store(settings) as store:
        result = train(
            store,
            settings.models_dir,
            data=training,
            settings=SentimentSettings(encoder=encoder),
            llm=llm_backend(settings),
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
    with open_store(settings, read_only=True) as store:
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
    with open_store(settings, read_only=True) as store:
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
    train_size: Annotated[
        int | None,
        typer.Option(help="Train every model on this many reviews: a shop with few labelled."),
    ] = None,
) -> None:
    """Review polarity: accuracy, macro-F1, speed, and the character n-gram baseline.

    Example: retain bench sentiment --data online_shopping_10_cats.csv --json sentiment.json
    """
    from retain.sentiment.bench import run_sentiment_benchmark
    from retain.sentiment.service import labelled_reviews_from_csv

    source = labelled_reviews_from_csv(data, encoding) if encoding is not None else data
    result = run_sentiment_benchmark(
        source,
        seed=seed,
        encoder=encoder,
        encoder_limit=encoder_limit,
        baselines=baselines,
        train_size=train_size,
    )
    write_json(result, json_out)


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

    write_json(run_aspect_benchmark(data, reviews, dev=dev, seed=seed), json_out)
