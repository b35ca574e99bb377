"""The main job behind ``make run``: build the demo shop, load it, train, score, plan.

Capabilities add their training and scoring steps here as they arrive; the
job stays a plain function so tests and notebooks can run it too.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from retain.assistant.intents import IntentSettings
from retain.assistant.service import AssistantTrainResult, train_assistant
from retain.data.ingest import IngestReport, ingest_file
from retain.data.store import Store
from retain.data.summary import shop_summary
from retain.demo import DEMO_FILES, generate_demo_shop
from retain.errors import ConvergenceError, InvalidInputError, NotFoundError
from retain.predict.scoring import TrainResult, train_and_score
from retain.recommend.recommender import RecommendSettings
from retain.recommend.scoring import RecommendTrainResult, train_and_recommend
from retain.retention.campaign import INTERVENTIONS_TABLE, CampaignResult, build_campaign
from retain.retention.cluster_training import TASTE, StoredClusters, train_segments
from retain.retention.policy import DEFAULT_ACTIONS, Action
from retain.sentiment.service import SentimentTrainResult, build_alerts, train_sentiment
from retain.sentiment.service import load_current as load_sentiment

__all__ = ["MainJobResult", "TrainingRun", "run_main_job", "train_everything"]


@dataclass
class TrainingRun:
    """What :func:`train_everything` trained, and what it left out and why."""

    predict: TrainResult | None = None
    recommend: RecommendTrainResult | None = None
    assistant: AssistantTrainResult | None = None
    sentiment: SentimentTrainResult | None = None
    segments: StoredClusters | None = None
    tastes: StoredClusters | None = None
    #: Step -> why it did not run (only with ``skip_missing``).
    skipped: dict[str, str] = field(default_factory=dict)


@dataclass
class MainJobResult(TrainingRun):
    """What the main job did."""

    demo_dir: Path = Path()
    generated: bool = False
    reports: list[IngestReport] = field(default_factory=list)
    summary: dict[str, Any] = field(default_factory=dict)
    campaign: CampaignResult | None = None


def train_everything(
    store: Store,
    models_root: Path,
    *,
    on_step: Callable[[str], None] | None = None,
    recommend_settings: RecommendSettings | None = None,
    intent_settings: IntentSettings | None = None,
    skip_missing: bool = False,
    into: TrainingRun | None = None,
    currency: str | None = None,
) -> TrainingRun:
    """Train every capability on the store as it is, in the order their inputs need.

    The review model scores reviews first, because the churn features count
    the reviews it reads as negative; the churn models then score every
    customer; segments and review alerts (valuable and at-risk writers first)
    read those scores; the recommender and the assistant come last. This is
    what ``retain run`` does after loading the demo shop, and what ``retain
    train all`` does on a shop's own data.

    With ``skip_missing`` a step whose input the shop does not have (no
    reviews, no events, ...) is recorded in ``skipped`` with the reason and
    the others still run; without it, the first such error is raised.
    ``currency`` (the shop's) writes the amounts in reasons and alerts.
    """
    run = into if into is not None else TrainingRun()

    def step(name: str, message: str, train: Callable[[], Any]) -> Any:
        _say(on_step, message)
        try:
            return train()
        except (InvalidInputError, NotFoundError, ConvergenceError) as exc:
            if not skip_missing:
                raise
            run.skipped[name] = str(exc)
            _say(on_step, f"skipped {name}: {exc}")
            return None

    sentiment = step(
        "sentiment",
        "training the review model; scoring review_scores",
        lambda: train_sentiment(store, models_root, raise_alerts=False),
    )
    run.predict = step(
        "predict",
        "training churn / repurchase / lifetime-value models; scoring user_scores",
        lambda: train_and_score(store, models_root, horizon_days=90, currency=currency),
    )
    run.segments = step(
        "segments",
        "learning customer segments; writing customer_clusters",
        lambda: train_segments(store, models_root),
    )
    run.tastes = step(
        "tastes",
        "learning taste segments (what customers buy); writing customer_tastes",
        lambda: train_segments(store, models_root, kind=TASTE),
    )
    if sentiment is not None:
        _say(on_step, "raising review_alerts, valuable and at-risk writers first")
        model = load_sentiment(models_root, sentiment.version)
        alerts = build_alerts(store, model, currency=currency)
        run.sentiment = replace(sentiment, alerts=alerts)
    run.recommend = step(
        "recommend",
        "training the recommender; writing every user's list to recommendations",
        lambda: train_and_recommend(store, models_root, recommend_settings),
    )
    run.assistant = step(
        "assistant",
        "training the customer-service assistant's intent model",
        lambda: train_assistant(models_root, settings=intent_settings),
    )
    return run


def run_main_job(
    store: Store,
    data_dir: Path,
    *,
    seed: int = 7,
    fresh: bool = False,
    batch_size: int = 100_000,
    on_step: Callable[[str], None] | None = None,
    recommend_settings: RecommendSettings | None = None,
    intent_settings: IntentSettings | None = None,
    actions: Sequence[Action] = DEFAULT_ACTIONS,
    currency: str | None = None,
    require_consent: bool = False,
) -> MainJobResult:
    """Generate the demo shop (unless present), ingest every file, train and score.

    The first campaign plans with ``actions`` (the shop's configured offers).

    Re-running is cheap and safe: existing files are reused and ingestion is
    idempotent, so a second run reports everything as duplicates; training the
    same data again publishes the same model version.
    """
    demo_dir = data_dir / "demo"
    generated = fresh or not (demo_dir / "manifest.json").is_file()
    if generated:
        _say(on_step, f"writing the demo shop to {demo_dir}")
        generate_demo_shop(demo_dir, seed=seed)
    result = MainJobResult(demo_dir=demo_dir, generated=generated)
    for name, table in DEMO_FILES.items():
        _say(on_step, f"ingesting {name} into {table}")
        result.reports.append(ingest_file(store, table, demo_dir / name, batch_size=batch_size))
    store.checkpoint()
    result.summary = shop_summary(store)
    train_everything(
        store,
        data_dir / "models",
        on_step=on_step,
        recommend_settings=recommend_settings,
        intent_settings=intent_settings,
        into=result,
        currency=currency,
    )
    if not store.has_table(INTERVENTIONS_TABLE):  # one demo campaign, not one per run
        _say(on_step, "planning a first campaign (budget 1,000, 20% held out as control)")
        result.campaign = build_campaign(
            store,
            1000.0,
            holdout=0.2,
            actions=actions,
            currency=currency,
            require_consent=require_consent,
        )
    return result


def _say(on_step: Callable[[str], None] | None, message: str) -> None:
    if on_step is not None:
        on_step(message)
