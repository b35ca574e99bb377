"""Learned customer segments: k-means on behaviour, each cluster described in words.

RFM cuts customers on two fixed axes; clusters find the groups the shop's
data actually has — for example frequent browsers who rarely buy, or buyers
who keep contacting support. Features (from
:func:`retain.features.customer_features`) are log-scaled where they are
counts or money, then standardised; the number of clusters is chosen by the
silhouette score on a sample. A cluster is described by the (at most three)
features whose mean differs most from the shop's, by at least half a
standard deviation, in a marketer's words.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
import pandas as pd
from sklearn.cluster import KMeans
from sklearn.metrics import silhouette_score

from retain.errors import InvalidInputError

__all__ = ["CLUSTER_FEATURES", "Cluster", "cluster_customers"]

#: Behaviour the clusters are learned from; tenure-like columns are left out
#: so clusters describe how customers behave, not when they arrived.
CLUSTER_FEATURES: tuple[str, ...] = (
    "x",
    "recency",
    "monetary_mean",
    "ipt_mean",
    "recent_13w",
    "returns",
    "views",
    "view_to_cart",
    "event_recency",
    "category_breadth",
    "negative_reviews",
    "support_contacts",
)
#: How a marketer would say that a cluster is high / low on a feature.
_PHRASES: dict[str, tuple[str, str]] = {
    "x": ("buy again often", "rarely buy again"),
    "recency": ("have not bought for a long time", "bought recently"),
    "monetary_mean": ("big baskets", "small baskets"),
    "ipt_mean": ("long gaps between purchases", "short gaps between purchases"),
    "recent_13w": ("many purchases lately", "few purchases lately"),
    "returns": ("many returns or cancellations", "few returns or cancellations"),
    "views": ("browse a lot", "browse little"),
    "view_to_cart": ("put much of what they view in the cart", "rarely put things in the cart"),
    "event_recency": ("have not visited for a long time", "visited recently"),
    "category_breadth": ("buy across many categories", "stick to few categories"),
    "negative_reviews": ("write negative reviews", "rarely write negative reviews"),
    "support_contacts": ("contact customer service often", "rarely contact customer service"),
}
_LOG_SCALED = {"x", "monetary_mean", "recent_13w", "returns", "views", "negative_reviews",
               "support_contacts", "category_breadth"}  # fmt: skip


@dataclass(frozen=True)
class Cluster:
    """One learned segment."""

    label: int
    customers: int
    share: float
    description: str
    profile: dict[str, float]


def _matrix(features: pd.DataFrame) -> tuple[npt.NDArray[np.float64], list[str]]:
    columns = [c for c in CLUSTER_FEATURES if c in features and features[c].notna().any()]
    frame = features[columns].astype(float)
    frame = frame.fillna(frame.median())
    for column in columns:
        if column in _LOG_SCALED:
            frame[column] = np.log1p(frame[column].clip(lower=0))
    values = frame.to_numpy(np.float64)
    spread = values.std(axis=0)
    keep = spread > 0
    standard = (values[:, keep] - values[:, keep].mean(axis=0)) / spread[keep]
    return standard, [c for c, k in zip(columns, keep, strict=True) if k]


def _describe(z: pd.Series) -> str:
    strongest = z.abs().sort_values(ascending=False)
    parts = []
    for name in strongest.index[:3]:
        if abs(z[name]) < 0.5:
            break
        high, low = _PHRASES.get(name, (f"high {name}", f"low {name}"))
        parts.append(high if z[name] > 0 else low)
    return "; ".join(parts) if parts else "close to the typical customer"


def cluster_customers(
    features: pd.DataFrame,
    *,
    k: int | None = None,
    k_range: tuple[int, int] = (3, 8),
    sample: int = 5000,
    fit_sample: int = 50_000,
    seed: int = 0,
) -> tuple[pd.DataFrame, list[Cluster]]:
    """Label every customer with a cluster and describe the clusters.

    Args:
        features: A frame from :func:`retain.features.customer_features`.
        k: Number of clusters; chosen by silhouette within ``k_range`` when None.
        sample: Customers used to choose ``k`` (silhouette is quadratic).
        fit_sample: Customers the centres are fitted on; everyone is then
            assigned to the nearest centre, which bounds the cost on big shops.
        seed: Seed for k-means and the sample.

    Returns:
        ``(labels, clusters)``: ``user_id`` and ``cluster`` per customer, and
        one :class:`Cluster` per label, largest first.
    """
    if len(features) < 10:
        raise InvalidInputError(
            f"clustering needs at least 10 customers with purchases; got {len(features)}"
        )
    standard, columns = _matrix(features)
    if not columns:
        raise InvalidInputError("every behaviour feature is constant; nothing to cluster on")
    rng = np.random.default_rng(seed)
    if k is None:
        rows = rng.choice(len(standard), min(sample, len(standard)), replace=False)
        candidates = range(k_range[0], min(k_range[1], len(rows) - 1) + 1)
        scores = {}
        for n in candidates:
            fitted = KMeans(n, n_init=4, random_state=seed).fit(standard[rows])
            if len(set(fitted.labels_)) > 1:
                scores[n] = silhouette_score(standard[rows], fitted.labels_)
        k = max(scores, key=lambda n: scores[n]) if scores else k_range[0]
    fit_rows = rng.choice(len(standard), min(fit_sample, len(standard)), replace=False)
    model = KMeans(k, n_init=8, random_state=seed).fit(standard[fit_rows])
    assigned = model.predict(standard)
    labels = pd.DataFrame({"user_id": features.user_id.to_numpy(), "cluster": assigned})
    z = pd.DataFrame(standard, columns=columns).groupby(assigned).mean()
    raw = features[columns].astype(float).groupby(assigned).median()
    counts = np.bincount(assigned, minlength=k)
    clusters = [
        Cluster(
            label=int(label),
            customers=int(counts[label]),
            share=float(counts[label] / len(features)),
            description=_describe(z.loc[label]),
            profile={c: float(v) for c, v in raw.loc[label].items()},
        )
        for label in np.argsort(-counts)
        if counts[label] > 0
    ]
    return labels, clusters
