"""Learned customer segments: k-means on behaviour, each cluster described in words.

RFM cuts customers on two fixed axes; clusters find the groups the shop's
data actually has — for example frequent browsers who rarely buy, or buyers
who keep contacting support. Features (from
:func:`retain.features.customer_features`) are log-scaled where they are
counts or money, then standardised; the number of clusters is chosen by the
silhouette score on a sample. Taste columns (a customer's share of purchases
per category) are square-rooted and share one spread instead, so the
distance between two customers is the Hellinger distance between what they
buy: a column of its own scale per category would let a category a handful
of customers buy pull those few into a segment of their own. A cluster is
described by the (at most three) features whose mean differs most from the
shop's, by at least half a standard deviation, in a marketer's words.

A fit is a :class:`ClusterModel`: the scaling and the centres, so customers
are assigned later, elsewhere (a scoring job, another day's data) exactly as
at fit time. Refitting on newer data keeps the numbers marketers know: each
new centre close to one of the previous model's takes that centre's number
(see :func:`fit_clusters`), so "learned segment 2" still names the same
kind of customer after a retrain.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd
from scipy.optimize import linear_sum_assignment
from sklearn.cluster import KMeans
from sklearn.metrics import silhouette_score

from retain.errors import InvalidInputError, NotFoundError
from retain.features.taste import TASTE_PREFIX

__all__ = ["CLUSTER_FEATURES", "Cluster", "ClusterModel", "cluster_customers", "fit_clusters"]

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
#: A refitted centre keeps a previous centre's number when they are this close:
#: root-mean-square distance over the features, in the new fit's standard deviations.
SAME_CLUSTER_DISTANCE = 0.5
FORMAT_VERSION = 1
_MODEL_FILE = "clusters.json"


@dataclass(frozen=True)
class Cluster:
    """One learned segment."""

    label: int
    customers: int
    share: float
    description: str
    profile: dict[str, float]


@dataclass(frozen=True)
class ClusterModel:
    """A fitted segmentation: how features are scaled, the centres and their numbers.

    Everything is plain lists, so the model is saved as JSON (no pickle) and
    assigns customers without scikit-learn's fitted object.
    """

    columns: list[str]
    #: Each column's median at fit time, for customers without a value.
    fill: list[float]
    #: Mean and standard deviation of each column after the log scale, at fit time.
    mean: list[float]
    spread: list[float]
    #: One row per cluster, in standard units.
    centres: list[list[float]]
    #: The number each centre carries (stable across refits, see :func:`fit_clusters`).
    labels: list[int]
    #: Columns clustered by their square root (shares of one whole); a model
    #: saved before they were has none.
    rooted: list[str] = field(default_factory=list)

    def standardise(self, features: pd.DataFrame) -> npt.NDArray[np.float64]:
        """The model's columns of ``features``, filled, log-scaled (or rooted) and standardised."""
        frame = pd.DataFrame(index=features.index)
        for column, fill in zip(self.columns, self.fill, strict=True):
            values = features[column].astype(float) if column in features else np.nan
            frame[column] = pd.Series(values, index=features.index, dtype=float).fillna(fill)
        scaled = _rescale(frame, self.rooted).to_numpy(np.float64)
        return np.asarray((scaled - self.mean) / np.asarray(self.spread), dtype=np.float64)

    def assign(self, features: pd.DataFrame) -> pd.DataFrame:
        """``user_id`` and ``cluster`` (the nearest centre's number) per customer."""
        return pd.DataFrame(
            {"user_id": features.user_id.to_numpy(), "cluster": self._nearest(features)}
        )

    def summarize(self, features: pd.DataFrame) -> tuple[pd.DataFrame, list[Cluster]]:
        """Assign everyone and describe each cluster by how its members differ, largest first."""
        standard = self.standardise(features)
        assigned = self._nearest(features, standard)
        labels = pd.DataFrame({"user_id": features.user_id.to_numpy(), "cluster": assigned})
        z = pd.DataFrame(standard, columns=self.columns).groupby(assigned).mean()
        values = features.reindex(columns=self.columns).astype(float)
        raw = values.groupby(assigned).median()
        means, overall = values.groupby(assigned).mean(), values.mean()
        counts = pd.Series(assigned).value_counts()
        order = sorted(counts.index, key=lambda label: (-counts[label], label))
        clusters = [
            Cluster(
                label=int(label),
                customers=int(counts[label]),
                share=float(counts[label] / max(len(features), 1)),
                description=_describe(z.loc[label], means.loc[label], overall),
                profile={c: float(v) for c, v in raw.loc[label].items()},
            )
            for label in order
        ]
        return labels, clusters

    def _nearest(
        self, features: pd.DataFrame, standard: npt.NDArray[np.float64] | None = None
    ) -> npt.NDArray[np.int64]:
        points = self.standardise(features) if standard is None else standard
        centres = np.asarray(self.centres)
        # |p - c|^2 without the customers x centres x features array a big shop cannot hold.
        distance = (centres**2).sum(axis=1)[None, :] - 2.0 * points @ centres.T
        nearest = np.asarray(self.labels, dtype=np.int64)[distance.argmin(axis=1)]
        return np.asarray(nearest, dtype=np.int64)

    def save(self, folder: Path) -> None:
        """Write the model as one JSON file (no pickle)."""
        meta = {"format": FORMAT_VERSION, "kind": "segments", **asdict(self)}
        (folder / _MODEL_FILE).write_text(json.dumps(meta), encoding="utf-8")

    @classmethod
    def load(cls, folder: Path) -> ClusterModel:
        """Read a model written by :meth:`save`; refuses another format version."""
        path = folder / _MODEL_FILE
        if not path.is_file():
            raise NotFoundError(f"no segments model in {folder} ({_MODEL_FILE} is missing)")
        data: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
        if data.pop("format", None) != FORMAT_VERSION or data.pop("kind", None) != "segments":
            raise InvalidInputError(
                f"{folder} holds no segments model of format {FORMAT_VERSION}; "
                "retrain with `retain train segments`"
            )
        return cls(**data)


def _rescale(frame: pd.DataFrame, rooted: Sequence[str]) -> pd.DataFrame:
    """Counts and money on a log scale, the ``rooted`` shares by their square root."""
    out = frame.copy()
    for column in out.columns:
        if column in _LOG_SCALED:
            out[column] = np.log1p(out[column].clip(lower=0))
        elif column in rooted:
            out[column] = np.sqrt(out[column].clip(lower=0))
    return out


def _phrase(name: str, high: bool, mean: float, overall: float) -> str:
    """How a marketer says that a cluster is high (or low) on feature ``name``.

    A taste column also says how much: "buy books more than most (72% of
    their purchases, 14% shop-wide)". (Categories a cluster seldom buys are
    listed together by :func:`_describe`.)
    """
    if name.startswith(TASTE_PREFIX):
        how_much = f"({mean:.0%} of their purchases, {overall:.0%} shop-wide)"
        return f"buy {name.removeprefix(TASTE_PREFIX)} more than most {how_much}"
    more, less = _PHRASES.get(name, (f"high {name}", f"low {name}"))
    return more if high else less


def _describe(z: pd.Series, mean: pd.Series, overall: pd.Series) -> str:
    """The (at most three) features where the cluster's mean is furthest from the shop's.

    ``z`` is the cluster's mean in standard units; ``mean`` and ``overall``
    the cluster's and the shop's means in the features' own units. Tastes
    read as a marketer says them: what the cluster buys first, then what it
    seldom buys in one phrase ("buy garden more than most (80% ...); seldom
    buy toys or books").
    """
    strongest = z.abs().sort_values(ascending=False)
    chosen: list[tuple[str, bool, float, float]] = []
    for name in strongest.index:
        if abs(z[name]) < 0.5 or len(chosen) == 3:
            break
        high, own, shop = bool(z[name] > 0), float(mean[name]), float(overall[name])
        if str(name).startswith(TASTE_PREFIX) and not _clear_lift(high, own, shop):
            continue
        chosen.append((str(name), high, own, shop))
    if not chosen:
        return "close to the typical customer"
    seldom = [n.removeprefix(TASTE_PREFIX) for n, high, *_ in chosen
              if n.startswith(TASTE_PREFIX) and not high]  # fmt: skip
    parts = [_phrase(*c) for c in chosen if c[1] or not c[0].startswith(TASTE_PREFIX)]
    if seldom:
        listed = seldom[0] if len(seldom) == 1 else f"{', '.join(seldom[:-1])} or {seldom[-1]}"
        parts.append(f"seldom buy {listed}")
    return "; ".join(parts)


def _clear_lift(high: bool, mean: float, overall: float) -> bool:
    """Whether a taste share differs enough to say so: half as much again, or a third less.

    On square-rooted shares a segment whose members mostly buy a category a
    little stands out from the many who never buy it, which would read "buy
    cheese more than most (4% of their purchases, 3% shop-wide)".
    """
    return mean >= 1.5 * overall if high else mean <= overall / 1.5


def fit_clusters(
    features: pd.DataFrame,
    *,
    k: int | None = None,
    k_range: tuple[int, int] = (3, 8),
    sample: int = 5000,
    fit_sample: int = 50_000,
    previous: ClusterModel | None = None,
    seed: int = 0,
    columns: Sequence[str] = CLUSTER_FEATURES,
) -> ClusterModel:
    """Fit k-means on behaviour (or taste) and number the clusters.

    Args:
        features: A frame from :func:`retain.features.customer_features`, or
            with ``columns`` any frame with ``user_id`` (e.g. the category
            shares of :func:`retain.features.taste.taste_features`).
        k: Number of clusters; chosen by silhouette within ``k_range`` when None.
        sample: Customers used to choose ``k`` (silhouette is quadratic).
        fit_sample: Customers the centres are fitted on; everyone is then
            assigned to the nearest centre, which bounds the cost on big shops.
        previous: The model this one replaces. A new centre within
            :data:`SAME_CLUSTER_DISTANCE` of one of its centres (matched one
            to one, closest pairs first) keeps that centre's number; the
            others get numbers the previous model never used. Without it,
            clusters are numbered from 0, largest first.
        seed: Seed for k-means and the samples.
        columns: The features clustered on, where ``features`` has them.

    Raises:
        InvalidInputError: fewer than 10 customers, no feature varies, ``k``
            below 2, or more than the customers' distinct profiles.
    """
    if k is not None and k < 2:
        raise InvalidInputError(f"k is the number of segments and must be at least 2; got {k}")
    if len(features) < 10:
        raise InvalidInputError(
            f"clustering needs at least 10 customers with purchases; got {len(features)}"
        )
    columns = [c for c in columns if c in features and features[c].notna().any()]
    rooted = [c for c in columns if c.startswith(TASTE_PREFIX)]
    raw = features[columns].astype(float)
    fill = raw.median()
    values = _rescale(raw.fillna(fill), rooted).to_numpy(np.float64)
    spread = values.std(axis=0)
    keep = spread > 0
    if not keep.any():
        raise InvalidInputError("every feature is constant; nothing to cluster on")
    shares = keep & np.isin(columns, rooted)
    if shares.any():  # one spread for all shares: Hellinger distance, in typical units
        spread[shares] = np.sqrt((spread[shares] ** 2).mean())
    mean = values[:, keep].mean(axis=0)
    standard = (values[:, keep] - mean) / spread[keep]
    rng = np.random.default_rng(seed)
    if k is None:  # drawn before the fit sample, so a seed gives the same fit as ever
        k_rows = rng.choice(len(standard), min(sample, len(standard)), replace=False)
    fit_rows = rng.choice(len(standard), min(fit_sample, len(standard)), replace=False)
    distinct = len(np.unique(standard[fit_rows], axis=0))
    if k is None:
        k = min(_choose_k(standard, k_rows, k_range, seed), distinct)
    elif k > distinct:
        raise InvalidInputError(
            f"asked for {k} segments, but the customers have only {distinct} distinct "
            "profiles; ask for fewer"
        )
    fitted = KMeans(k, n_init=8, random_state=seed).fit(standard[fit_rows])
    sizes = np.bincount(fitted.predict(standard), minlength=k)
    model = ClusterModel(
        columns=[c for c, kept in zip(columns, keep, strict=True) if kept],
        fill=[float(fill[c]) for c, kept in zip(columns, keep, strict=True) if kept],
        mean=[float(v) for v in mean],
        spread=[float(v) for v in spread[keep]],
        centres=fitted.cluster_centers_.tolist(),
        labels=list(range(k)),
        rooted=[c for c, kept in zip(columns, keep, strict=True) if kept and c in rooted],
    )
    by_size = sorted(range(k), key=lambda i: -sizes[i])
    numbers = _carried_numbers(model, previous, by_size)
    return replace(model, labels=numbers)


def _choose_k(
    standard: npt.NDArray[np.float64],
    rows: npt.NDArray[np.int64],
    k_range: tuple[int, int],
    seed: int,
) -> int:
    scores = {}
    # Taste vectors repeat (every one-category buyer is the same point), and
    # k-means cannot make more clusters than there are distinct points.
    distinct = len(np.unique(standard[rows], axis=0))
    for n in range(k_range[0], min(k_range[1], len(rows) - 1, distinct) + 1):
        fitted = KMeans(n, n_init=4, random_state=seed).fit(standard[rows])
        if len(set(fitted.labels_)) > 1:
            scores[n] = silhouette_score(standard[rows], fitted.labels_)
    return max(scores, key=lambda n: scores[n]) if scores else k_range[0]


def _carried_numbers(
    model: ClusterModel, previous: ClusterModel | None, by_size: list[int]
) -> list[int]:
    """The number of each of ``model``'s centres: a matched previous one's, else a fresh one."""
    numbers: dict[int, int] = {}
    if previous is not None:
        shared = [c for c in model.columns if c in previous.columns]
        if shared:
            numbers = _match(model, previous, shared)
    fresh = max([*previous.labels, -1]) + 1 if previous is not None else 0
    for centre in by_size:
        if centre not in numbers:
            numbers[centre] = fresh
            fresh += 1
    return [numbers[i] for i in range(len(model.centres))]


def _match(model: ClusterModel, previous: ClusterModel, shared: list[str]) -> dict[int, int]:
    """Centre index of ``model`` -> number of the close previous centre, one to one."""

    def in_new_units(m: ClusterModel) -> npt.NDArray[np.float64]:
        index = [m.columns.index(c) for c in shared]
        scaled = np.asarray(m.centres)[:, index] * np.asarray(m.spread)[index]
        logged = scaled + np.asarray(m.mean)[index]
        # A model saved before shares were rooted: root its centre's share (close enough to match).
        for j, c in enumerate(shared):
            if c in model.rooted and c not in m.rooted:
                logged[:, j] = np.sqrt(np.clip(logged[:, j], 0, None))
        target = [model.columns.index(c) for c in shared]
        moved = (logged - np.asarray(model.mean)[target]) / np.asarray(model.spread)[target]
        return np.asarray(moved, dtype=np.float64)

    new, old = in_new_units(model), in_new_units(previous)
    distance = np.sqrt(((new[:, None, :] - old[None, :, :]) ** 2).mean(axis=2))
    rows, cols = linear_sum_assignment(distance)
    return {
        int(r): int(previous.labels[c])
        for r, c in zip(rows, cols, strict=True)
        if distance[r, c] <= SAME_CLUSTER_DISTANCE
    }


def cluster_customers(
    features: pd.DataFrame,
    *,
    k: int | None = None,
    seed: int = 0,
    columns: Sequence[str] = CLUSTER_FEATURES,
) -> tuple[pd.DataFrame, list[Cluster]]:
    """Fit (:func:`fit_clusters`, its defaults), label every customer and describe the clusters.

    Returns:
        ``(labels, clusters)``: ``user_id`` and ``cluster`` per customer, and
        one :class:`Cluster` per label, largest first.
    """
    return fit_clusters(features, k=k, seed=seed, columns=columns).summarize(features)
