"""What a recommender is asked to do and what it answers.

The settings say which sources to train and which shop rules to apply; they
are saved with a model, so a loaded model answers by the rules it was fitted
with. The answer types are what the service and the batch scorer hand on.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from typing import Any

from retain.errors import InvalidInputError
from retain.recommend.blend import Transform
from retain.recommend.sasrec import SASRecConfig

__all__ = [
    "MAX_K",
    "TRANSFORMS",
    "FitReport",
    "RecommendSettings",
    "Recommendation",
    "RecommendationList",
    "check_k",
    "settings_from_json",
    "settings_to_json",
]

#: The longest list one request may ask for.
MAX_K = 500

#: How each source's scores become a distribution before blending.
TRANSFORMS: Mapping[str, Transform] = {
    "popularity": "share",
    "item_knn": "share",
    "profile": "share",
    "transition": "share",
    "als": "share",
    "content": "softmax",
    "sasrec": "softmax",
}


@dataclass(frozen=True)
class RecommendSettings:
    """What to train and which rules to apply.

    Attributes:
        sequential: Train the SASRec source (PyTorch).
        sasrec: Its hyper-parameters; ``max_seconds`` bounds training time.
        text_model: Sentence encoder for item text (content source and the
            SASRec's starting item embeddings); None turns text off.
        als: Train the matrix-factorisation source.
        exclude_seen: Leave out items the user already has.
        repurchasable_categories: Categories exempt from ``exclude_seen``.
        category_cap: At most this many items of one category per list.
        new_item_slots: Places per list kept for items nobody has bought
            yet, chosen by text similarity, so new products get seen.
        max_unclicked_impressions: Drop an item after this many showings
            to the user without a click, view or purchase.
        holdout_users: Users whose held-out item tunes the blend.
        holdout_cells: Tuning holds one dense users × items score matrix per
            source, so on a large catalogue fewer users tune (at least 200):
            92,000 grocery items with 2,377 tuning users took 15 GB.
        popularity_half_life_days: Age at which an interaction counts half
            in the popularity source, so it follows what sells now (None:
            all-time counts). On the choosing cutoffs of ``retain bench
            popularity`` on Online Retail, 3, 7 and 14 days tied; 14 is the
            longest of them, steadier for a shop with few sales a day.
        seed: For sampling and model initialisation.
    """

    sequential: bool = True
    sasrec: SASRecConfig = field(default_factory=SASRecConfig)
    text_model: str | None = "all-MiniLM-L6-v2"
    als: bool = True
    exclude_seen: bool = True
    repurchasable_categories: tuple[str, ...] = ()
    category_cap: int | None = None
    max_unclicked_impressions: int = 3
    new_item_slots: int = 1
    holdout_users: int = 5000
    holdout_cells: int = 64_000_000
    popularity_half_life_days: float | None = 14.0
    seed: int = 0

    def tuning_users(self, n_items: int) -> int:
        """How many users tune the blend on a catalogue of ``n_items``."""
        return min(self.holdout_users, max(200, self.holdout_cells // max(n_items, 1)))


@dataclass(frozen=True)
class Recommendation:
    item_id: str
    score: float
    reason: str
    source: str
    promoted: bool = False


@dataclass(frozen=True)
class RecommendationList:
    """An answer: the items, and what the request contained that was not used."""

    user_id: str | None
    items: list[Recommendation]
    unknown_items: list[str]
    cold_start: bool


@dataclass
class FitReport:
    """What ``fit`` learned and how long it took."""

    users: int
    items: int
    interactions: int
    holdout_users: int
    blend_weights: dict[str, float]
    holdout_ndcg10: float
    holdout_by_source: dict[str, float]
    sasrec_epochs: int
    seconds: dict[str, float]


def check_k(k: int) -> None:
    """Refuse a list length outside 1..MAX_K with a message naming what was given."""
    if not isinstance(k, int) or not 1 <= k <= MAX_K:
        raise InvalidInputError(f"k must be a whole number from 1 to {MAX_K}; got {k!r}")


def settings_to_json(settings: RecommendSettings) -> dict[str, Any]:
    out = asdict(settings)
    out["repurchasable_categories"] = list(settings.repurchasable_categories)
    return out


def settings_from_json(data: Mapping[str, Any]) -> RecommendSettings:
    values = dict(data)
    values["sasrec"] = SASRecConfig(**values["sasrec"])
    values["repurchasable_categories"] = tuple(values.get("repurchasable_categories", ()))
    return RecommendSettings(**values)
