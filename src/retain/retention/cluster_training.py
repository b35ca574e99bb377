"""Train the learned segments, publish them, and store who is in which.

There are two kinds, each a :class:`LearnedKind` with its own model and
tables: :data:`BEHAVIOUR` clusters how customers shop (kind ``cluster``,
the model ``segments``, tables below) and :data:`TASTE` what they buy, the
share of their purchases per category (kind ``taste``, the model
``tastes``, tables ``customer_tastes`` and ``taste_clusters``). Both go
through the same code.

Fitting k-means on every page load made the Segments page slow on a big shop
(2.7 s at 200,000 customers, most of it choosing k) and let a cluster's
number change whenever the data did, so a link or an exported list could
silently name other customers the next day. Training instead publishes a
:class:`~retain.retention.clusters.ClusterModel` under the models folder
(kind ``segments``, versioned like every model) and replaces two tables in
one go:

- ``customer_clusters``: ``user_id``, ``cluster``, ``as_of``, ``model_version``;
- ``segment_clusters``: one row per cluster with its size, share,
  description and typical values (``profile``, JSON).

The dashboard, ``retain clusters``, ``retain segments --members`` and the
REST API read them. A retrain keeps the numbers of clusters that are still
there (see :func:`~retain.retention.clusters.fit_clusters`).
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from retain.artifacts import current_version, publish, version_path
from retain.data.store import Store
from retain.data.summary import latest_order_day
from retain.errors import InvalidInputError, NotFoundError
from retain.features.customer import FeatureTables, customer_features
from retain.features.taste import OTHER, TASTE_PREFIX, taste_features
from retain.retention.clusters import (
    CLUSTER_FEATURES,
    Cluster,
    ClusterModel,
    cluster_customers,
    fit_clusters,
)

__all__ = [
    "BEHAVIOUR",
    "CUSTOMERS_TABLE",
    "LEARNED_KINDS",
    "MODEL_KIND",
    "SEGMENTS_TABLE",
    "TASTE",
    "LearnedKind",
    "StoredClusters",
    "load_clusters",
    "stored_cluster_of",
    "stored_clusters",
    "stored_members",
    "train_segments",
]

MODEL_KIND = "segments"
CUSTOMERS_TABLE = "customer_clusters"
SEGMENTS_TABLE = "segment_clusters"


def _behaviour(tables: FeatureTables, day: dt.date) -> pd.DataFrame:
    return tables.fetch(customer_features(tables, day))


def _taste_columns(features: pd.DataFrame) -> list[str]:
    """The named categories' shares. ``(other categories)`` is left out: on a shop
    with hundreds of small categories it holds most purchases, and k-means then
    splits customers by how much of that residue they buy (on dunnhumby, 49%
    "buy (other categories) more than most" and 38% "seldom buy" them), which
    names nothing a marketer can act on. The shares still count every purchase."""
    return [c for c in features.columns if str(c).startswith(TASTE_PREFIX) and c != OTHER]


@dataclass(frozen=True)
class LearnedKind:
    """One kind of learned segment: what it is fitted on, and where it is kept."""

    #: The segment kind in links, the CLI (``--kind``) and the API.
    name: str
    #: Its model's kind under the models folder.
    model_kind: str
    customers_table: str
    segments_table: str
    #: What a title calls one of them, e.g. "learned segment 2", "taste segment 2".
    title: str
    #: Features per customer (with ``user_id``) as of a day.
    features: Callable[[FeatureTables, dt.date], pd.DataFrame]
    #: The columns of those features it clusters on.
    columns: Callable[[pd.DataFrame], Sequence[str]]

    def fit_now(
        self, tables: FeatureTables, day: dt.date, *, k: int | None = None
    ) -> tuple[pd.DataFrame, list[Cluster]]:
        """Segments fitted on the spot and not stored (:func:`cluster_customers`): for a
        page before the first training, or to explore another day or k.

        Raises:
            InvalidInputError: too few customers, or nothing of this kind to learn from.
        """
        features = self.features(tables, day)
        return cluster_customers(features, k=k, columns=self.columns(features))


BEHAVIOUR = LearnedKind(
    "cluster",
    MODEL_KIND,
    CUSTOMERS_TABLE,
    SEGMENTS_TABLE,
    "learned segment",
    _behaviour,
    lambda _features: CLUSTER_FEATURES,
)
TASTE = LearnedKind(
    "taste",
    "tastes",
    "customer_tastes",
    "taste_clusters",
    "taste segment",
    taste_features,
    _taste_columns,
)
#: Learned kinds by :attr:`LearnedKind.name`.
LEARNED_KINDS = {kind.name: kind for kind in (BEHAVIOUR, TASTE)}


@dataclass(frozen=True)
class StoredClusters:
    """The learned segments the last training run stored."""

    as_of: dt.date
    version: str
    clusters: list[Cluster]
    #: Numbers the model kept from the version before it (empty on a first fit).
    carried: list[int]
    kind: LearnedKind


def train_segments(
    store: Store,
    models_root: Path,
    *,
    as_of: dt.date | None = None,
    k: int | None = None,
    seed: int = 0,
    kind: LearnedKind = BEHAVIOUR,
) -> StoredClusters:
    """Fit one kind of segments as of ``as_of`` (default: the last order day) and store them.

    The current published model of that kind, when there is one, is the
    ``previous`` the new numbers are carried from.

    Raises:
        InvalidInputError: no orders, too few customers to cluster, or (taste)
            no purchases of catalogued items.
    """
    day = as_of or latest_order_day(store)
    if day is None:
        raise InvalidInputError("there are no orders yet; learned segments need customers")
    features = kind.features(FeatureTables.from_store(store), day)
    previous = _current_model(models_root, kind)
    model = fit_clusters(
        features, k=k, previous=previous, seed=seed, columns=kind.columns(features)
    )
    version = publish(models_root, kind.model_kind, model.save)
    labels, clusters = model.summarize(features)
    members = labels.assign(as_of=day, model_version=version)
    summary = pd.DataFrame(
        [
            {
                "cluster": c.label,
                "customers": c.customers,
                "share": c.share,
                "description": c.description,
                "profile": json.dumps(c.profile),
                "as_of": day,
                "model_version": version,
            }
            for c in clusters
        ]
    )
    store.write_tables({kind.customers_table: members, kind.segments_table: summary})
    kept = sorted(set(model.labels) & set(previous.labels)) if previous else []
    return StoredClusters(day, version, clusters, kept, kind)


def load_clusters(
    models_root: Path, version: str | None = None, kind: LearnedKind = BEHAVIOUR
) -> ClusterModel:
    """The published segments model (the current one unless ``version`` is given)."""
    return ClusterModel.load(version_path(models_root, kind.model_kind, version))


def _current_model(models_root: Path, kind: LearnedKind) -> ClusterModel | None:
    try:
        current_version(models_root, kind.model_kind)
    except NotFoundError:
        return None
    return load_clusters(models_root, kind=kind)


def stored_clusters(store: Store, kind: LearnedKind = BEHAVIOUR) -> StoredClusters | None:
    """The segments :func:`train_segments` stored, largest first; ``None`` before any."""
    if not store.has_table(kind.segments_table):
        return None
    rows = store.query_df(f"SELECT * FROM {kind.segments_table} ORDER BY customers DESC, cluster")
    if rows.empty:
        return None
    clusters = [
        Cluster(
            label=int(row["cluster"]),
            customers=int(row["customers"]),
            share=float(row["share"]),
            description=str(row["description"]),
            profile={str(k): float(v) for k, v in json.loads(str(row["profile"])).items()},
        )
        for row in rows.to_dict("records")
    ]
    as_of = pd.Timestamp(rows.as_of.iloc[0]).date()
    return StoredClusters(as_of, str(rows.model_version.iloc[0]), clusters, [], kind)


def stored_members(store: Store, label: int, kind: LearnedKind = BEHAVIOUR) -> list[str]:
    """The ``user_id`` of every customer stored in cluster ``label``."""
    rows = store.query_df(
        f"SELECT user_id FROM {kind.customers_table} WHERE cluster = ? ORDER BY user_id", [label]
    )
    return [str(u) for u in rows.user_id]


def stored_cluster_of(store: Store, user_id: str, kind: LearnedKind = BEHAVIOUR) -> int | None:
    """The stored learned segment of one customer; ``None`` before training or for a newcomer."""
    if not store.has_table(kind.customers_table):
        return None
    found = store.query_df(
        f"SELECT cluster FROM {kind.customers_table} WHERE user_id = ?", [user_id]
    )
    return int(found.cluster.iloc[0]) if len(found) else None
