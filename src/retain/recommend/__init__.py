"""Personalised recommendation: what each user sees next.

:class:`Recommender` blends candidate sources — popularity, item-to-item
co-occurrence, "bought next" transitions, ALS, item-text similarity and a
SASRec transformer — with weights learned on each user's held-out latest
item, then applies a shop's rules and explains every item.
"""

from retain.recommend.recommender import (
    MAX_K,
    Recommendation,
    RecommendationList,
    Recommender,
    RecommendSettings,
)
from retain.recommend.sasrec import SASRecConfig
from retain.recommend.sequences import ItemIndex, Sequences, leave_one_out

__all__ = [
    "MAX_K",
    "ItemIndex",
    "RecommendSettings",
    "Recommendation",
    "RecommendationList",
    "Recommender",
    "SASRecConfig",
    "Sequences",
    "leave_one_out",
]
