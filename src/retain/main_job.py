"""The main job behind ``make run``: build the demo shop, load it, train, score, plan.

Capabilities add their training and scoring steps here as they arrive; the
job stays a plain function so tests and notebooks can run it too.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from retain.assistant.intents import IntentSettings
from retain.assistant.service import AssistantTrainResult, train_assistant
from retain.data.ingest import IngestReport, ingest_file
from retain.data.store import Store
from retain.data.summary import shop_summary
from retain.demo import DEMO_FILES, generate_demo_shop
from retain.predict.scoring import TrainResult, train_and_score
from retain.recommend.recommender import RecommendSettings
from retain.recommend.scoring import RecommendTrainResult, train_and_recommend
from retain.retention.campaign import INTERVENTIONS_TABLE, CampaignResult, build_campaign
from retain.retention.cluster_training import StoredClusters, train_segments
from retain.sentiment.service import SentimentTrainResult, build_alerts, train_sentiment
from retain.sentiment.service import load_current as load_sentiment

__all__ = ["MainJobResult", "run_main_job"]


@dataclass
class MainJobResult:
    """What the main job did."""

    demo_dir: Path
    generated: bool
    reports: list[IngestReport] = field(default_factory=list)
    summary: dict[str, Any] = field(default_factory=dict)
    predict: TrainResult | None = None
    recommend: RecommendTrainResult | None = None
    campaign: CampaignResult | None = None
    assistant: AssistantTrainResult | None = None
    sentiment: SentimentTrainResult | None = None
    segments: StoredClusters | None = None


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
) -> MainJobResult:
    """Generate the demo shop (unless present), ingest every file, train and score.

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
    # Reviews first: the churn features count the reviews the model reads as negative,
    # and the alerts then rank writers by the fresh churn risk and value.
    _say(on_step, "training the review model; scoring review_scores")
    sentiment = train_sentiment(store, data_dir / "models", raise_alerts=False)
    _say(on_step, "training churn / repurchase / lifetime-value models; scoring user_scores")
    result.predict = train_and_score(store, data_dir / "models", horizon_days=90)
    _say(on_step, "learning customer segments; writing customer_clusters")
    result.segments = train_segments(store, data_dir / "models")
    _say(on_step, "raising review_alerts, valuable and at-risk writers first")
    alerts = build_alerts(store, load_sentiment(data_dir / "models", sentiment.version))
    result.sentiment = replace(sentiment, alerts=alerts)
    _say(on_step, "training the recommender; writing every user's list to recommendations")
    result.recommend = train_and_recommend(store, data_dir / "models", recommend_settings)
    _say(on_step, "training the customer-service assistant's intent model")
    result.assistant = train_assistant(data_dir / "models", settings=intent_settings)
    if not store.has_table(INTERVENTIONS_TABLE):  # one demo campaign, not one per run
        _say(on_step, "planning a first campaign (budget 1,000, 20% held out as control)")
        result.campaign = build_campaign(store, 1000.0, holdout=0.2)
    return result


def _say(on_step: Callable[[str], None] | None, message: str) -> None:
    if on_step is not None:
        on_step(message)
