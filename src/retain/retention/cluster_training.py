"""Train the learned segments, publish them, and store who is in which.

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
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from retain.artifacts import current_version, publish, version_path
from retain.data.store import Store
from retain.data.summary import latest_order_day
from retain.errors import InvalidInputError, NotFoundError
from retain.features.customer import FeatureTables, customer_features
from retain.retention.clusters import Cluster, ClusterModel, fit_clusters

__all__ = [
    "CUSTOMERS_TABLE",
    "MODEL_KIND",
    "SEGMENTS_TABLE",
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


@dataclass(frozen=True)
class StoredClusters:
    """The learned segments the last training run stored."""

    as_of: dt.date
    version: str
    clusters: list[Cluster]
    #: Numbers the model kept from the version before it (empty on a first fit).
    carried: list[int]


def train_segments(
    store: Store,
    models_root: Path,
    *,
    as_of: dt.date | None = None,
    k: int | None = None,
    seed: int = 0,
) -> StoredClusters:
    """Fit the segments on behaviour as of ``as_of`` (default: the last order day) and store them.

    The current published model, when there is one, is the ``previous`` the
    new numbers are carried from.

    Raises:
        InvalidInputError: no orders, or too few customers to cluster.
    """
    day = as_of or latest_order_day(store)
    if day is None:
        raise InvalidInputError("there are no orders yet; learned segments need customers")
    tables = FeatureTables.from_store(store)
    features = tables.fetch(customer_features(tables, day))
    previous = _current_model(models_root)
    model = fit_clusters(features, k=k, previous=previous, seed=seed)
    version = publish(models_root, MODEL_KIND, model.save)
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
    store.write_tables({CUSTOMERS_TABLE: members, SEGMENTS_TABLE: summary})
    kept = sorted(set(model.labels) & set(previous.labels)) if previous else []
    return StoredClusters(day, version, clusters, kept)


def load_clusters(models_root: Path, version: str | None = None) -> ClusterModel:
    """The published segments model (the current one unless ``version`` is given)."""
    return ClusterModel.load(version_path(models_root, MODEL_KIND, version))


def _current_model(models_root: Path) -> ClusterModel | None:
    try:
        current_version(models_root, MODEL_KIND)
    except NotFoundError:
        return None
    return load_clusters(models_root)


def stored_clusters(store: Store) -> StoredClusters | None:
    """The segments :func:`train_segments` stored, largest first; ``None`` before any."""
    if not store.has_table(SEGMENTS_TABLE):
        return None
    rows = store.query_df(f"SELECT * FROM {SEGMENTS_TABLE} ORDER BY customers DESC, cluster")
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
    return StoredClusters(as_of, str(rows.model_version.iloc[0]), clusters, [])


def stored_members(store: Store, label: int) -> list[str]:
    """The ``user_id`` of every customer stored in cluster ``label``."""
    rows = store.query_df(
        f"SELECT user_id FROM {CUSTOMERS_TABLE} WHERE cluster = ? ORDER BY user_id", [label]
    )
    return [str(u) for u in rows.user_id]


def stored_cluster_of(store: Store, user_id: str) -> int | None:
    """The stored learned segment of one customer; ``None`` before training or for a newcomer."""
    if not store.has_table(CUSTOMERS_TABLE):
        return None
    found = store.query_df(f"SELECT cluster FROM {CUSTOMERS_TABLE} WHERE user_id = ?", [user_id])
    return int(found.cluster.iloc[0]) if len(found) else None
