"""The main job: ``retain run`` (demo shop, every model, a campaign) and
``retain train all``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

import typer

from retain.cli.base import CommandError, app, err, intent_settings, open_store, out, train_app
from retain.cli.printing import (
    print_recommend_training,
    print_report,
    print_segments_training,
    print_summary,
    print_training,
)
from retain.config import get_settings

if TYPE_CHECKING:  # the model stack (LightGBM, scikit-learn) loads only for commands that use it
    from retain.main_job import TrainingRun


@app.command()
def run(
    fresh: Annotated[bool, typer.Option(help="Regenerate the demo shop first.")] = False,
) -> None:
    """The main job: build the demo shop, load it into the store, summarise.

    Example: RETAIN_DATA_DIR=/tmp/shop retain run
    """
    from retain.main_job import run_main_job

    settings = get_settings()
    with open_store(settings) as store:
        result = run_main_job(
            store,
            settings.data_dir,
            fresh=fresh,
            batch_size=settings.ingest.batch_size,
            on_step=lambda m: err.print(f"[dim]- {m}[/dim]"),
            recommend_settings=settings.recommend.to_settings(),
            intent_settings=intent_settings(settings),
            actions=settings.campaign.to_actions(),
            currency=settings.currency,
            require_consent=settings.campaign.require_consent,
        )
    for report in result.reports:
        print_report(report)
    print_summary(result.summary, settings)
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
        print_training(run.predict)
    if run.recommend is not None:
        print_recommend_training(run.recommend)
    if run.sentiment is not None:
        out.print(
            f"sentiment model {run.sentiment.version}: scored {run.sentiment.scored:,} "
            f"reviews into review_scores, {run.sentiment.alerts} alerts; try `retain alerts`"
        )
    for segments in (run.segments, run.tastes):
        if segments is not None:
            print_segments_training(segments)
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
    with open_store(settings) as store:
        run = train_everything(
            store,
            settings.models_dir,
            on_step=lambda m: err.print(f"[dim]- {m}[/dim]"),
            recommend_settings=settings.recommend.to_settings(),
            intent_settings=intent_settings(settings),
            skip_missing=True,
            currency=settings.currency,
        )
    _print_training_run(run)
    if not any((run.predict, run.recommend, run.sentiment, run.segments)):
        raise CommandError(
            "nothing trained: the store has no orders, events or reviews to learn from"
        )
