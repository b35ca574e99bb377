"""Train on the store, publish the model, and write every user's list to ``recommendations``.

``recommendations`` has one row per user and rank, with the reason and the
model version; it is replaced atomically, so the dashboard and the service
never read half a run. The model lives under ``<data_dir>/models/recommend``.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from pathlib import Path

import ibis
import pyarrow as pa

from retain.artifacts import publish, version_path
from retain.data.store import Store
from retain.errors import NotFoundError
from retain.features.customer import FeatureTables
from retain.features.purchases import has_purchase_events, order_item_purchases
from retain.recommend.recommender import Recommender, RecommendSettings
from retain.text.stored_vectors import StoredVectors

__all__ = [
    "MODEL_KIND",
    "RECOMMENDATIONS_TABLE",
    "RecommendTrainResult",
    "interactions",
    "load_current",
    "train_and_recommend",
]

MODEL_KIND = "recommend"
RECOMMENDATIONS_TABLE = "recommendations"


@dataclass(frozen=True)
class RecommendTrainResult:
    """What ``retain train recommend`` did."""

    version: str
    users: int
    items: int
    rows_written: int
    blend_weights: dict[str, float]
    holdout_ndcg10: float
    seconds: float


def train_and_recommend(
    store: Store,
    models_root: Path,
    settings: RecommendSettings | None = None,
    *,
    k: int = 20,
) -> RecommendTrainResult:
    """Fit on ``events`` and ``items``, publish, and batch-score every user.

    A shop without purchase events learns from its orders' item lists as
    purchases (:func:`interactions`), so order exports alone are enough.
    """
    events = interactions(store)
    if events.num_rows == 0:
        raise NotFoundError(
            "no events and no orders that list their items in the store; ingest some first "
            "(retain ingest events FILE, or retain ingest orders FILE --lines)"
        )
    items = store.table("items") if store.has_table("items") else None
    rec = Recommender(settings, text_vectors=StoredVectors(store)).fit(events, items)
    version = publish(models_root, MODEL_KIND, rec.save)
    rows = write_recommendations(store, rec, version, k=k)
    assert rec.report is not None
    return RecommendTrainResult(
        version=version,
        users=rec.report.users,
        items=rec.report.items,
        rows_written=rows,
        blend_weights=rec.report.blend_weights,
        holdout_ndcg10=rec.report.holdout_ndcg10,
        seconds=rec.report.seconds.get("total", 0.0),
    )


def interactions(store: Store) -> pa.Table:
    """``user_id, item_id, event_type, ts`` the recommender learns from: the events, and
    when none of them is a purchase, each item line of the orders as a ``purchase``
    (the rule of :func:`retain.features.purchases.purchased_items`)."""
    events = store.query_arrow(
        "SELECT user_id, item_id, event_type, ts FROM events WHERE item_id IS NOT NULL"
    )
    tables = FeatureTables.from_store(store)
    if has_purchase_events(tables):
        return events
    lines = order_item_purchases(tables)
    if lines is None:
        return events
    bought = lines.mutate(event_type=ibis.literal("purchase"))
    bought_arrow = tables.runner(bought.select("user_id", "item_id", "event_type", "ts"))
    return pa.concat_tables([events, bought_arrow.cast(events.schema)])


def write_recommendations(store: Store, rec: Recommender, version: str, *, k: int = 20) -> int:
    """Replace ``recommendations`` with every known user's top ``k``."""
    users = sorted(rec.histories)
    lists = rec.recommend_many(users, k=k)
    columns: dict[str, list[object]] = {
        "user_id": [],
        "rank": [],
        "item_id": [],
        "score": [],
        "reason": [],
        "source": [],
    }
    for answer in lists:
        for rank, item in enumerate(answer.items, start=1):
            columns["user_id"].append(answer.user_id)
            columns["rank"].append(rank)
            columns["item_id"].append(item.item_id)
            columns["score"].append(item.score)
            columns["reason"].append(item.reason)
            columns["source"].append(item.source)
    n = len(columns["user_id"])
    table = pa.table(
        {
            "user_id": pa.array(columns["user_id"], pa.string()),
            "rank": pa.array(columns["rank"], pa.int32()),
            "item_id": pa.array(columns["item_id"], pa.string()),
            "score": pa.array(columns["score"], pa.float64()),
            "reason": pa.array(columns["reason"], pa.string()),
            "source": pa.array(columns["source"], pa.string()),
            "model_version": pa.array([version] * n, pa.string()),
            "scored_at": pa.array(
                [dt.datetime.now(dt.UTC).replace(tzinfo=None)] * n, pa.timestamp("us")
            ),
        }
    )
    store.write_table(RECOMMENDATIONS_TABLE, table)
    return n


def load_current(models_root: Path, version: str | None = None) -> Recommender:
    """The published recommender (the current one unless ``version`` is given)."""
    return Recommender.load(version_path(models_root, MODEL_KIND, version))
