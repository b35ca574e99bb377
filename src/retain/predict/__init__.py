"""Behaviour prediction: churn risk, repurchase propensity and lifetime value per customer."""

from retain.predict.btyd import BetaGeo, BetaGeoParams, GammaGamma, GammaGammaParams
from retain.predict.model import SCORE_COLUMNS, Backtest, BehaviourModel
from retain.predict.scoring import score_users, top_scores, train_and_score

__all__ = [
    "SCORE_COLUMNS",
    "Backtest",
    "BehaviourModel",
    "BetaGeo",
    "BetaGeoParams",
    "GammaGamma",
    "GammaGammaParams",
    "score_users",
    "top_scores",
    "train_and_score",
]
