"""Behaviour prediction: ``train predict``, ``scores``, ``bench predict`` and
``bench predict-scale``.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, cast

import typer
from rich.table import Table

from retain.cli.base import (
    CommandError,
    app,
    bench_app,
    money,
    open_store,
    out,
    parse_day,
    train_app,
    write_json,
)
from retain.cli.printing import print_training
from retain.config import get_settings

if TYPE_CHECKING:  # the model stack (LightGBM, scikit-learn) loads only for commands that use it
    pass


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
    with open_store(settings) as store:
        result = train_and_score(
            store,
            settings.models_dir,
            cutoff=parse_day(cutoff, "--cutoff"),
            horizon_days=horizon_days,
            check=check,
            currency=settings.currency,
        )
    print_training(result)


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
    with open_store(settings, read_only=True) as store:
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
            money(cast(float, row.expected_lifetime_value)),
            "; ".join(cast(list[str], row.reasons)),
        )
    out.print(table)
    if len(rows):
        first = rows.iloc[0]
        out.print(
            f"model {first.model_version}, as of {first.cutoff:%Y-%m-%d}, "
            f"next {first.horizon_days} days"
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
        raise CommandError(f"no such file: {data}")
    if store and data is not None:
        raise CommandError("give --data or --store, not both")
    options: dict[str, Any] = {
        "format": format,
        "calibration_end": parse_day(calibration_end, "--calibration-end"),
        "holdout_end": parse_day(holdout_end, "--holdout-end"),
        "seed": seed,
        "seeds": seeds,
    }
    if store:
        with open_store(get_settings(), read_only=True) as opened:
            result = run_predict_benchmark(None, store=opened, **options)
    else:
        result = run_predict_benchmark(data, **options)
    write_json(result, json_out)


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
        raise CommandError(f"--customers must be at least 1000; got {customers}")
    write_json(run_scale_benchmark(customers, seed=seed), json_out)
